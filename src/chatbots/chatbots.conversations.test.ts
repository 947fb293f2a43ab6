/**
 * Conversations under pressure: malformed ids, a conversation deleted while its answer is written, concurrent
 * turns of one conversation; and the streamed routes' errors (a real status before the first byte, the error
 * envelope in the `error` event after it).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

let env: TestEnv
let up: Upstream
let owner: Awaited<ReturnType<TestEnv['user']>>
let key: string
const C = '/api-internal/v1/chatbots'

beforeAll(async () => {
  up = await startUpstream({ models: ['bot-model'], streamChunkDelayMs: 5 })
  env = await createTestEnv({ OPENAI_COMPAT_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000', RATE_LIMIT_PUBLIC_PER_MINUTE: '5000' })
  owner = await env.user('user')
  key = (await env.call('POST', '/api-internal/v1/api-keys', { token: owner.token, body: { name: 'k', scopes: ['chatbots'] } })).body.key
})
afterAll(async () => {
  await env?.close()
  await up?.stop()
})

const createBot = async (body: Record<string, unknown> = {}) => {
  const res = await env.call('POST', C, { token: owner.token, body: { name: 'bot', model: 'bot-model', memory_length: 50, ...body } })
  expect(res.status).toBe(201)
  return res.body.id as string
}
const chat = (id: string, body: Record<string, unknown>) => env.call('POST', `/api-internal/v1/chatbot/${id}/chat`, { token: owner.token, body })
const stored = async (id: string, conversation: string) =>
  (await env.call('GET', `${C}/${id}/conversations/${conversation}`, { token: owner.token })).body.data as { role: string; content: string }[]
const chatCalls = () => up.requests.filter((r) => r.path === '/v1/chat/completions')
async function until(condition: () => boolean, what: string) {
  for (let i = 0; i < 400 && !condition(); i++) await Bun.sleep(10)
  if (!condition()) throw new Error(`timed out waiting for ${what}`)
}
async function charges(bot: string): Promise<number> {
  await env.s.ledger.flush()
  const [row] = await env.s.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM usage_records WHERE request_id LIKE ${`chatbot:${bot}:%`}`
  return row!.n
}
type Event = [event: string, data: any]
const parseEvents = (text: string): Event[] =>
  [...text.matchAll(/(?:event: (\w+)\n)?data: (.+)\n\n/g)].map((m) => [m[1] ?? 'message', m[2] === '[DONE]' ? '[DONE]' : JSON.parse(m[2]!)])

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${env.listen()}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
}
const internalStream = (bot: string, body: Record<string, unknown>) =>
  post(`/api-internal/v1/chatbot/${bot}/chat`, { ...body, stream: true }, { authorization: `Bearer ${owner.token}` })
const completions = (bot: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  post(`/api/v1/chatbot/${bot}/v1/chat/completions`, { model: bot, ...body }, { authorization: `Bearer ${key}`, ...headers })

async function expectEnvelope(res: Response, status: number, code: string, param?: string) {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toContain('application/json')
  const body = (await res.json()) as { error: Record<string, unknown> }
  expect(body.error).toMatchObject({ code, request_id: res.headers.get('x-request-id') })
  if (param !== undefined) expect(body.error.param).toBe(param)
  return body.error
}

describe('X-Enclava-Conversation-Id', () => {
  test.each([false, true])('a malformed one is a 400 naming the header (stream: %p), and nothing is asked of the model', async (stream) => {
    const bot = await createBot()
    const calls = chatCalls().length
    const res = await completions(bot, { stream, messages: [{ role: 'user', content: 'hi' }] }, { 'x-enclava-conversation-id': "1' OR '1'='1" })
    const error = await expectEnvelope(res, 400, 'validation_failed', 'x-enclava-conversation-id')
    expect(error.message).toContain('x-enclava-conversation-id')
    expect(chatCalls().length).toBe(calls)
  })

  test('a valid one continues the conversation', async () => {
    const bot = await createBot()
    const first = await completions(bot, { messages: [{ role: 'user', content: 'one' }] })
    const conversation = first.headers.get('x-enclava-conversation-id')!
    const second = await completions(bot, { messages: [{ role: 'user', content: 'two' }] }, { 'x-enclava-conversation-id': conversation })
    expect(second.status).toBe(200)
    expect((await stored(bot, conversation)).map((m) => m.content)).toEqual(['one', 'echo: one', 'two', 'echo: two'])
  })
})

describe('streams refused before the first byte answer their real status', () => {
  test.each([
    ['an unknown conversation', {}, { conversation_id: crypto.randomUUID() }, 404, 'not_found'],
    ['an inactive chatbot', { is_active: false }, {}, 400, 'invalid_request'],
    ['a model the gateway does not know', { model: 'no-such-model' }, {}, 404, 'model_not_found'],
  ] as const)('%s: test chat and OpenAI-style API', async (_, settings, input, status, code) => {
    const bot = await createBot(settings)
    await expectEnvelope(await internalStream(bot, { message: 'hi', ...input }), status, code)
    const headers: Record<string, string> = 'conversation_id' in input ? { 'x-enclava-conversation-id': input.conversation_id } : {}
    await expectEnvelope(await completions(bot, { stream: true, messages: [{ role: 'user', content: 'hi' }] }, headers), status, code)
  })

  test('an error after the first byte is an error event with the envelope: type, code, param and request id', async () => {
    const bot = await createBot()
    expect((await chat(bot, { message: 'warm up' })).status).toBe(200)
    up.setBehavior('cut-stream')
    try {
      for (const res of [
        await internalStream(bot, { message: 'tell me a long story about parking' }),
        await completions(bot, { stream: true, messages: [{ role: 'user', content: 'tell me a long story about parking' }] }),
      ]) {
        expect(res.status).toBe(200)
        const events = parseEvents(await res.text())
        const [event, data] = events.at(-1)!
        expect(event).toBe('error')
        expect(data).toEqual({
          error: { message: expect.any(String), type: 'server_error', code: 'upstream_error', param: null, request_id: res.headers.get('x-request-id') },
        })
      }
    } finally {
      up.setBehavior('ok')
    }
  })
})

describe('a conversation deleted while it answers', () => {
  test('the answer is a 409 naming the conversation, nothing is kept, and the model call is still charged', async () => {
    const bot = await createBot()
    const first = await chat(bot, { message: 'hello' })
    const conversation = first.body.conversation_id as string
    const [calls, charged] = [chatCalls().length, await charges(bot)]
    up.setDelay(400)
    try {
      const answer = chat(bot, { message: 'and now?', conversation_id: conversation })
      await until(() => chatCalls().length > calls, 'the model call')
      expect((await env.call('DELETE', `${C}/${bot}/conversations/${conversation}`, { token: owner.token })).status).toBe(204)
      const res = await answer
      expect(res.status).toBe(409)
      expect(res.body.error).toMatchObject({ code: 'conflict', param: 'conversation_id' })
      expect(res.body.error.message).toContain('deleted')
    } finally {
      up.setDelay(0)
    }
    expect(await charges(bot)).toBe(charged + 1)
    expect((await env.call('GET', `${C}/${bot}/conversations/${conversation}`, { token: owner.token })).status).toBe(404)
    const [row] = await env.s.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM chatbot_messages WHERE conversation_id = ${conversation}`
    expect(row!.n).toBe(0)
  })

  test('streamed, the stream ends with a conflict error event, and the model call is still charged', async () => {
    const bot = await createBot()
    const conversation = (await chat(bot, { message: 'hello' })).body.conversation_id as string
    const charged = await charges(bot)
    const res = await internalStream(bot, { message: 'word '.repeat(150), conversation_id: conversation })
    expect(res.status).toBe(200)
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    while (!text.includes('event: delta')) text += (await reader.read()).value ?? ''
    expect((await env.call('DELETE', `${C}/${bot}/conversations/${conversation}`, { token: owner.token })).status).toBe(204)
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += chunk.value
    const [event, data] = parseEvents(text).at(-1)!
    expect(event).toBe('error')
    expect(data.error).toMatchObject({ code: 'conflict', type: 'invalid_request_error', param: 'conversation_id', request_id: res.headers.get('x-request-id') })
    expect(await charges(bot)).toBe(charged + 1)
  })
})

describe('concurrent turns of one conversation', () => {
  test('run one after the other: each sees the turns before it, and the messages are stored in turn order', async () => {
    const bot = await createBot()
    const conversation = (await chat(bot, { message: 'turn 0' })).body.conversation_id as string
    up.setDelay(150)
    let results
    try {
      const first = chat(bot, { message: 'turn 1', conversation_id: conversation })
      await until(() => chatCalls().some((r) => (r.body as { messages: { content: string }[] }).messages.at(-1)!.content === 'turn 1'), 'turn 1')
      results = await Promise.all([first, ...[2, 3, 4, 5].map((n) => chat(bot, { message: `turn ${n}`, conversation_id: conversation }))])
    } finally {
      up.setDelay(0)
    }
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    const messages = (await stored(bot, conversation)).map((m) => m.content)
    expect(messages.slice(0, 4)).toEqual(['turn 0', 'echo: turn 0', 'turn 1', 'echo: turn 1'])
    // Every turn's two messages together, and what the model got as history is exactly what was stored before it.
    for (let i = 0; i < messages.length; i += 2) {
      expect(messages[i + 1]).toBe(`echo: ${messages[i]}`)
      const sent = chatCalls().findLast((r) => (r.body as { messages: { content: string }[] }).messages.at(-1)!.content === messages[i])!
      expect((sent.body as { messages: { content: string }[] }).messages.slice(1, -1).map((m) => m.content)).toEqual(messages.slice(0, i))
    }
    expect(messages).toHaveLength(12)
  })
})
