/**
 * Threat detection by address, on two replicas sharing the database and the cache (Redis when REDIS_URL is set):
 * credential stuffing from one address blocks it everywhere (429 ip_blocked with Retry-After, even with valid
 * credentials) while other addresses sign in; probing blocks its address; an administrator lifts a block at once;
 * trusted addresses and normal traffic are never blocked.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { probeKind } from './threats.ts'

let a: TestEnv
let b: TestEnv
let admin: string

const login = (env: TestEnv, ip: string, email: string, password: string) =>
  env.call('POST', '/api-internal/v1/auth/login', { body: { email, password }, headers: { 'x-forwarded-for': ip } })

/** Events are written off the request path: wait for one. */
async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await read()
  for (let i = 0; i < 100 && !ok(v); i++) {
    await Bun.sleep(20)
    v = await read()
  }
  return v
}

beforeAll(async () => {
  a = await createTestEnv({ TRUST_PROXY: 'true', SECURITY_TRUSTED_IPS: '10.99.0.0/16', PROBE_THRESHOLD: '5' })
  b = await createTestEnv({ TRUST_PROXY: 'true', SECURITY_TRUSTED_IPS: '10.99.0.0/16', PROBE_THRESHOLD: '5' }, a)
  admin = await a.adminToken()
})
afterAll(async () => {
  await b.close()
  await a.close()
})

describe('credential stuffing', () => {
  test('more than 20 failures from one address over 5+ accounts block it on every replica, valid credentials included; other addresses are unaffected', async () => {
    const victim = await a.user('user')
    const attacker = '203.0.113.7'
    // 20 failures across 7 accounts (known and unknown), spread over both replicas: not yet more than 20.
    for (let i = 0; i < 20; i++) {
      const env = i % 2 ? b : a
      const res = await login(env, attacker, i % 7 === 0 ? victim.email : `nobody${i % 7}@test.local`, 'wrong-password-123')
      expect(res.status).toBe(401)
    }
    expect((await login(a, attacker, victim.email, victim.password)).status).toBe(200)
    // The 21st.
    expect((await login(b, attacker, 'nobody3@test.local', 'wrong-password-123')).status).toBe(401)
    for (const env of [a, b]) {
      const blocked = await login(env, attacker, victim.email, victim.password)
      expect(blocked.status).toBe(429)
      expect(blocked.body.error.code).toBe('ip_blocked')
      const retry = Number(blocked.headers.get('retry-after'))
      expect(retry).toBeGreaterThan(14 * 60)
      expect(retry).toBeLessThanOrEqual(15 * 60)
      // Every other route too: the address is blocked, not the sign-in.
      expect((await env.call('GET', '/api-internal/v1/auth/me', { headers: { 'x-forwarded-for': attacker } })).status).toBe(429)
    }
    expect((await login(b, '198.51.100.20', victim.email, victim.password)).status).toBe(200)
    // Health checks are never blocked.
    expect((await a.call('GET', '/health', { headers: { 'x-forwarded-for': attacker } })).status).toBe(200)
    const events = await a.call('GET', `/api-internal/v1/security/events?action=security.ip_blocked&ip=${attacker}`, { token: admin })
    expect(events.body.total).toBe(1)
    expect(events.body.data[0]).toMatchObject({ severity: 'high', resource_id: attacker, details: { reason: 'credential_stuffing', accounts: 7 } })

    // An administrator lifts it: at once, on both replicas, audited.
    const lift = await a.call('DELETE', `/api-internal/v1/security/blocks/${attacker}`, { token: admin })
    expect(lift.status).toBe(204)
    expect((await eventually(() => login(b, attacker, victim.email, victim.password), (r) => r.status === 200)).status).toBe(200)
    const [unblocked] = await a.db.sql`SELECT actor_label FROM audit_log WHERE action = 'security.ip_unblocked' AND resource_id = ${attacker}`
    expect(unblocked).toBeDefined()
  })

  test('failures against one account only lock that account, not the address (fewer than 5 accounts)', async () => {
    const u = await a.user('user')
    const ip = '203.0.113.8'
    for (let i = 0; i < 25; i++) await login(a, ip, u.email, 'wrong-password-123')
    const other = await a.user('user')
    expect((await login(a, ip, other.email, other.password)).status).toBe(200)
    // The per-account lockout still applies to the account that was attacked.
    expect((await login(a, ip, u.email, u.password)).status).toBe(423)
  })

  test('a trusted address is never blocked', async () => {
    const ip = '10.99.1.2'
    for (let i = 0; i < 22; i++) await login(a, ip, `ghost${i % 6}@test.local`, 'wrong-password-123')
    const u = await a.user('user')
    expect((await login(a, ip, u.email, u.password)).status).toBe(200)
  })
})

