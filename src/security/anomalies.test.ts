/**
 * API key anomalies against each key's own baseline: a request spike, a model the key never used carrying most of
 * its traffic, and a network it was never used from. Under `alert` they are security events; under `suspend` the key
 * stops on every replica (403 api_key_suspended) until an administrator reinstates it. A key behaving as it always
 * did is left alone.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { networkOf } from './anomalies.ts'

let a: TestEnv
let b: TestEnv
let up: Upstream
let admin: string

/** A week of history: `perWindow` requests of `model` in every 10-minute window of the last `days` days, before the recent window. */
async function history(keyId: string, userId: string, days: number, perWindow: number, model = 'tee-chat') {
  await a.db.sql`
    INSERT INTO usage_records (id, created_at, source, api_key_id, user_id, model, provider, endpoint, status, cost_micros, is_tee)
    SELECT gen_random_uuid(), now() - make_interval(mins => 15 + w * 10) + make_interval(secs => r), 'api', ${keyId}, ${userId}, ${model},
      'privatemode', '/chat/completions', 200, 10, true
    FROM generate_series(0, ${days * 144 - 1}) AS w, generate_series(1, ${perWindow}) AS r`
}

async function keyOf(env: TestEnv, name: string) {
  const u = await env.user('user')
  const k = (await env.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name } })).body as { key: string; id: string }
  return { ...k, userId: u.id }
}

const ask = (env: TestEnv, key: string, model = 'tee-chat', ip = '198.51.100.10') =>
  env.call('POST', '/api/v1/chat/completions', { apiKey: key, body: { model, messages: [{ role: 'user', content: 'hi' }] }, headers: { 'x-forwarded-for': ip } })

async function burst(key: string, n: number, model = 'tee-chat') {
  for (let i = 0; i < n; i++) expect((await ask(a, key, model)).status).toBe(200)
  await a.s.ledger.flush()
}

beforeAll(async () => {
  up = await startUpstream({ models: ['tee-chat', 'tee-other'] })
  a = await createTestEnv({ PRIVATEMODE_URL: up.url, TRUST_PROXY: 'true' })
  b = await createTestEnv({ PRIVATEMODE_URL: up.url, TRUST_PROXY: 'true' }, a)
  admin = await a.adminToken()
})
afterAll(async () => {
  await b.close()
  await a.close()
  await up.stop()
})

describe('baselines', () => {
  test('a key used as it always was is left alone', async () => {
    const k = await keyOf(a, 'steady')
    await history(k.id, k.userId, 3, 10)
    await burst(k.key, 12)
    const found = await a.s.security.anomalies.detect()
    expect(found.filter((f) => f.keyId === k.id)).toEqual([])
  })

  test('a key without history has no baseline, however busy', async () => {
    const k = await keyOf(a, 'new')
    await burst(k.key, 120)
    expect((await a.s.security.anomalies.detect()).filter((f) => f.keyId === k.id)).toEqual([])
  })
})

describe('alert', () => {
  test('a request spike (over 10x the baseline, at least 100) is a security event; the key keeps working', async () => {
    const k = await keyOf(a, 'spiky')
    await history(k.id, k.userId, 3, 5)
    await burst(k.key, 110)
    const found = await a.s.security.anomalies.detect()
    expect(found.find((f) => f.keyId === k.id)).toMatchObject({ kind: 'request_spike', details: { requests: 110 } })
    const events = await a.call('GET', `/api-internal/v1/security/events?api_key_id=${k.id}`, { token: admin })
    expect(events.body.data[0]).toMatchObject({ action: 'security.key_anomaly', severity: 'medium', details: { kind: 'request_spike', policy: 'alert' } })
    expect((await ask(a, k.key)).status).toBe(200)
    // Once per key and kind per hour.
    expect((await a.s.security.anomalies.detect()).filter((f) => f.keyId === k.id)).toEqual([])
  }, 30_000)

  test('a sudden model change: a model the key never used carries most of its recent traffic', async () => {
    const k = await keyOf(a, 'switcher')
    await history(k.id, k.userId, 2, 2)
    await burst(k.key, 25, 'tee-other')
    const found = await a.s.security.anomalies.detect()
    expect(found.find((f) => f.keyId === k.id)).toMatchObject({ kind: 'new_model', details: { models: ['tee-other'] } })
  })

  test('use from a network the key was never used from, once it has history there', async () => {
    const k = await keyOf(a, 'traveller')
    expect((await ask(a, k.key, 'tee-chat', '198.51.100.10')).status).toBe(200)
    expect(await a.s.security.anomalies.flushNetworks()).toEqual([])
    // The first network is two days old; a new one now is an anomaly, one in the same /24 is not.
    await a.db.sql`UPDATE api_key_networks SET first_seen = now() - interval '2 days' WHERE api_key_id = ${k.id}`
    expect((await ask(a, k.key, 'tee-chat', '198.51.100.99')).status).toBe(200)
    expect((await ask(b, k.key, 'tee-chat', '203.0.113.50')).status).toBe(200)
    expect(await a.s.security.anomalies.flushNetworks()).toEqual([])
    const found = await b.s.security.anomalies.flushNetworks()
    expect(found).toEqual([{ keyId: k.id, kind: 'new_network', details: { network: '203.0.113.0/24' } }])
  })

  test('networks: /24 for IPv4, /48 for IPv6', () => {
    expect(networkOf('203.0.113.50')).toBe('203.0.113.0/24')
    expect(networkOf('::ffff:203.0.113.50')).toBe('203.0.113.0/24')
    expect(networkOf('2001:db8:abcd:12::1')).toBe('2001:db8:abcd::/48')
    expect(networkOf('nonsense')).toBeNull()
  })
})

