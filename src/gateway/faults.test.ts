/**
 * Faults between the gateway and its upstreams or its database: each gives the client a clear OpenAI-shape error
 * and leaves usage and budgets consistent (nothing lost, nothing counted twice, no reservation left behind).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'

let env: TestEnv
let up: Upstream
let base: string
let key: string
let keyId: string
let budgetId: string

const chat = (body: Record<string, unknown> = {}) =>
  fetch(`${base}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tee-chat', messages: [{ role: 'user', content: 'alpha beta gamma delta' }], ...body }),
  })

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; type: string; message: string } }).error

async function lastUsage() {
  await env.s.ledger.flush()
  const [row] = await env.db.sql<{ status: number; error_code: string | null; cost_micros: string; completion_tokens: number }[]>`
    SELECT status, error_code, cost_micros, completion_tokens FROM usage_records ORDER BY created_at DESC, id DESC LIMIT 1`
  return row
}

async function budgetState() {
  await env.s.ledger.flush()
  // Leases (this replica's slices of the budget) are counted as reserved until given back; with every request
  // settled they go back whole, so anything still reserved afterwards would be a request's hold left behind.
  await env.s.budgets.returnLeases()
  const [b] = await env.db.sql<{ spent: string; reserved: string }[]>`
    SELECT spent_micros AS spent, reserved_micros AS reserved FROM budgets WHERE id = ${budgetId}`
  const [u] = await env.db.sql<{ cost: string }[]>`
    SELECT coalesce(sum(cost_micros), 0)::bigint AS cost FROM usage_records WHERE api_key_id = ${keyId}`
  return { spent: Number(b?.spent), reserved: Number(b?.reserved), usage: Number(u?.cost) }
}

beforeAll(async () => {
  up = await startUpstream({ models: ['tee-chat', 'backup-chat'] })
  env = await createTestEnv({
    PRIVATEMODE_URL: up.url,
    UPSTREAM_MAX_RETRIES: '2',
    UPSTREAM_CONNECT_TIMEOUT_MS: '400',
    UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '400',
    UPSTREAM_MAX_RESPONSE_MB: '1',
  })
  base = env.listen()
  const u = await env.user('user')
  const created = await env.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'faults' } })
  key = created.body.key
  keyId = created.body.id
  const budget = await env.call('POST', '/api-internal/v1/budgets', {
    token: u.token,
    body: { name: 'faults', scope: 'api_key', api_key_id: keyId, limit_usd: 100, period: 'monthly' },
  })
  budgetId = budget.body.id
  expect((await chat()).status).toBe(200)
})
afterAll(async () => {
  await env.close()
  await up.stop()
})
beforeEach(() => {
  up.setBehavior('ok')
  // Each case starts with a closed circuit; the breaker test opens it on purpose.
  for (const p of env.s.registry.providers) p.breaker.success()
})

describe('upstream faults', () => {
  test('a 500 may have started a paid generation: it is not sent again; a 502 to the client, nothing charged', async () => {
    up.setBehavior('error-500')
    const before = up.requests.length
    const res = await chat()
    expect(res.status).toBe(502)
    expect(await errorOf(res)).toMatchObject({ code: 'upstream_error', type: 'server_error' })
    expect(up.requests.length - before).toBe(1)
    expect(await lastUsage()).toMatchObject({ status: 502, error_code: 'upstream_error', cost_micros: '0' })
  })

  test('a 503 proves nothing started: retried with backoff, then a 502; nothing is charged', async () => {
    up.setBehavior('error-503')
    const before = up.requests.length
    const res = await chat()
    expect(res.status).toBe(502)
    expect(await errorOf(res)).toMatchObject({ code: 'upstream_error', type: 'server_error' })
    expect(up.requests.length - before).toBe(3)
    expect(await lastUsage()).toMatchObject({ status: 502, error_code: 'upstream_error', cost_micros: '0' })
    const state = await budgetState()
    expect(state.reserved).toBe(0)
    expect(state.spent).toBe(state.usage)
  })

  test('429 is retried, then passed on as 429 with Retry-After', async () => {
    up.setBehavior('error-429')
    const res = await chat()
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBeTruthy()
    expect((await errorOf(res)).type).toBe('rate_limit_error')
  })

  test("a 400 from the upstream is the client's 400, with the upstream's reason and not retried", async () => {
    up.setBehavior('error-400')
    const before = up.requests.length
    const res = await chat()
    expect(res.status).toBe(400)
    expect((await errorOf(res)).message).toContain('simulated upstream error')
    expect(up.requests.length - before).toBe(1)
  })

  test("the upstream refusing Enclava's credentials is a 502, not the client's 401", async () => {
    up.setBehavior('error-401')
    const res = await chat()
    expect(res.status).toBe(502)
    expect((await errorOf(res)).message).toContain('credentials')
  })

  test('an upstream that does not answer in time is a 504', async () => {
    up.setBehavior('hang')
    const res = await chat()
    expect(res.status).toBe(504)
    expect((await errorOf(res)).code).toBe('upstream_timeout')
    expect((await budgetState()).reserved).toBe(0)
  })

  test('garbage instead of JSON is a 502; a garbage stream ends with an error event', async () => {
    up.setBehavior('garbage')
    const res = await chat()
    expect(res.status).toBe(502)
    expect((await errorOf(res)).message).toContain('unreadable')
    const streamed = await chat({ stream: true })
    const text = await streamed.text()
    expect(text).toContain('"code":"upstream_error"')
    expect(text).not.toContain('[DONE]')
    expect((await lastUsage())?.status).toBe(502)
  })

  test('an answer that never ends is cut at its limit: a 502 naming UPSTREAM_MAX_RESPONSE_MB; a stream, at 8 MB of one event', async () => {
    up.setBehavior('flood')
    const res = await chat()
    expect(res.status).toBe(502)
    expect((await errorOf(res)).message).toBe('Provider privatemode answered with more than 1 MB (UPSTREAM_MAX_RESPONSE_MB)')
    // What was read stopped just past the limit (the rest is what the sockets' buffers held).
    expect(up.floodSent).toBeLessThan(16 * 1024 * 1024)
    expect((await lastUsage())?.status).toBe(502)
    const streamed = await chat({ stream: true })
    const text = await streamed.text()
    expect(text).toContain('The upstream sent an event of more than 8 MB')
    expect(text).toContain('"code":"upstream_error"')
    expect(text).not.toContain('[DONE]')
    expect(up.floodSent).toBeLessThan(64 * 1024 * 1024)
    expect((await lastUsage())?.status).toBe(502)
    // The server is still itself.
    up.setBehavior('ok')
    expect((await chat()).status).toBe(200)
  })

  test('a stream cut mid-way ends with an error event and is charged for what was generated', async () => {
    up.setBehavior('cut-stream')
    const res = await chat({ stream: true })
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).toContain('"code":"upstream_error"')
    expect(text).not.toContain('[DONE]')
    const row = await lastUsage()
    expect(row).toMatchObject({ status: 502, error_code: 'upstream_cut' })
    expect(row?.completion_tokens).toBeGreaterThan(0)
    const state = await budgetState()
    expect(state.reserved).toBe(0)
    expect(state.spent).toBe(state.usage)
  })

  test('an unreachable upstream is a 503', async () => {
    const dead = await startUpstream({ models: ['gone-chat'] })
    const deadUrl = dead.url
    await dead.stop()
    const local = await createTestEnv({ OPENAI_COMPAT_URL: deadUrl, UPSTREAM_MAX_RETRIES: '1' })
    try {
      await local.db.sql`INSERT INTO models (id, provider_name) VALUES ('gone-chat', 'openai-compatible')`
      const u = await local.user('user')
      const k = (await local.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'x' } })).body.key
      const res = await local.call('POST', '/api/v1/chat/completions', {
        apiKey: k,
        body: { model: 'gone-chat', messages: [{ role: 'user', content: 'hi' }] },
      })
      expect(res.status).toBe(503)
      expect(res.body.error.code).toBe('provider_unavailable')
    } finally {
      await local.close()
    }
  })

  test('the circuit opens after repeated failures and fails fast without calling the upstream', async () => {
    up.setBehavior('error-500')
    for (let i = 0; i < 5; i++) await (await chat()).text()
    const before = up.requests.length
    const res = await chat()
    expect(res.status).toBe(503)
    expect((await errorOf(res)).code).toBe('provider_unavailable')
    expect(up.requests.length).toBe(before)
    const status = await fetch(`${base}/api/v1/llm/providers/status`, { headers: { authorization: `Bearer ${key}` } })
    const providers = ((await status.json()) as { data: { name: string; circuit: string; confidential: boolean }[] }).data
    expect(providers.find((p) => p.name === 'privatemode')).toMatchObject({ circuit: 'open', confidential: true })
  })

  test('a failing model falls back to its configured alternative', async () => {
    const other = await startUpstream({ models: ['backup-chat'] })
    const local = await createTestEnv({ PRIVATEMODE_URL: up.url, OPENAI_COMPAT_URL: other.url, UPSTREAM_MAX_RETRIES: '0' })
    try {
      // The fallback is outside the TEE: allowed only because the model's settings say so explicitly.
      await local.db.sql`INSERT INTO models (id, fallback_model, fallback_leaves_tee) VALUES ('tee-chat', 'backup-chat', true)`
      await local.db.sql`INSERT INTO models (id, provider_name) VALUES ('backup-chat', 'openai-compatible')`
      const u = await local.user('user')
      const k = (await local.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'x' } })).body.key
      // The model list is fetched while the upstream is healthy, as it would have been long before the outage.
      expect((await local.call('GET', '/api/v1/models', { apiKey: k })).body.data.map((m: { id: string }) => m.id)).toContain('tee-chat')
      up.setBehavior('error-500')
      const res = await local.call('POST', '/api/v1/chat/completions', {
        apiKey: k,
        body: { model: 'tee-chat', messages: [{ role: 'user', content: 'fall back' }] },
      })
      expect(res.status).toBe(200)
      expect(res.body.model).toBe('backup-chat')
      expect(res.headers.get('x-enclava-confidential')).toBe('false')
      expect(other.requests.some((r) => r.path === '/v1/chat/completions')).toBe(true)
    } finally {
      await local.close()
      await other.stop()
    }
  })
})

describe('database faults', () => {
  test('usage that cannot be written is retried until it lands, exactly once, with the budget settled once', async () => {
    const before = await budgetState()
    await env.db.sql`ALTER TABLE usage_records RENAME TO usage_records_away`
    let renamed = true
    try {
      const res = await chat()
      expect(res.status).toBe(200)
      await res.text()
      await env.s.ledger.flush()
      expect(env.s.ledger.pending).toBe(1)
      await env.db.sql`ALTER TABLE usage_records_away RENAME TO usage_records`
      renamed = false
      await env.s.ledger.flush()
      await env.s.ledger.flush()
      expect(env.s.ledger.pending).toBe(0)
      const after = await budgetState()
      expect(after.reserved).toBe(0)
      expect(after.spent).toBe(after.usage)
      expect(after.usage).toBeGreaterThan(before.usage)
    } finally {
      if (renamed) await env.db.sql`ALTER TABLE usage_records_away RENAME TO usage_records`
    }
  })
})

describe('long answers', () => {
  async function withUpstream(
    opts: { streamChunkDelayMs?: number; delayMs?: number; totalTimeoutMs?: number },
    run: (call: (body: Record<string, unknown>) => Promise<Response>, e: TestEnv) => Promise<void>,
  ) {
    const slow = await startUpstream({ models: ['slow-chat'], streamChunkDelayMs: opts.streamChunkDelayMs ?? 0 })
    const e = await createTestEnv({
      PRIVATEMODE_URL: slow.url,
      UPSTREAM_CONNECT_TIMEOUT_MS: '300',
      UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '2000',
      UPSTREAM_TOTAL_TIMEOUT_MS: String(opts.totalTimeoutMs ?? 60_000),
    })
    try {
      const u = await e.user('user')
      const created = await e.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'long' } })
      const base = e.listen()
      // The model list is in before the upstream turns slow: only the completion is slow.
      expect((await e.call('GET', '/api/v1/models', { token: created.body.key })).status).toBe(200)
      slow.setDelay(opts.delayMs ?? 0)
      await run((body) =>
        fetch(`${base}/api/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${created.body.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'slow-chat', messages: [{ role: 'user', content: 'one two three four five six seven eight nine ten' }], ...body }),
        }),
        e,
      )
      expect(slow.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(1)
    } finally {
      await e.close()
      await slow.stop()
    }
  }

  test('a stream that outlasts the connect timeout is passed through whole', async () => {
    await withUpstream({ streamChunkDelayMs: 100 }, async (call) => {
      const started = performance.now()
      const res = await call({ stream: true })
      expect(res.status).toBe(200)
      const text = await res.text()
      // The case only means something if the stream lasted longer than the connect timeout.
      expect(performance.now() - started).toBeGreaterThan(600)
      expect(text).not.toContain('"error"')
      expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
    })
  })

  test('a non-streamed answer that takes longer than the connect timeout is waited for (up to the first-byte timeout), not retried', async () => {
    await withUpstream({ delayMs: 700 }, async (call) => {
      const res = await call({})
      expect(res.status).toBe(200)
      expect(((await res.json()) as { choices: unknown[] }).choices).toHaveLength(1)
    })
  })

  test('a stream that outlasts the total timeout ends with an error event and is charged for what was generated', async () => {
    await withUpstream({ streamChunkDelayMs: 100, totalTimeoutMs: 450 }, async (call, e) => {
      const res = await call({ stream: true })
      expect(res.status).toBe(200)
      const text = await res.text()
      expect(text).toContain('"content"')
      expect(text).toContain('"code":"upstream_error"')
      expect(text).not.toContain('[DONE]')
      await e.s.ledger.flush()
      const [row] = await e.db.sql<{ status: number; completion_tokens: number }[]>`SELECT status, completion_tokens FROM usage_records`
      expect(row?.status).toBe(502)
      expect(row?.completion_tokens).toBeGreaterThan(0)
    })
  })
})