describe('probing', () => {
  test('request lines with traversal, injection or scanner patterns are recognised; ordinary ones are not', () => {
    const table: [string, string | null, string | null][] = [
      ['http://h/api/v1/../../etc/passwd', null, 'traversal'],
      ['http://h/static/..%2f..%2fconfig', null, 'traversal'],
      ['http://h/api/v1/models?id=1%27%20OR%201=1', null, 'injection'],
      ['http://h/search?q=1 UNION SELECT password FROM users', null, 'injection'],
      ['http://h/?x=${jndi:ldap://e.com/a}', null, 'injection'],
      ['http://h/.env', null, 'scanner_path'],
      ['http://h/.git/config', null, 'scanner_path'],
      ['http://h/wp-login.php', null, 'scanner_path'],
      ['http://h/cgi-bin/test', null, 'scanner_path'],
      ['http://h/api/v1/models', 'sqlmap/1.7.2#stable', 'scanner_agent'],
      ['http://h/api/v1/models', 'Mozilla/5.0 (compatible; Nuclei)', 'scanner_agent'],
      ['http://h/api/v1/chat/completions', 'OpenAI/JS 4.67.0', null],
      ['http://h/api-internal/v1/rag/collections/123/documents?q=union+of+sets', null, null],
      ['http://h/api/v1/models/google/gemma-3-27b', 'python-httpx/0.27', null],
      ['http://h/assets/index-3f2a.js', 'Mozilla/5.0', null],
      ['http://h/documents/a.b..c', null, null],
      ['http://h/api-internal/v1/audit?actor=o%27brien', null, null],
    ]
    for (const [url, ua, kind] of table) expect([url, probeKind(url, ua)]).toEqual([url, kind])
  })

  test('past the threshold (5 here) the address is blocked; ordinary traffic from another address is not', async () => {
    const ip = '192.0.2.66'
    const u = await a.user('user')
    for (let i = 0; i < 6; i++) await a.call('GET', `/api/v1/models?x=${i}%27%20OR%201=1`, { headers: { 'x-forwarded-for': ip } })
    const blocked = await eventually(() => a.call('GET', '/api-internal/v1/auth/me', { token: u.token, headers: { 'x-forwarded-for': ip } }), (r) => r.status === 429)
    expect(blocked.body.error.code).toBe('ip_blocked')
    expect(blocked.headers.get('retry-after')).toBeTruthy()
    expect((await b.call('GET', '/api-internal/v1/auth/me', { token: u.token, headers: { 'x-forwarded-for': ip } })).status).toBe(429)
    expect((await a.call('GET', '/api-internal/v1/auth/me', { token: u.token, headers: { 'x-forwarded-for': '192.0.2.67' } })).status).toBe(200)
    const blocks = await a.call('GET', '/api-internal/v1/security/blocks', { token: admin })
    expect(blocks.body.data.find((x: { ip: string }) => x.ip === ip)).toMatchObject({ reason: 'probing', lifted_at: null })
    const probe = await a.call('GET', '/api-internal/v1/security/events?action=security.probe', { token: admin })
    expect(probe.body.data.some((e: { resource_id: string }) => e.resource_id === ip)).toBe(true)
  })

  test('six hundred ordinary requests from one address block nothing', async () => {
    const u = await a.user('user')
    const key = (await a.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'load' } })).body.key
    const ip = '192.0.2.100'
    for (let i = 0; i < 600; i++) {
      const res = await a.call('GET', i % 2 ? '/api/v1/me' : '/api/v1/models', { apiKey: key, headers: { 'x-forwarded-for': ip, 'user-agent': 'OpenAI/JS 4.67.0' } })
      expect(res.status).toBe(200)
    }
    expect(a.s.security.blocks.blocked(ip)).toBeNull()
  }, 60_000)
})

