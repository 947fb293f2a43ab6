/**
 * The gateway against hostile input and misbehaving upstreams: a request's own faults never count against its
 * provider (so one tenant cannot open a circuit for everyone), timeouts measure what they name and a request that
 * may have started a paid generation is never sent again, a confidential model never falls back out of the TEE
 * unless its settings say so, a hard budget holds against an upstream that ignores max_tokens, output caps are
 * clamped and imposed, a 402 says whether the room is spent or only held, and a key revoked while the cache is down
 * stops on the other replica within the recheck interval.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { createTestEnv, testCache, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import type { CacheStore } from '../cache/types.ts'
import { canConnect, Provider } from './provider.ts'

let env: TestEnv
let up: Upstream
let user: { id: string; token: string }

const key = async (name: string, body: Record<string, unknown> = {}) =>
  (await env.call('POST', '/api-internal/v1/api-keys', { token: user.token, body: { name, ...body } })).body as { key: string; id: string }
const chat = (apiKey: string, body: Record<string, unknown> = {}) =>
  env.call('POST', '/api/v1/chat/completions', { apiKey, body: { model: 'tee-chat', messages: [{ role: 'user', content: 'alpha beta gamma' }], ...body } })
const chatRequests = () => up.requests.filter((r) => r.path === '/v1/chat/completions')
const provider = () => env.s.registry.providers.find((p) => p.name === 'privatemode')!

beforeAll(async () => {
  up = await startUpstream({ models: ['tee-chat', 'tee-embed'] })
  // The platform's defaults for every timeout: a slow first token must succeed on them.
  env = await createTestEnv({ PRIVATEMODE_URL: up.url })
  user = await env.user('user')
  // The model list is fetched while the upstream is healthy, as it would be long before any of these faults.
  await env.s.registry.list()
})
afterAll(async () => {
  await env.close()
  await up.stop()
})
beforeEach(() => {
  up.setBehavior('ok')
  up.setFirstTokenDelay(0)
  up.setOverrun(null)
  for (const p of env.s.registry.providers) p.breaker.success()
})

describe("a request's own faults are never its provider's", () => {
  test('JSON nested 60,000 deep is a 400 at once; the circuit stays closed and another key is served', async () => {
    const { key: attacker } = await key('deep')
    const { key: bystander } = await key('bystander')
    const content = `${'['.repeat(60_000)}"x"${']'.repeat(60_000)}`
    const body = `{"model":"tee-chat","messages":[{"role":"user","content":${content}}]}`
    const before = chatRequests().length
    for (let i = 0; i < 6; i++) {
      const res = await env.call('POST', '/api/v1/chat/completions', { apiKey: attacker, body })
      expect(res.status).toBe(400)
      expect(res.body.error.code).toBe('invalid_json')
      expect(res.body.error.message).toContain('64 levels')
    }
    expect(chatRequests().length).toBe(before)
    expect(provider().health()).toMatchObject({ circuit: 'closed', consecutive_failures: 0 })
    expect((await chat(bystander)).status).toBe(200)
  })

  test('a body that cannot be serialised for the upstream is a 400, and the circuit does not count it', async () => {
    const p = provider()
    const err = await p.request('POST', '/chat/completions', { model: 'tee-chat', n: 1n }, new AbortController().signal).catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 400, code: 'invalid_request' })
    expect(p.health()).toMatchObject({ circuit: 'closed', consecutive_failures: 0 })
  })

  test("a client that goes away, or an upstream's 429, never counts toward opening the circuit", async () => {
    const { key: k } = await key('aborts')
    up.setBehavior('hang')
    for (let i = 0; i < 6; i++) {
      const ctl = new AbortController()
      const pending = env.app.handle(
        new Request('http://localhost/api/v1/chat/completions', {
          method: 'POST',
          headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'tee-chat', messages: [{ role: 'user', content: 'hi' }] }),
          signal: ctl.signal,
        }),
      )
      await Bun.sleep(30)
      ctl.abort()
      await pending.catch(() => {})
    }
    expect(provider().health()).toMatchObject({ circuit: 'closed', consecutive_failures: 0 })
    up.setBehavior('error-429')
    for (let i = 0; i < 3; i++) expect((await chat(k)).status).toBe(429)
    expect(provider().health()).toMatchObject({ circuit: 'closed', consecutive_failures: 0 })
  })
})

describe('a client that leaves before the answer starts', () => {
  test("a stream waiting for its first token: the client's abort, recorded as 499, the upstream request cancelled, the circuit untouched", async () => {
    const { key: k, id } = await key('leaves-early')
    up.setFirstTokenDelay(2_000)
    const abortedBefore = up.aborted
    const ctl = new AbortController()
    const pending = env.app.handle(
      new Request('http://localhost/api/v1/chat/completions', {
        method: 'POST',
        headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tee-chat', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
        signal: ctl.signal,
      }),
    )
    // The upstream has the request and is holding its first token.
    const end = Date.now() + 5_000
    while (chatRequests().length === 0 || Date.now() < end - 4_700) await Bun.sleep(20)
    ctl.abort()
    await pending.then((r) => r.body?.cancel()).catch(() => {})
    await env.s.ledger.flush()
    const rows = await env.s.sql<{ status: number; error_code: string | null }[]>`SELECT status, error_code FROM usage_records WHERE api_key_id = ${id}`
    expect([...rows]).toEqual([{ status: 499, error_code: "client_abort" }])
    while (up.aborted === abortedBefore && Date.now() < end) await Bun.sleep(20)
    expect(up.aborted).toBe(abortedBefore + 1)
    expect(provider().health()).toMatchObject({ circuit: 'closed', consecutive_failures: 0 })
  })

  test("a whole answer or embeddings whose client leaves is the client's abort too (they were recorded as upstream_error)", async () => {
    up.setDelay(2_000)
    try {
      for (const [path, body] of [
        ['/api/v1/chat/completions', { model: 'tee-chat', messages: [{ role: 'user', content: 'hi' }] }],
        ['/api/v1/embeddings', { model: 'tee-embed', input: 'alpha' }],
      ] as const) {
        const { key: k, id } = await key(`leaves ${path}`)
        const ctl = new AbortController()
        const pending = env.app.handle(
          new Request(`http://localhost${path}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
            signal: ctl.signal,
          }),
        )
        await Bun.sleep(300)
        ctl.abort()
        await pending.catch(() => {})
        await env.s.ledger.flush()
        const rows = await env.s.sql<{ status: number; error_code: string | null }[]>`SELECT status, error_code FROM usage_records WHERE api_key_id = ${id}`
        expect([...rows]).toEqual([{ status: 499, error_code: 'client_abort' }])
        expect(provider().health()).toMatchObject({ circuit: 'closed', consecutive_failures: 0 })
      }
    } finally {
      up.setDelay(0)
    }
  })
})

describe('timeouts measure what they name; paid generations are never repeated', () => {
  test('a stream whose first token takes 7 s succeeds on the default timeouts, with one upstream generation', async () => {
    const { key: k } = await key('slow-first-token')
    up.setFirstTokenDelay(7_000)
    const before = chatRequests().length
    const res = await chat(k, { stream: true })
    expect(res.status).toBe(200)
    expect(String(res.body)).toContain('[DONE]')
    expect(String(res.body)).not.toContain('"error"')
    expect(chatRequests().length - before).toBe(1)
  }, 30_000)

  test('an upstream that accepts the connection and says nothing: one attempt, a 504 after the first-byte timeout', async () => {
    const local = await createTestEnv({ PRIVATEMODE_URL: up.url, UPSTREAM_CONNECT_TIMEOUT_MS: '200', UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '800' })
    try {
      const u = await local.user('user')
      const k = (await local.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'k' } })).body.key
      await local.call('GET', '/api/v1/models', { apiKey: k })
      up.setBehavior('hang')
      const before = chatRequests().length
      const res = await local.call('POST', '/api/v1/chat/completions', { apiKey: k, body: { model: 'tee-chat', messages: [{ role: 'user', content: 'x' }], stream: true } })
      expect(res.status).toBe(504)
      expect(res.body.error.message).toContain('sent nothing within 800 ms')
      expect(chatRequests().length - before).toBe(1)
    } finally {
      await local.close()
    }
  })

  test('a request waiting on an upstream that stopped accepting connections fails at the connect timeout, and is not sent again', async () => {
    let received = 0
    const hanging = Bun.serve({ port: 0, hostname: '127.0.0.1', idleTimeout: 0, fetch: () => (received++, new Promise<Response>(() => {})) })
    const p = new Provider({
      name: 'gone',
      kind: 'openai-compatible',
      baseUrl: `http://127.0.0.1:${hanging.port}/v1`,
      connectTimeoutMs: 300,
      firstByteTimeoutMs: 10_000,
      totalTimeoutMs: 20_000,
      maxRetries: 2,
      maxResponseBytes: 1024 * 1024,
    })
    try {
      const started = performance.now()
      const pending = p.request('POST', '/chat/completions', { model: 'm', messages: [] }, new AbortController().signal, 'prompt').catch((e: unknown) => e)
      await Bun.sleep(100)
      // The connection in use stays open and silent; new ones are refused: the host is gone.
      void hanging.stop(false)
      const err = await pending
      expect(err).toMatchObject({ code: 'upstream_timeout' })
      expect((err as Error).message).toContain('could not be connected to within 300 ms')
      // The connection check decided, long before the 10 s first-byte timeout.
      expect(performance.now() - started).toBeLessThan(5_000)
      expect(received).toBe(1)
      expect(p.health().consecutive_failures).toBe(1)
    } finally {
      void hanging.stop(true)
    }
  })

  test('canConnect: an open port answers true, a closed one false', async () => {
    const open = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('ok') })
    try {
      expect(await canConnect(`http://127.0.0.1:${open.port}/v1`, 500)).toBe(true)
    } finally {
      void open.stop(true)
    }
    expect(await canConnect('http://127.0.0.1:1/v1', 500)).toBe(false)
  })
})

describe('confidentiality', () => {
  test('a confidential model never falls back outside the TEE unless its settings say so; when they do, it is audited', async () => {
    const other = await startUpstream({ models: ['open-chat'] })
    const local = await createTestEnv({ PRIVATEMODE_URL: up.url, OPENAI_COMPAT_URL: other.url, UPSTREAM_MAX_RETRIES: '0' })
    try {
      await local.db.sql`INSERT INTO models (id, fallback_model) VALUES ('tee-chat', 'open-chat')`
      await local.db.sql`INSERT INTO models (id, provider_name) VALUES ('open-chat', 'openai-compatible')`
      const u = await local.user('user')
      const k = (await local.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'k' } })).body.key
      await local.call('GET', '/api/v1/models', { apiKey: k })
      up.setBehavior('error-500')
      const ask = () => local.call('POST', '/api/v1/chat/completions', { apiKey: k, body: { model: 'tee-chat', messages: [{ role: 'user', content: 'secret' }] } })
      const refused = await ask()
      expect(refused.status).toBe(502)
      expect(other.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(0)

      const admin = await local.adminToken()
      const settings = await local.call('GET', '/api-internal/v1/llm/model-settings', { token: admin })
      expect(settings.body.data.find((m: { id: string }) => m.id === 'tee-chat')).toMatchObject({ fallback_leaves_tee: false })
      expect((await local.call('PUT', '/api-internal/v1/llm/model-settings/tee-chat', { token: admin, body: { fallback_model: 'open-chat', fallback_leaves_tee: true } })).status).toBe(200)
      const served = await ask()
      expect(served.status).toBe(200)
      expect(served.headers.get('x-enclava-confidential')).toBe('false')
      const [audit] = await local.db.sql<{ details: { fallback: string } }[]>`SELECT details FROM audit_log WHERE action = 'gateway.fallback_left_tee'`
      expect(audit?.details.fallback).toBe('open-chat')
    } finally {
      await local.close()
      await other.stop()
    }
  })
})

describe('output caps and hard budgets', () => {
  test('max_tokens is clamped to the model cap, and a request without one gets the default cap imposed', async () => {
    const admin = await env.adminToken()
    await env.call('PUT', '/api-internal/v1/llm/model-settings/tee-chat', { token: admin, body: { max_output_tokens: 100 } })
    try {
      const { key: k, id } = await key('clamp')
      await env.call('POST', '/api-internal/v1/budgets', { token: user.token, body: { name: 'tiny', scope: 'api_key', api_key_id: id, limit_usd: 0.05, period: 'monthly' } })
      expect((await chat(k, { max_tokens: 5000 })).status).toBe(200)
      expect(chatRequests().at(-1)?.body).toMatchObject({ max_tokens: 100 })
      expect((await chat(k, { max_completion_tokens: 5000 })).status).toBe(200)
      expect(chatRequests().at(-1)?.body).toMatchObject({ max_completion_tokens: 100 })
    } finally {
      await env.call('DELETE', '/api-internal/v1/llm/model-settings/tee-chat', { token: admin })
    }
    const { key: free } = await key('no-cap')
    expect((await chat(free)).status).toBe(200)
    expect(chatRequests().at(-1)?.body).toMatchObject({ max_tokens: env.s.config.DEFAULT_MAX_OUTPUT_TOKENS })
  })

  test('an upstream ignoring max_tokens under a hard budget: streams are cut at the cap, nothing beyond the reservation is charged', async () => {
    const admin = await env.adminToken()
    // 4,000 micro-USD per output token, nothing for input: max_tokens 1 reserves 0.004 USD.
    await env.call('PUT', '/api-internal/v1/llm/model-settings/tee-chat', { token: admin, body: { input_price_per_million: 0, output_price_per_million: 4000 } })
    try {
      const { key: k, id } = await key('overrun')
      const budget = await env.call('POST', '/api-internal/v1/budgets', {
        token: user.token,
        body: { name: 'hard', scope: 'api_key', api_key_id: id, limit_usd: 1.2, period: 'monthly', is_hard: true },
      })
      up.setOverrun(265)
      const abortedBefore = up.aborted
      const streamed = await chat(k, { max_tokens: 1, stream: true })
      expect(streamed.status).toBe(200)
      const events = String(streamed.body).split('\n\n').filter((e) => e.startsWith('data: {'))
      const content = events.map((e) => JSON.parse(e.slice(6)).choices?.[0]?.delta?.content ?? '').join('')
      expect(content.split(/\s+/).filter(Boolean).length).toBeLessThanOrEqual(1)
      expect(events.some((e) => JSON.parse(e.slice(6)).choices?.[0]?.finish_reason === 'length')).toBe(true)
      expect(String(streamed.body)).toContain('[DONE]')
      const plain = await chat(k, { max_tokens: 1 })
      expect(plain.status).toBe(200)
      expect(plain.body.choices[0]).toMatchObject({ finish_reason: 'length' })
      expect(plain.body.choices[0].message.content.split(/\s+/).filter(Boolean).length).toBeLessThanOrEqual(1)
      for (let i = 0; i < 8; i++) await chat(k, { max_tokens: 1, stream: i % 2 === 0 })
      await env.s.ledger.flush()
      await env.s.budgets.returnLeases()
      const [b] = await env.db.sql<{ spent: string }[]>`SELECT spent_micros AS spent FROM budgets WHERE id = ${budget.body.id}`
      expect(Number(b?.spent)).toBeLessThanOrEqual(1_200_000)
      // Ten requests, each charged at most its 4,000 reserved (and the prompt is free).
      expect(Number(b?.spent)).toBeLessThanOrEqual(10 * 4_000)
      const rows = await env.db.sql<{ completion_tokens: number; cost_micros: string }[]>`
        SELECT completion_tokens, cost_micros FROM usage_records WHERE api_key_id = ${id} AND NOT streamed`
      expect(rows.some((r) => r.completion_tokens === 265 && Number(r.cost_micros) === 265 * 4000)).toBe(true)
      const [overrun] = await env.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM audit_log WHERE action = 'budget.upstream_overrun'`
      expect(overrun?.n).toBeGreaterThan(0)
      expect(up.aborted).toBeGreaterThan(abortedBefore)
    } finally {
      await env.call('DELETE', '/api-internal/v1/llm/model-settings/tee-chat', { token: admin })
    }
  })

  test('a 402 says whether the room is spent, or only held by requests in flight (then with Retry-After)', async () => {
    const admin = await env.adminToken()
    await env.call('PUT', '/api-internal/v1/llm/model-settings/tee-chat', { token: admin, body: { input_price_per_million: 0, output_price_per_million: 1000, max_output_tokens: 100 } })
    try {
      const { key: k, id } = await key('held')
      // Room for one request's worst case (100 tokens at 1,000 micro-USD each) at a time.
      await env.call('POST', '/api-internal/v1/budgets', { token: user.token, body: { name: 'one at a time', scope: 'api_key', api_key_id: id, limit_usd: 0.15, period: 'monthly', is_hard: true } })
      up.setFirstTokenDelay(1_500)
      const first = chat(k)
      await Bun.sleep(300)
      const held = await chat(k)
      expect(held.status).toBe(402)
      expect(held.body.error.message).toContain('held by requests in flight')
      expect(held.headers.get('retry-after')).toBe('2')
      expect((await first).status).toBe(200)
      // Settled: its hold is gone, and what it cost is spent.
      await env.s.ledger.flush()
      up.setFirstTokenDelay(0)
      up.setOverrun(120)
      // Spend the room: each answer costs its full cap now.
      let status = 200
      await env.s.ledger.flush()
      for (let i = 0; i < 5 && status === 200; i++) {
        status = (await chat(k)).status
        await env.s.ledger.flush()
      }
      const spent = await chat(k)
      expect(spent.status).toBe(402)
      expect(spent.body.error.message).toContain('spent')
      expect(spent.headers.get('retry-after')).toBeNull()
    } finally {
      await env.call('DELETE', '/api-internal/v1/llm/model-settings/tee-chat', { token: admin })
    }
  })
})

describe('embeddings', () => {
  test('base64 is encoded by the gateway; dimensions are honoured by shortening where the model allows it, else a 400', async () => {
    const { key: k } = await key('embed')
    const embed = (body: Record<string, unknown>) => env.call('POST', '/api/v1/embeddings', { apiKey: k, body: { model: 'tee-embed', input: ['a', 'b'], ...body } })
    const floats = await embed({})
    const b64 = await embed({ encoding_format: 'base64' })
    expect(typeof b64.body.data[0].embedding).toBe('string')
    const decoded = new Float32Array(Buffer.from(b64.body.data[0].embedding, 'base64').buffer.slice(0))
    expect([...decoded].map((x) => x.toFixed(5))).toEqual((floats.body.data[0].embedding as number[]).map((x) => x.toFixed(5)))
    // Asked of the upstream first: it may honour dimensions itself.
    expect((await embed({ dimensions: 4 })).body.data[0].embedding).toHaveLength(4)

    const admin = await env.adminToken()
    await env.call('PUT', '/api-internal/v1/llm/model-settings/tee-embed', { token: admin, body: { truncatable_dimensions: true } })
    try {
      const short = await embed({ dimensions: 3 })
      const v = short.body.data[0].embedding as number[]
      expect(v).toHaveLength(3)
      expect(Math.abs(Math.hypot(...v) - 1)).toBeLessThan(1e-6)
      expect(up.requests.at(-1)?.body).not.toHaveProperty('dimensions')
      const tooMany = await embed({ dimensions: 40 })
      expect(tooMany.status).toBe(400)
      expect(tooMany.body.error).toMatchObject({ code: 'invalid_request', param: 'dimensions' })
      expect(tooMany.body.error.message).toContain("'tee-embed'")
    } finally {
      await env.call('DELETE', '/api-internal/v1/llm/model-settings/tee-embed', { token: admin })
    }
  })
})

describe('revocation without the cache', () => {
  test("a key revoked on one replica while the cache is down stops on the other within the recheck interval, and the answer says so", async () => {
    const real = await testCache()
    let down = false
    const failing: CacheStore = new Proxy(real, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          if (down && (prop === 'publish' || prop === 'hitWindow')) return Promise.reject(new Error('cache is unavailable'))
          return value.apply(target, args)
        }
      },
    })
    const a = await createTestEnv({ API_KEY_RECHECK_SECONDS: '1', PRIVATEMODE_URL: up.url }, { db: env.db, cache: failing, s: env.s })
    const b = await createTestEnv({ API_KEY_RECHECK_SECONDS: '1', PRIVATEMODE_URL: up.url }, { db: env.db, cache: await testCache(), s: env.s })
    try {
      const owner = await a.user('user')
      const created = await a.call('POST', '/api-internal/v1/api-keys', { token: owner.token, body: { name: 'revoked' } })
      expect((await b.call('GET', '/api/v1/me', { apiKey: created.body.key })).status).toBe(200)
      down = true
      const off = await a.call('POST', `/api-internal/v1/api-keys/${created.body.id}/deactivate`, { token: owner.token })
      expect(off.status).toBe(200)
      expect(off.headers.get('x-enclava-propagation')).toContain('within 1 s')
      const started = performance.now()
      let status = 200
      while (status === 200 && performance.now() - started < 5_000) {
        status = (await b.call('GET', '/api/v1/me', { apiKey: created.body.key })).status
        if (status === 200) await Bun.sleep(100)
      }
      expect(status).toBe(401)
      expect(performance.now() - started).toBeLessThan(2_500)
    } finally {
      await a.close()
      await b.close()
      await real.close()
    }
  })
})
