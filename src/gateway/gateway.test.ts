/**
 * The gateway through the official `openai` client, against local servers speaking the OpenAI protocol: one
 * standing in for privatemode's proxy (confidential) and one for a generic upstream.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'

let env: TestEnv
let tee: Upstream
let plain: Upstream
let base: string
let user: Awaited<ReturnType<TestEnv['user']>>
let key: string

async function createKey(token: string, body: Record<string, unknown> = {}) {
  const res = await env.call('POST', '/api-internal/v1/api-keys', { token, body: { name: 'gw', ...body } })
  expect(res.status).toBe(201)
  return res.body as { id: string; key: string }
}

const client = (apiKey = key, maxRetries = 0) => new OpenAI({ baseURL: `${base}/api/v1`, apiKey, maxRetries })

async function usageRows() {
  await env.s.ledger.flush()
  return env.db.sql<{ model: string; status: number; prompt_tokens: number; completion_tokens: number; cost_micros: string; is_tee: boolean; streamed: boolean; error_code: string | null; api_key_id: string }[]>`
    SELECT * FROM usage_records ORDER BY created_at, id`
}

beforeAll(async () => {
  tee = await startUpstream({ models: ['tee-chat', 'tee-embed'], apiKey: 'pm-secret-key' })
  plain = await startUpstream({ models: ['plain-chat', 'plain-embed'] })
  env = await createTestEnv({
    PRIVATEMODE_URL: tee.url,
    PRIVATEMODE_API_KEY: 'pm-secret-key',
    OPENAI_COMPAT_URL: plain.url,
    UPSTREAM_MAX_RETRIES: '2',
    UPSTREAM_CONNECT_TIMEOUT_MS: '1500',
    UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '1000',
  })
  base = env.listen()
  user = await env.user('user')
  key = (await createKey(user.token)).key
})
afterAll(async () => {
  await env.close()
  await tee.stop()
  await plain.stop()
})

describe('models', () => {
  test('lists every upstream model with whether it is confidential', async () => {
    const list = await client().models.list()
    const byId = Object.fromEntries(list.data.map((m) => [m.id, m as unknown as { owned_by: string; confidential: boolean }]))
    expect(Object.keys(byId).sort()).toEqual(['plain-chat', 'plain-embed', 'tee-chat', 'tee-embed'])
    expect(byId['tee-chat']).toMatchObject({ owned_by: 'privatemode', confidential: true })
    expect(byId['plain-chat']).toMatchObject({ owned_by: 'openai-compatible', confidential: false })
    expect((await client().models.retrieve('tee-chat')).id).toBe('tee-chat')
    expect(await client().models.retrieve('nope').catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError)
  })

  test('a key restricted to models sees and uses only those', async () => {
    const restricted = await createKey(user.token, { allowed_models: ['plain-chat'] })
    const list = await client(restricted.key).models.list()
    expect(list.data.map((m) => m.id)).toEqual(['plain-chat'])
    const err = await client(restricted.key)
      .chat.completions.create({ model: 'tee-chat', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError)
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_allowed')
  })
})

describe('chat completions', () => {
  test('non-streaming: the upstream answer, usage, the confidential flag and Server-Timing', async () => {
    const { data, response } = await client()
      .chat.completions.create({ model: 'tee-chat', messages: [{ role: 'user', content: 'hello confidential world' }], temperature: 0.2, seed: 7 })
      .withResponse()
    expect(data.choices[0]?.message.content).toBe('echo: hello confidential world')
    expect(data.usage?.completion_tokens).toBeGreaterThan(0)
    expect(response.headers.get('x-enclava-confidential')).toBe('true')
    expect(response.headers.get('server-timing')).toMatch(/gateway;dur=\d+(\.\d+)?/)
    expect(response.headers.get('x-ratelimit-limit')).toBe('1000')
    // The upstream got the provider's key, never the client's.
    const last = tee.requests.at(-1)
    expect(last?.headers.authorization).toBe('Bearer pm-secret-key')
    expect(JSON.stringify(data)).not.toContain('pm-secret-key')
    const plainRes = await client().chat.completions.create({ model: 'plain-chat', messages: [{ role: 'user', content: 'x' }] }).withResponse()
    expect(plainRes.response.headers.get('x-enclava-confidential')).toBe('false')
  })

  test('streaming passes chunks through and ends with [DONE]; usage only when asked for', async () => {
    const streamed = await client().chat.completions.create({
      model: 'tee-chat',
      messages: [{ role: 'user', content: 'one two three four' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    let text = ''
    let usage: OpenAI.CompletionUsage | null | undefined = null
    let chunks = 0
    for await (const chunk of streamed) {
      chunks++
      text += chunk.choices[0]?.delta.content ?? ''
      if (chunk.usage) usage = chunk.usage
    }
    expect(text.trim()).toBe('echo: one two three four')
    expect(chunks).toBeGreaterThan(3)
    expect(usage?.completion_tokens).toBeGreaterThan(0)

    const raw = await fetch(`${base}/api/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tee-chat', stream: true, messages: [{ role: 'user', content: 'a b' }] }),
    })
    expect(raw.headers.get('content-type')).toContain('text/event-stream')
    const body = await raw.text()
    expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true)
    const events = body.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)) as { usage?: unknown })
    expect(events.length).toBeGreaterThan(2)
    expect(events.filter((e) => e.usage)).toEqual([])
    // The gateway asked the upstream for usage on its own behalf, to account for it.
    expect((tee.requests.at(-1)?.body as { stream_options?: { include_usage?: boolean } }).stream_options?.include_usage).toBe(true)
  })

  test('tool calls come through, streamed and not', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { echo: { type: 'string' } } } } },
    ]
    const res = await client().chat.completions.create({ model: 'plain-chat', messages: [{ role: 'user', content: 'find it' }], tools })
    expect(res.choices[0]?.finish_reason).toBe('tool_calls')
    expect(res.choices[0]?.message.tool_calls?.[0]).toMatchObject({ type: 'function', function: { name: 'lookup' } })
    const stream = await client().chat.completions.create({ model: 'plain-chat', messages: [{ role: 'user', content: 'find it' }], tools, stream: true })
    let args = ''
    let name = ''
    for await (const chunk of stream) {
      const call = chunk.choices[0]?.delta.tool_calls?.[0]
      name += call?.function?.name ?? ''
      args += call?.function?.arguments ?? ''
    }
    expect(name).toBe('lookup')
    expect(JSON.parse(args)).toEqual({ echo: 'find it' })
  })

  test('bad requests are 400s that name the field', async () => {
    const res = await fetch(`${base}/api/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tee-chat', messages: [], temperature: 5 }),
    })
    expect(res.status).toBe(400)
    const body = (await res.json()) as { error: { code: string; param: string; type: string } }
    expect(body.error).toMatchObject({ code: 'validation_failed', type: 'invalid_request_error', param: 'messages' })
    const unknown = await client()
      .chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError)
    expect((unknown as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found')
  })
})

describe('Server-Timing', () => {
  test('every response carries one: the gateway and upstream split on relayed answers, the total time on the rest', async () => {
    const timing = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${base}${path}`, init)
      await res.arrayBuffer()
      return { status: res.status, timing: res.headers.get('server-timing') ?? '' }
    }
    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
    const total = /^total;dur=\d+\.\d{2};desc="time in Enclava"$/
    expect(await timing('/api/v1/models', { headers: auth })).toMatchObject({ status: 200, timing: expect.stringMatching(total) })
    expect(await timing('/api/v1/models')).toMatchObject({ status: 401, timing: expect.stringMatching(total) })
    const bad = { method: 'POST', headers: auth, body: JSON.stringify({ model: 'tee-chat', messages: 'not a list' }) }
    expect(await timing('/api/v1/chat/completions', bad)).toMatchObject({ status: 400, timing: expect.stringMatching(total) })
    expect(await timing('/api/v1/no-such-route', { headers: auth })).toMatchObject({ status: 404, timing: expect.stringMatching(total) })
    const chat = { method: 'POST', headers: auth, body: JSON.stringify({ model: 'tee-chat', messages: [{ role: 'user', content: 'hi' }] }) }
    expect((await timing('/api/v1/chat/completions', chat)).timing).toMatch(/^gateway;dur=\d+\.\d{2};desc="Enclava overhead", upstream;dur=\d+\.\d{2}$/)
  })
})

describe('embeddings', () => {
  test('float, base64 and dimensions', async () => {
    const floats = await client().embeddings.create({ model: 'tee-embed', input: ['alpha', 'beta'], encoding_format: 'float' })
    expect(floats.data).toHaveLength(2)
    expect(floats.data[0]?.embedding).toHaveLength(8)
    const raw = await fetch(`${base}/api/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tee-embed', input: 'alpha', encoding_format: 'base64' }),
    })
    const b64 = ((await raw.json()) as { data: { embedding: string }[] }).data[0]?.embedding ?? ''
    const decoded = Array.from(new Float32Array(Buffer.from(b64, 'base64').buffer.slice(0)))
    const expected = floats.data[0]?.embedding ?? []
    expect(decoded.length).toBe(expected.length)
    decoded.forEach((v, i) => expect(v).toBeCloseTo(expected[i] ?? NaN, 5))
    const small = await client().embeddings.create({ model: 'plain-embed', input: 'alpha', dimensions: 4 })
    expect(small.data[0]?.embedding).toHaveLength(4)
  })
})

describe('usage accounting', () => {
  test('every request leaves a record with tokens, cost, status and the TEE flag', async () => {
    const before = (await usageRows()).length
    await client().chat.completions.create({ model: 'tee-chat', messages: [{ role: 'user', content: 'count me' }] })
    await client().embeddings.create({ model: 'plain-embed', input: 'count me too' })
    // Records are written behind the responses, so their order is not the requests' order.
    const rows = (await usageRows()).slice(before)
    expect(rows).toHaveLength(2)
    const chat = rows.find((r) => r.model === 'tee-chat')
    expect(chat).toMatchObject({ model: 'tee-chat', status: 200, is_tee: true, streamed: false, error_code: null })
    expect(chat?.completion_tokens).toBeGreaterThan(0)
    expect(Number(chat?.cost_micros)).toBeGreaterThan(0)
    expect(rows.find((r) => r.model === 'plain-embed')).toMatchObject({ model: 'plain-embed', status: 200, is_tee: false, completion_tokens: 0 })
    const usage = await fetch(`${base}/api/v1/llm/usage`, { headers: { authorization: `Bearer ${key}` } })
    const days = ((await usage.json()) as { data: { model: string; requests: number }[] }).data
    expect(days.find((d) => d.model === 'tee-chat')?.requests).toBeGreaterThanOrEqual(2)
  })

  test('a client that aborts a stream is still charged for what was generated, and the upstream is cancelled', async () => {
    const slow = await startUpstream({ models: ['slow-chat'], streamChunkDelayMs: 40 })
    const local = await createTestEnv({ OPENAI_COMPAT_URL: slow.url }, undefined)
    try {
      const url = local.listen()
      const u = await local.user('user')
      const k = (await local.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'a' } })).body.key as string
      const words = Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ')
      const controller = new AbortController()
      const res = await fetch(`${url}/api/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'slow-chat', stream: true, messages: [{ role: 'user', content: words }] }),
        signal: controller.signal,
      })
      const reader = res.body?.getReader()
      let received = ''
      while (received.split('data:').length < 6) received += new TextDecoder().decode((await reader?.read())?.value)
      controller.abort()
      let rows: { status: number; completion_tokens: number; cost_micros: string }[] = []
      for (let i = 0; i < 100 && rows.length === 0; i++) {
        await Bun.sleep(50)
        await local.s.ledger.flush()
        rows = await local.db.sql`SELECT status, completion_tokens, cost_micros FROM usage_records`
      }
      expect(rows).toHaveLength(1)
      expect(rows[0]?.status).toBe(499)
      expect(rows[0]?.completion_tokens).toBeGreaterThan(0)
      expect(rows[0]?.completion_tokens).toBeLessThan(60)
      for (let i = 0; i < 100 && slow.aborted === 0; i++) await Bun.sleep(20)
      expect(slow.aborted).toBe(1)
    } finally {
      await local.close()
      await slow.stop()
    }
  })
})

describe('prompts with special-token text', () => {
  test('<|endoftext|> in a message is counted as text, not a 500', async () => {
    const res = await client().chat.completions.create({ model: 'plain-chat', messages: [{ role: 'user', content: 'a <|endoftext|> b' }] })
    expect(res.choices[0]?.message.content).toBe('echo: a <|endoftext|> b')
  })
})