describe('administration', () => {
  test('manual blocks and lifts, the events feed with filters and export, and thresholds in settings; only administrators', async () => {
    const u = await a.user('user')
    expect((await a.call('GET', '/api-internal/v1/security/events', { token: u.token })).status).toBe(403)
    expect((await a.call('POST', '/api-internal/v1/security/blocks', { token: u.token, body: { ip: '192.0.2.9' } })).status).toBe(403)
    const block = await a.call('POST', '/api-internal/v1/security/blocks', { token: admin, body: { ip: '::ffff:192.0.2.9', minutes: 5, reason: 'test' } })
    expect(block.status).toBe(201)
    expect(block.body.ip).toBe('192.0.2.9')
    expect((await b.call('GET', '/health/ready', { headers: { 'x-forwarded-for': '192.0.2.9' } })).status).not.toBe(429)
    expect((await eventually(() => b.call('GET', '/api/v1/models', { headers: { 'x-forwarded-for': '192.0.2.9' } }), (r) => r.status === 429)).status).toBe(429)
    expect((await a.call('DELETE', '/api-internal/v1/security/blocks/192.0.2.9', { token: admin })).status).toBe(204)
    expect((await a.call('DELETE', '/api-internal/v1/security/blocks/192.0.2.9', { token: admin })).status).toBe(404)

    const high = await a.call('GET', '/api-internal/v1/security/events?severity=high&limit=500', { token: admin })
    expect(high.body.data.length).toBeGreaterThan(0)
    expect(high.body.data.every((e: { severity: string }) => e.severity === 'high')).toBe(true)
    const csv = await a.app.handle(new Request('http://localhost/api-internal/v1/security/events/export?format=csv', { headers: { authorization: `Bearer ${admin}` } }))
    expect(csv.headers.get('content-type')).toContain('text/csv')
    expect(await csv.text()).toContain('security.ip_blocked')

    const settings = await a.call('GET', '/api-internal/v1/security/settings', { token: admin })
    expect(settings.body.settings).toMatchObject({ login_ip_max_failures: 20, login_ip_min_accounts: 5, login_ip_window_minutes: 10, login_ip_block_minutes: 15, probe_threshold: 5 })
    const put = await a.call('PUT', '/api-internal/v1/security/settings', { token: admin, body: { login_ip_max_failures: 3, login_ip_min_accounts: 2 } })
    expect(put.status).toBe(200)
    // Replica b hears of it.
    await eventually(async () => b.s.security.settings.current.login_ip_max_failures, (n) => n === 3)
    const ip = '198.51.100.77'
    for (let i = 0; i < 4; i++) await login(b, ip, `x${i % 2}@test.local`, 'wrong-password-123')
    expect((await login(b, ip, 'x@test.local', 'whatever-password')).status).toBe(429)
    expect((await a.call('PUT', '/api-internal/v1/security/settings', { token: admin, body: { trusted_ips: ['not an ip'] } })).status).toBe(400)
    expect((await a.call('PUT', '/api-internal/v1/security/settings', { token: u.token, body: { probe_threshold: 100 } })).status).toBe(403)
    const [change] = await a.db.sql<{ details: Record<string, unknown> }[]>`SELECT details FROM audit_log WHERE action = 'security.settings_change' ORDER BY id DESC LIMIT 1`
    expect(change?.details).toMatchObject({ login_ip_max_failures: { from: 20, to: 3 } })
    await a.call('PUT', '/api-internal/v1/security/settings', { token: admin, body: { login_ip_max_failures: 20, login_ip_min_accounts: 5 } })
  })
})
