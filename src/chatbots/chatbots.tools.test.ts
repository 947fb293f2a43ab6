/**
 * Chatbots in agent mode: the tools an agent can have, called while answering (retrieval from the chatbot's
 * collections still comes first), run under the owner's grants and audited; `max_tool_steps` bounds the loop (its last
 * call is offered no tools, so the model answers); streamed turns pass on the text as it comes; tools the owner may
 * not use are refused when the chatbot is saved.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { startUpstream, type ScriptRequest, type Upstream } from '../../test/fixtures/upstream.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

let env: TestEnv
let up: Upstream
let owner: Awaited<ReturnType<TestEnv['user']>>
let collection: string
const C = '/api-internal/v1/chatbots'

const lastTool = (req: ScriptRequest) => (req.messages.at(-1)?.role === 'tool' ? String(req.messages.at(-1)!.content) : null)

beforeAll(async () => {
  up = await startUpstream({ models: ['bot-model'] })
  env = await createTestEnv({ OPENAI_COMPAT_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  owner = await env.user('user')
  collection = await env.collection(owner.token, { 'hours.txt': 'The canteen opens at half past eleven.' })
})
afterAll(async () => {
  await env?.close()
  await up?.stop()
})
beforeEach(() => up.setScript(null))

async function bot(body: Record<string, unknown>) {
  const res = await env.call('POST', C, { token: owner.token, body: { name: 'calc', model: 'bot-model', ...body } })
  if (res.status !== 201) throw new Error(`create chatbot: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body as { id: string; tools: unknown[]; max_tool_steps: number }
}

describe('chatbots in agent mode', () => {
  test("the model calls a tool, reads its result and answers; retrieval still fills the system prompt; the call is audited", async () => {
    const b = await bot({ tools: [{ type: 'code_interpreter' }], rag_collections: [collection], rag_mode: 'lexical' })
    expect(b.tools).toEqual([{ type: 'code_interpreter' }])
    expect(b.max_tool_steps).toBe(4)
    let system = ''
    up.setScript((req) => {
      system = String(req.messages[0]?.content)
      const result = lastTool(req)
      return result ? { content: `The answer is in: ${result}` } : { toolCalls: [{ name: 'run_javascript', arguments: JSON.stringify({ code: '6 * 7' }) }] }
    })
    const res = await env.call('POST', `/api-internal/v1/chatbot/${b.id}/chat`, { token: owner.token, body: { message: 'When does the canteen open, and what is 6 times 7?' } })
    expect(res.status).toBe(200)
    expect(res.body.response).toContain('Result (JSON): 42')
    expect(system).toContain('The canteen opens at half past eleven')
    expect(res.body.usage.prompt_tokens).toBeGreaterThan(0)
    const [audited] = await env.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM audit_log WHERE action = 'tool.call' AND actor_user_id = ${owner.id}`
    expect(audited!.n).toBeGreaterThanOrEqual(1)
  })

  test('max_tool_steps ends the loop: the last call is offered no tools, so the model answers', async () => {
    const b = await bot({ tools: [{ type: 'code_interpreter' }], max_tool_steps: 2 })
    const offered: number[] = []
    up.setScript((req) => {
      offered.push(req.tools.length)
      return req.tools.length ? { toolCalls: [{ name: 'run_javascript', arguments: '{"code":"1"}' }] } : { content: 'answered without tools' }
    })
    const res = await env.call('POST', `/api-internal/v1/chatbot/${b.id}/chat`, { token: owner.token, body: { message: 'loop forever' } })
    expect(res.body.response).toBe('answered without tools')
    expect(offered).toEqual([1, 0])
  })

  test('streamed: start, the text of every model call as deltas, done with the whole answer', async () => {
    const b = await bot({ tools: [{ type: 'code_interpreter' }] })
    up.setScript((req) => (lastTool(req) ? { content: 'done computing' } : { content: 'Let me compute. ', toolCalls: [{ name: 'run_javascript', arguments: '{"code":"2+2"}' }] }))
    const base = env.listen()
    const res = await fetch(`${base}/api-internal/v1/chatbot/${b.id}/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'what is 2+2', stream: true }),
    })
    const text = await res.text()
    const events = text.split('\n\n').filter(Boolean).map((e) => e.split('\n')[0]!.replace('event: ', ''))
    expect(events[0]).toBe('start')
    expect(events.at(-1)).toBe('done')
    const done = JSON.parse(text.split('\n\n').filter(Boolean).at(-1)!.split('\n').find((l) => l.startsWith('data:'))!.slice(5))
    expect(done.response).toBe('Let me compute. done computing')
  })

  test('tools the owner may not use are refused when the chatbot is saved, by name', async () => {
    const missing = await env.call('POST', C, { token: owner.token, body: { name: 'x', model: 'bot-model', tools: [{ type: 'mcp', server_id: crypto.randomUUID() }] } })
    expect(missing.status).toBe(404)
    const other = await env.user('user')
    const theirs = await env.collection(other.token, { 'a.txt': 'private' })
    const b = await bot({})
    const patched = await env.call('PATCH', `${C}/${b.id}`, { token: owner.token, body: { tools: [{ type: 'rag_search', collections: [theirs] }] } })
    expect(patched.status).toBe(404)
    expect(patched.body.error.message).toContain(theirs)
  })
})
