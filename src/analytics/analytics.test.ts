/**
 * Usage analytics from real gateway traffic: totals, the bucketed series, top models and keys, the scope rules
 * (one's own usage; everyone's only with analytics:read_all), and the live usage events across the cache.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'

let env: TestEnv
let up: Upstream
let alice: { id: string; token: string }
let bob: { id: string; token: string }
let key: string

const chat = (content: string) =>
  env.call('POST', '/api/v1/chat/completions', { apiKey: key, body: { model: 'tee-chat', messages: [{ role: 'user', content }] } })

beforeAll(async () => {
  up = await startUpstream({ models: ['tee-chat'] })
  env = await createTestEnv({ PRIVATEMODE_URL: up.url, UPSTREAM_MAX_RETRIES: '0' })
  alice = await env.user('user')
  bob = await env.user('user')
  key = (await env.call('POST', '/api-internal/v1/api-keys', { token: alice.token, body: { name: 'analytics-key' } })).body.key
  expect((await chat('one two three')).status).toBe(200)
  expect((await chat('four five')).status).toBe(200)
  up.setBehavior('error-500')
  expect((await chat('six')).status).toBeGreaterThanOrEqual(500)
  up.setBehavior('ok')
  await env.s.ledger.flush()
})
afterAll(async () => {
  await env.close()
  await up.stop()
})

const summary = (token: string, query = '') => env.call('GET', `/api-internal/v1/analytics/summary${query}`, { token })

describe('summary', () => {
  test("totals, series, top models and keys of one's own usage", async () => {
    const res = await summary(alice.token, '?range=1h')
    expect(res.status).toBe(200)
    const s = res.body
    expect(s.range).toBe('1h')
    expect(s.bucket_seconds).toBe(60)
    expect(s.series).toHaveLength(60)
    expect(s.totals).toMatchObject({ requests: 3, errors: 1, tee_requests: 3 })
    expect(s.totals.error_rate).toBeCloseTo(1 / 3, 5)
    expect(s.totals.prompt_tokens).toBeGreaterThan(0)
    expect(s.totals.completion_tokens).toBeGreaterThan(0)
    expect(s.totals.cost_micros).toBeGreaterThan(0)
    expect(s.totals.latency_p50_ms).not.toBeNull()
    // The series adds up to the totals, and the buckets are consecutive.
    const sum = (f: string) => s.series.reduce((n: number, p: Record<string, number>) => n + (p[f] ?? 0), 0)
    expect(sum('requests')).toBe(3)
    expect(sum('errors')).toBe(1)
    expect(sum('cost_micros')).toBe(s.totals.cost_micros)
    for (let i = 1; i < s.series.length; i++) expect(s.series[i].t - s.series[i - 1].t).toBe(60)
    expect(s.top_models).toEqual([expect.objectContaining({ model: 'tee-chat', requests: 3, is_tee: true })])
    expect(s.top_keys).toEqual([expect.objectContaining({ name: 'analytics-key', requests: 3 })])
    expect(s.by_source).toEqual([expect.objectContaining({ source: 'api', requests: 3 })])
  })

  test('the default range is 24 hourly buckets; an unknown range is a 400 naming it', async () => {
    const res = await summary(alice.token)
    expect(res.body).toMatchObject({ range: '24h', bucket_seconds: 3600 })
    expect(res.body.series).toHaveLength(24)
    const bad = await summary(alice.token, '?range=2w')
    expect(bad.status).toBe(400)
    expect(bad.body.error.param).toBe('range')
  })

  test('every range carries the latency of the buckets that had requests (the charts draw from them)', async () => {
    for (const range of ['1h', '24h', '7d', '30d']) {
      const s = (await summary(alice.token, `?range=${range}`)).body
      const busy = s.series.filter((p: { requests: number }) => p.requests > 0)
      expect(busy.length).toBeGreaterThan(0)
      for (const p of busy) {
        expect(p.latency_p50_ms).toBeNumber()
        expect(p.latency_p95_ms).toBeNumber()
      }
      // The buckets' p95 can be no lower than the whole period's when one bucket holds every request.
      if (busy.length === 1) expect(busy[0].latency_p95_ms).toBeCloseTo(s.totals.latency_p95_ms, 6)
    }
  })

  test("another user sees none of it, and may not ask for everyone's", async () => {
    expect((await summary(bob.token)).body.totals.requests).toBe(0)
    const denied = await summary(bob.token, '?scope=all')
    expect(denied.status).toBe(403)
    const all = await summary(await env.adminToken(), '?scope=all')
    expect(all.status).toBe(200)
    expect(all.body.totals.requests).toBe(3)
  })

  test('signed-out requests are refused', async () => {
    expect((await env.call('GET', '/api-internal/v1/analytics/summary')).status).toBe(401)
  })
})

describe('live usage events', () => {
  test('a scope hears only the usage that concerns it, in order', async () => {
    const heard: string[] = []
    let done: () => void = () => {}
    const second = new Promise<void>((resolve) => (done = resolve))
    const stop = await env.s.analytics.onUsage({ userId: bob.id }, (e) => {
      heard.push(e.at)
      done()
    })
    try {
      env.s.analytics.usageRecorded([alice.id])
      env.s.analytics.usageRecorded([bob.id, null])
      await second
      // Alice's event was published first and delivered first; Bob's handler saw only his own.
      expect(heard).toHaveLength(1)
    } finally {
      await stop()
    }
  })

  test('the events stream sends a usage event once a request of the user is recorded', async () => {
    const base = env.listen()
    const controller = new AbortController()
    const res = await fetch(`${base}/api-internal/v1/analytics/events`, { headers: { authorization: `Bearer ${alice.token}` }, signal: controller.signal })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const reader = res.body!.getReader()
    try {
      expect((await chat("live please")).status).toBe(200)
      await env.s.ledger.flush()
      let text = ''
      while (!text.includes('event: usage')) {
        const { value, done } = await reader.read()
        if (done) break
        text += new TextDecoder().decode(value)
      }
      expect(text).toContain("event: usage")
      expect(JSON.parse(/data: (.*)/.exec(text)![1]!).at).toBeString()
    } finally {
      controller.abort()
    }
  })
})
