/**
 * Streaming is relayed as the upstream produces it: the client holds the first event while the upstream is
 * still waiting to send the rest. A gateway that buffered the stream would never deliver it, and this test would
 * time out instead of passing.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

let env: TestEnv
let upstream: ReturnType<typeof Bun.serve>
let release: () => void = () => {}
const released = new Promise<void>((r) => (release = r))

const event = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`
const chunk = (content: string) => ({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'held', choices: [{ index: 0, delta: { content } }] })

beforeAll(async () => {
  upstream = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req) {
      if (new URL(req.url).pathname === '/v1/models') return Response.json({ object: 'list', data: [{ id: 'held', object: 'model' }] })
      const enc = new TextEncoder()
      return new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(enc.encode(event(chunk('first '))))
            await released
            c.enqueue(enc.encode(event(chunk('second'))))
            c.enqueue(enc.encode(event({ ...chunk(''), choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } })))
            c.enqueue(enc.encode('data: [DONE]\n\n'))
            c.close()
          },
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    },
  })
  env = await createTestEnv({ OPENAI_COMPAT_URL: `http://127.0.0.1:${upstream.port}/v1` })
})
afterAll(async () => {
  release()
  await env.close()
  await upstream.stop(true)
})

test('the first event reaches the client before the upstream has sent the second', async () => {
  const base = env.listen()
  const u = await env.user('user')
  const key = (await env.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 's' } })).body.key
  const res = await fetch(`${base}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'held', stream: true, messages: [{ role: 'user', content: 'go' }] }),
  })
  const reader = res.body?.getReader()
  if (!reader) throw new Error('no body')
  let text = ''
  while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value)
  expect(text).toContain('"content":"first "')
  expect(text).not.toContain('second')
  release()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    text += new TextDecoder().decode(value)
  }
  expect(text).toContain('"content":"second"')
  expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
  await env.s.ledger.flush()
  const [row] = await env.db.sql<{ completion_tokens: number; ttft_ms: number | null }[]>`SELECT completion_tokens, ttft_ms FROM usage_records`
  expect(row?.completion_tokens).toBe(2)
  expect(row?.ttft_ms).not.toBeNull()
})
