/** Rate limits and budgets on the gateway: headers, 429s, 402s, and that a hard budget is never overspent. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'

let env: TestEnv
let up: Upstream
let base: string

beforeAll(async () => {
  up = await startUpstream({ models: ['tee-chat', 'tee-embed'] })
  // privatemode models carry default prices, so budgets have something to count.
  env = await createTestEnv({ PRIVATEMODE_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '1000' })
  base = env.listen()
})
afterAll(async () => {
  await env.close()
  await up.stop()
})

async function newKey(body: Record<string, unknown> = {}) {
  const u = await env.user('user')
  const res = await env.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'lim', ...body } })
  expect(res.status).toBe(201)
  return { user: u, id: res.body.id as string, key: res.body.key as string }
}

const chat = (key: string, body: Record<string, unknown> = {}) =>
  fetch(`${base}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tee-chat', messages: [{ role: 'user', content: 'one two three' }], max_tokens: 20, ...body }),
  })

describe('rate limits', () => {
  test('per key per minute: headers on every response, then 429 with Retry-After', async () => {
    const k = await newKey({ rate_limit_per_minute: 3 })
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      const res = await chat(k.key)
      statuses.push(res.status)
      expect(res.headers.get('x-ratelimit-limit')).toBe('3')
      expect(Number(res.headers.get('x-ratelimit-remaining'))).toBe(Math.max(0, 2 - i))
      expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0)
      if (res.status === 429) {
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
        const body = (await res.json()) as { error: { code: string; type: string } }
        expect(body.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'rate_limit_error' })
      } else await res.text()
    }
    expect(statuses).toEqual([200, 200, 200, 429])
    // Other endpoints count against the same key, and another key is unaffected.
    expect((await fetch(`${base}/api/v1/models`, { headers: { authorization: `Bearer ${k.key}` } })).status).toBe(429)
    const other = await newKey()
    expect((await chat(other.key)).status).toBe(200)
  })

  test('tokens per minute', async () => {
    const k = await newKey({ rate_limit_tokens_per_minute: 150 })
    expect((await chat(k.key, { max_tokens: 100 })).status).toBe(200)
    const res = await chat(k.key, { max_tokens: 100 })
    expect(res.status).toBe(429)
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('tokens per minute')
  })

  test('the internal API limits each user', async () => {
    const local = await createTestEnv({ PRIVATEMODE_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '2' })
    try {
      const token = await local.adminToken()
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push((await local.call('GET', '/api-internal/v1/auth/me', { token })).status)
      expect(statuses).toEqual([200, 200, 429])
    } finally {
      await local.close()
    }
  })
})

describe('budgets', () => {
  async function budget(token: string, body: Record<string, unknown>) {
    const res = await env.call('POST', '/api-internal/v1/budgets', { token, body: { name: 'b', period: 'monthly', ...body } })
    expect(res.status).toBe(201)
    return res.body as { id: string; limit_usd: number }
  }

  test('a request the hard budget cannot cover gets 402 budget_exceeded; status shows the budget', async () => {
    const k = await newKey()
    await budget(k.user.token, { scope: 'api_key', api_key_id: k.id, limit_usd: 0.000001 })
    const res = await chat(k.key)
    expect(res.status).toBe(402)
    const body = (await res.json()) as { error: { code: string; type: string } }
    expect(body.error).toMatchObject({ code: 'budget_exceeded', type: 'insufficient_quota' })
    const status = await fetch(`${base}/api/v1/llm/budget/status`, { headers: { authorization: `Bearer ${k.key}` } })
    const data = ((await status.json()) as { data: { scope: string; limit_usd: number; spent_usd: number }[] }).data
    expect(data.find((b) => b.scope === 'api_key')).toMatchObject({ limit_usd: 0.000001, spent_usd: 0 })
  })

  test('a user cannot create global budgets or budgets on keys of others', async () => {
    const a = await newKey()
    const b = await newKey()
    const global = await env.call('POST', '/api-internal/v1/budgets', {
      token: a.user.token,
      body: { name: 'g', scope: 'global', limit_usd: 1, period: 'monthly' },
    })
    expect(global.status).toBe(403)
    const foreign = await env.call('POST', '/api-internal/v1/budgets', {
      token: a.user.token,
      body: { name: 'f', scope: 'api_key', api_key_id: b.id, limit_usd: 1, period: 'monthly' },
    })
    expect(foreign.status).toBe(404)
  })

  test('200 concurrent requests never overspend a hard budget, and spend settles to the usage records', async () => {
    const k = await newKey({ rate_limit_per_minute: 10_000 })
    // Each request reserves the prompt plus 20 output tokens and really costs a little less.
    const limitUsd = 0.0005
    const b = await budget(k.user.token, { scope: 'api_key', api_key_id: k.id, limit_usd: limitUsd })
    const results = await Promise.all(Array.from({ length: 200 }, () => chat(k.key).then(async (r) => (await r.text(), r.status))))
    const ok = results.filter((s) => s === 200).length
    const rejected = results.filter((s) => s === 402).length
    expect(ok + rejected).toBe(200)
    expect(ok).toBeGreaterThan(0)
    expect(rejected).toBeGreaterThan(0)
    await env.s.ledger.flush()
    const [row] = await env.db.sql<{ spent: string; reserved: string; limit: string }[]>`
      SELECT spent_micros AS spent, reserved_micros AS reserved, limit_micros AS limit FROM budgets WHERE id = ${b.id}`
    const [usage] = await env.db.sql<{ cost: string; n: number }[]>`
      SELECT coalesce(sum(cost_micros), 0)::bigint AS cost, count(*) FILTER (WHERE status = 200)::int AS n
      FROM usage_records WHERE api_key_id = ${k.id}`
    expect(Number(row?.reserved)).toBe(0)
    expect(Number(row?.spent)).toBeLessThanOrEqual(Number(row?.limit))
    expect(Number(row?.spent)).toBe(Number(usage?.cost))
    expect(usage?.n).toBe(ok)
  })

  test('a soft budget lets requests through past its limit; crossing the warning threshold is audited once', async () => {
    const k = await newKey()
    const b = await budget(k.user.token, { scope: 'api_key', api_key_id: k.id, limit_usd: 0.00002, is_hard: false, warn_threshold_pct: 50 })
    for (let i = 0; i < 3; i++) expect((await chat(k.key)).status).toBe(200)
    await env.s.ledger.flush()
    const status = await env.call('GET', `/api-internal/v1/budgets/${b.id}`, { token: k.user.token })
    expect(status.body.spent_usd).toBeGreaterThan(0.00002)
    expect(status.body.warning).toBe(true)
    const audit = await env.call('GET', `/api-internal/v1/audit?action=budget.warning&resource_id=${b.id}`, { token: await env.adminToken() })
    expect(audit.body.total).toBe(1)
  })

  test('a period that has ended renews: spending starts again from zero', async () => {
    const k = await newKey()
    // 100 micro-USD: a request reserves about half of it, so a few fit before the budget refuses.
    const b = await budget(k.user.token, { scope: 'api_key', api_key_id: k.id, limit_usd: 0.0001, period: 'daily' })
    let served = 0
    while ((await chat(k.key)).status === 200) {
      served++
      await env.s.ledger.flush()
    }
    expect(served).toBeGreaterThan(0)
    expect((await chat(k.key)).status).toBe(402)
    await env.s.ledger.flush()
    // Yesterday's window: the next request rolls it over.
    await env.db.sql`
      UPDATE budgets SET period_start = now() - interval '2 days', period_end = now() - interval '1 day' WHERE id = ${b.id}`
    expect((await chat(k.key)).status).toBe(200)
    await env.s.ledger.flush()
    const [row] = await env.db.sql<{ period_end: Date; spent: string }[]>`
      SELECT period_end, spent_micros AS spent FROM budgets WHERE id = ${b.id}`
    expect(row?.period_end.getTime()).toBeGreaterThan(Date.now())
    expect(Number(row?.spent)).toBeGreaterThan(0)
    expect(Number(row?.spent)).toBeLessThanOrEqual(100)
  })

  test('a key without budgets skips the budget SQL, and a budget added on another replica applies at once', async () => {
    const k = await newKey()
    const replica = await createTestEnv({}, env)
    try {
      const viaReplica = () =>
        replica.call('POST', '/api/v1/chat/completions', {
          apiKey: k.key,
          body: { model: 'tee-chat', max_tokens: 20, messages: [{ role: 'user', content: 'one two three' }] },
        })
      expect((await viaReplica()).status).toBe(200)
      await budget(k.user.token, { scope: 'api_key', api_key_id: k.id, limit_usd: 0.000001 })
      let status = 0
      for (let i = 0; i < 40 && status !== 402; i++) {
        status = (await viaReplica()).status
        if (status !== 402) await Bun.sleep(50)
      }
      expect(status).toBe(402)
    } finally {
      await replica.close()
    }
  })
})