describe('suspend', () => {
  test('under the suspend policy the key stops on every replica until an administrator reinstates it', async () => {
    expect((await a.call('PUT', '/api-internal/v1/security/settings', { token: admin, body: { key_anomaly_policy: 'suspend' } })).status).toBe(200)
    try {
      const k = await keyOf(a, 'stolen')
      await history(k.id, k.userId, 3, 5)
      await burst(k.key, 110)
      expect((await a.s.security.anomalies.detect()).find((f) => f.keyId === k.id)?.kind).toBe('request_spike')
      for (const env of [a, b]) {
        const res = await ask(env, k.key)
        expect(res.status).toBe(403)
        expect(res.body.error.code).toBe('api_key_suspended')
      }
      const listed = await a.call('GET', '/api-internal/v1/security/keys/suspended', { token: admin })
      expect(listed.body.data.find((x: { id: string }) => x.id === k.id)?.suspended_reason).toContain('request spike')
      const owner = await a.call('GET', `/api-internal/v1/api-keys/${k.id}`, { token: admin })
      expect(owner.body.suspended_at).not.toBeNull()
      // Reinstated: at once, everywhere, and the traffic that caused it does not suspend it again.
      expect((await b.call('POST', `/api-internal/v1/security/keys/${k.id}/reinstate`, { token: admin })).status).toBe(200)
      expect((await ask(a, k.key)).status).toBe(200)
      expect((await ask(b, k.key)).status).toBe(200)
      await a.s.ledger.flush()
      // Not the once-an-hour rule: the reinstatement's own grace window.
      await a.cache.delete(`sec:anomaly:${k.id}:request_spike`)
      expect((await a.s.security.anomalies.detect()).filter((f) => f.keyId === k.id)).toEqual([])
      expect((await ask(a, k.key)).status).toBe(200)
      const actions = await a.db.sql<{ action: string }[]>`SELECT action FROM audit_log WHERE resource_id = ${k.id} AND action LIKE 'security.key_%' ORDER BY id`
      expect(actions.map((r) => r.action)).toEqual(['security.key_anomaly', 'security.key_suspended', 'security.key_reinstated'])
      expect((await a.call('POST', `/api-internal/v1/security/keys/${k.id}/reinstate`, { token: admin })).status).toBe(404)
    } finally {
      await a.call('PUT', '/api-internal/v1/security/settings', { token: admin, body: { key_anomaly_policy: 'alert' } })
    }
  }, 30_000)

  test('an administrator can suspend a key by hand; users cannot', async () => {
    const k = await keyOf(a, 'manual')
    const u = await a.user('user')
    expect((await a.call('POST', `/api-internal/v1/security/keys/${k.id}/suspend`, { token: u.token })).status).toBe(403)
    expect((await a.call('POST', `/api-internal/v1/security/keys/${k.id}/suspend`, { token: admin })).body).toEqual({ suspended: true })
    expect((await ask(b, k.key)).body.error.code).toBe('api_key_suspended')
  })
})
