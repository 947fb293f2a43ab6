/**
 * Notifications on two replicas (A and B) over one database and cache, against a local webhook receiver and a local
 * SMTP sink (npm smtp-server): channels and their validation (the network guard for webhook URLs), the signature
 * exactly as documented, retries with backoff, delivery finished by another replica and once across replicas, email
 * over SMTP, every event raised where it happens (once, whichever replicas see it), the inbox and its subscriptions,
 * and the delivery log.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHmac } from 'node:crypto'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { headerOf, startSmtpSink, type SmtpSink } from '../../test/fixtures/smtp-sink.ts'
import { verifyWebhook } from './senders.ts'

interface Hit {
  headers: Record<string, string>
  body: string
  json: { id: string; type: string; title: string; data: Record<string, unknown> }
}

let A: TestEnv
let B: TestEnv
let up: Upstream
let smtp: SmtpSink
let admin: string
let receiver: ReturnType<typeof Bun.serve>
let hits: Hit[] = []
/** Statuses the receiver answers with, in turn; 200 once they run out. */
let answers: number[] = []
let hookUrl: string

beforeAll(async () => {
  receiver = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const body = await req.text()
      hits.push({ headers: Object.fromEntries(req.headers), body, json: JSON.parse(body) })
      return new Response('ok', { status: answers.shift() ?? 200 })
    },
  })
  hookUrl = `http://127.0.0.1:${receiver.port}/hook`
  smtp = await startSmtpSink({ auth: { user: 'mailer', pass: 'smtp-secret' } })
  up = await startUpstream({ models: ['tee-chat'] })
  A = await createTestEnv({ PRIVATEMODE_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  B = await createTestEnv({}, A)
  for (const env of [A, B]) env.s.notifications.retryDelaysMs = [150, 150, 150, 150, 150, 150, 150]
  admin = await A.adminToken()
  const set = await A.call('PATCH', '/api-internal/v1/settings', {
    token: admin,
    body: { smtp_host: '127.0.0.1', smtp_port: smtp.port, smtp_security: 'none', smtp_username: 'mailer', smtp_password: 'smtp-secret', smtp_from: 'Enclava <alerts@test.local>' },
  })
  expect(set.status).toBe(200)
})
afterAll(async () => {
  await B?.close()
  await A?.close()
  await up?.stop()
  await smtp?.stop()
  receiver?.stop(true)
})

const N = '/api-internal/v1/notifications'

async function within<T>(ms: number, check: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const start = Date.now()
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`)
    await Bun.sleep(25)
  }
}

async function adminChannel(events: string[], extra: Record<string, unknown> = {}) {
  const res = await A.call('POST', `${N}/channels`, { token: admin, body: { name: `hook ${events.join(',')}`, type: 'webhook', url: hookUrl, events, scope: 'admin', ...extra } })
  expect(res.status).toBe(201)
  return res.body as { id: string; secret: string }
}

const hitsOf = (type: string) => hits.filter((h) => h.json.type === type)

describe('channels', () => {
  test('bad input is a 4xx naming the field; a user’s webhook must reach a public address', async () => {
    const u = await A.user('user')
    const cases: [Record<string, unknown>, number, string][] = [
      [{ name: 'x', type: 'webhook', url: hookUrl, events: ['key.expiring'] }, 400, 'url'],
      [{ name: 'x', type: 'webhook', url: 'http://10.1.2.3/hook', events: ['key.expiring'] }, 400, 'url'],
      [{ name: 'x', type: 'webhook', url: 'ftp://example.com/hook', events: ['key.expiring'] }, 400, 'url'],
      [{ name: 'x', type: 'webhook', url: 'https://user:pw@example.com/hook', events: ['key.expiring'] }, 400, 'url'],
      [{ name: 'x', type: 'webhook', events: ['key.expiring'] }, 400, 'url'],
      [{ name: 'x', type: 'email', address: 'me@example.com', url: 'https://example.com', events: ['key.expiring'] }, 400, 'url'],
      [{ name: 'x', type: 'email', address: 'not-an-address', events: ['key.expiring'] }, 400, 'address'],
      [{ name: 'x', type: 'email', address: 'me@example.com', events: ['key.expiring', 'provider.down'] }, 400, 'events[1]'],
      [{ name: 'x', type: 'email', address: 'me@example.com', events: ['weather.changed'] }, 400, 'events[0]'],
      [{ name: 'x', type: 'email', address: 'me@example.com', events: ['key.expiring'], secret: 'x'.repeat(20) }, 400, 'secret'],
      [{ name: 'x', type: 'email', address: 'me@example.com', events: ['key.expiring'], scope: 'admin' }, 403, 'scope'],
    ]
    for (const [body, status, param] of cases) {
      const res = await A.call('POST', `${N}/channels`, { token: u.token, body })
      expect({ body, status: res.status, param: res.body.error?.param }).toEqual({ body, status, param })
    }
    expect((await A.call('POST', `${N}/channels`, { token: u.token, body: { name: 'x', type: 'sms', events: ['key.expiring'] } })).status).toBe(400)
    // A public address is fine (nothing is sent to it here).
    const ok = await A.call('POST', `${N}/channels`, { token: u.token, body: { name: 'mine', type: 'webhook', url: 'https://93.184.215.14/hook', events: ['key.expiring'] } })
    expect(ok.status).toBe(201)
    expect(ok.body).toMatchObject({ scope: 'user', has_secret: true })
    expect(ok.body.secret).toMatch(/^whsec_/)
    const other = await A.user('user')
    expect((await A.call('GET', `${N}/channels/${ok.body.id}`, { token: other.token })).status).toBe(404)
    expect((await A.call('GET', `${N}/channels/${ok.body.id}`, { token: u.token })).body.secret).toBeUndefined()
    // A channel type turned off in the settings cannot be added.
    expect((await A.call('PATCH', '/api-internal/v1/settings', { token: admin, body: { notification_channel_types: ['email'] } })).status).toBe(200)
    const off = await A.call('POST', `${N}/channels`, { token: admin, body: { name: 'x', type: 'webhook', url: hookUrl, events: ['provider.down'], scope: 'admin' } })
    expect(off.body.error).toMatchObject({ param: 'type' })
    expect((await A.call('PATCH', '/api-internal/v1/settings', { token: admin, body: { notification_channel_types: ['webhook', 'email'] } })).status).toBe(200)
  })

  test('webhooks are signed exactly as documented; the secret is sealed at rest and shown once', async () => {
    const ch = await adminChannel(['provider.down'], { secret: 'a-secret-of-the-receiver-1234' })
    expect(ch.secret).toBe('a-secret-of-the-receiver-1234')
    const [row] = await A.db.sql<{ secret: string }[]>`SELECT secret FROM notification_channels WHERE id = ${ch.id}`
    expect(row!.secret).not.toContain('a-secret-of-the-receiver')
    hits = []
    const tested = await A.call('POST', `${N}/channels/${ch.id}/test`, { token: admin })
    expect(tested.status).toBe(200)
    expect(tested.body).toMatchObject({ status: 'delivered', attempts: 1, response_status: 200, event: { type: 'notification.test' } })
    expect(hits).toHaveLength(1)
    const hit = hits[0]!
    const signature = hit.headers['x-enclava-signature']!
    expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/)
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature)!
    expect(Math.abs(Number(t) - Date.now() / 1000)).toBeLessThan(60)
    expect(v1).toBe(createHmac('sha256', 'a-secret-of-the-receiver-1234').update(`${t}.${hit.body}`).digest('hex'))
    expect(verifyWebhook('a-secret-of-the-receiver-1234', signature, hit.body)).toBe(true)
    expect(verifyWebhook('another-secret-entirely-000', signature, hit.body)).toBe(false)
    expect(verifyWebhook('a-secret-of-the-receiver-1234', signature, `${hit.body} `)).toBe(false)
    expect(hit.headers).toMatchObject({ 'content-type': 'application/json', 'x-enclava-event': 'notification.test', 'x-enclava-delivery': tested.body.id })
    const rotated = await A.call('POST', `${N}/channels/${ch.id}/rotate-secret`, { token: admin })
    expect(rotated.body.secret).toMatch(/^whsec_/)
    await A.call('DELETE', `${N}/channels/${ch.id}`, { token: admin })
  })
})

describe('delivery', () => {
  test('a failed delivery is retried with backoff, and the log says so', async () => {
    const ch = await adminChannel(['provider.recovered'])
    hits = []
    answers = [500, 503]
    await A.s.notifications.emit({ type: 'provider.recovered', key: `t:${crypto.randomUUID()}`, userId: null, title: 'Provider p recovered', data: { provider: 'p' } })
    const first = await within(3000, async () => {
      const log = await A.call('GET', `${N}/deliveries?scope=admin&channel_id=${ch.id}`, { token: admin })
      const d = log.body.data[0]
      return d && d.attempts >= 1 && d.status === 'pending' ? d : undefined
    })
    expect(first.last_error).toContain('answered 500')
    expect(first.response_status).toBe(500)
    expect(Date.parse(first.next_attempt_at)).toBeGreaterThan(Date.now() - 1000)
    const done = await within(5000, async () => {
      const d = (await A.call('GET', `${N}/deliveries?scope=admin&channel_id=${ch.id}`, { token: admin })).body.data[0]
      return d.status === 'delivered' ? d : undefined
    })
    expect(done).toMatchObject({ attempts: 3, response_status: 200, last_error: null })
    expect(hits.map((h) => h.headers['x-enclava-attempt'])).toEqual(['1', '2', '3'])
    // The same bytes each time: receivers dedupe on the event id.
    expect(new Set(hits.map((h) => h.json.id)).size).toBe(1)
    await A.call('DELETE', `${N}/channels/${ch.id}`, { token: admin })
  })

  test('gives up after the last attempt; an administrator queues it again', async () => {
    const ch = await adminChannel(['plugin.disabled'])
    hits = []
    answers = Array(8).fill(500)
    await A.s.notifications.emit({ type: 'plugin.disabled', key: `t:${crypto.randomUUID()}`, userId: null, title: 'Plugin x was disabled', data: {} })
    const failed = await within(8000, async () => {
      const d = (await A.call('GET', `${N}/deliveries?scope=admin&status=failed&channel_id=${ch.id}`, { token: admin })).body.data[0]
      return d
    })
    expect(failed.attempts).toBe(8)
    answers = []
    expect((await A.call('POST', `${N}/deliveries/${failed.id}/retry`, { token: admin })).status).toBe(202)
    await within(3000, async () => (await A.call('GET', `${N}/deliveries?scope=admin&status=delivered&channel_id=${ch.id}`, { token: admin })).body.total === 1)
    const u = await A.user('user')
    expect((await A.call('POST', `${N}/deliveries/${failed.id}/retry`, { token: u.token })).status).toBe(404)
    expect((await A.call('GET', `${N}/deliveries?scope=admin`, { token: u.token })).status).toBe(403)
    await A.call('DELETE', `${N}/channels/${ch.id}`, { token: admin })
  }, 20_000)

  test('a delivery left by a stopped or dead replica is finished by another, and each is sent once across replicas', async () => {
    const ch = await adminChannel(['security.event'])
    hits = []
    // A dead replica's claim: "delivering" under a lease that ran out.
    const id = await A.s.notifications.emit({ type: 'security.event', key: `t:${crypto.randomUUID()}`, userId: null, title: 'orphan', data: {} })
    await A.db.sql`UPDATE notification_deliveries SET status = 'delivering', locked_by = 'dead-replica', lease_until = now() - interval '1 second', attempts = 1 WHERE event_id = ${id}`
    await within(3000, () => hits.some((h) => h.json.id === id))
    // Both replicas' workers running, 20 events raised on both at once (each twice: a replica raising what the other did).
    hits = []
    const keys = Array.from({ length: 20 }, () => `t:${crypto.randomUUID()}`)
    await Promise.all(keys.flatMap((key) => [A, B].map((env) => env.s.notifications.emit({ type: 'security.event', key, userId: null, title: key, data: {} }))))
    await within(8000, () => new Set(hits.map((h) => h.json.title)).size === 20)
    await Bun.sleep(500)
    expect(hits).toHaveLength(20)
    const [count] = await A.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM notification_events WHERE dedupe_key = ANY(${keys})`
    expect(count!.n).toBe(20)
    // A stopped replica's queue: raised on A while A's worker is off, delivered by B.
    await A.s.notifications.stop()
    hits = []
    const later = await A.s.notifications.emit({ type: 'security.event', key: `t:${crypto.randomUUID()}`, userId: null, title: 'while A is off', data: {} })
    await within(3000, () => hits.some((h) => h.json.id === later))
    A.s.notifications.start()
    await A.call('DELETE', `${N}/channels/${ch.id}`, { token: admin })
  }, 30_000)

  test('email goes over SMTP (authenticated) to an email channel', async () => {
    const u = await A.user('user')
    const ch = await A.call('POST', `${N}/channels`, { token: u.token, body: { name: 'mail', type: 'email', address: u.email, events: ['key.expiring'] } })
    expect(ch.status).toBe(201)
    expect(ch.body.secret).toBeNull()
    const key = await A.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'soon gone', expires_at: new Date(Date.now() + 3 * 86_400_000).toISOString() } })
    expect(key.status).toBe(201)
    await Promise.all([A.s.notificationSources.check(), B.s.notificationSources.check()])
    const mail = await within(5000, () => smtp.messages.find((m) => m.to.includes(u.email)))
    expect(mail.from).toBe('alerts@test.local')
    expect(mail.user).toBe('mailer')
    expect(headerOf(mail.raw, 'Subject')).toStartWith('[Enclava] API key "soon gone" expires ')
    expect(headerOf(mail.raw, 'X-Enclava-Event')).toBe('key.expiring')
    expect(smtp.messages.filter((m) => m.to.includes(u.email))).toHaveLength(1)
    const log = await A.call('GET', `${N}/deliveries`, { token: u.token })
    expect(log.body.data[0]).toMatchObject({ status: 'delivered', response_status: 250, channel: { type: 'email' }, event: { type: 'key.expiring' } })
    // The inbox has it too, once.
    const inbox = await A.call('GET', N, { token: u.token })
    expect(inbox.body.data.filter((n: { type: string }) => n.type === 'key.expiring')).toHaveLength(1)
  })
})

describe('events, raised where they happen', () => {
  test('budget.warning (from the usage ledger) and budget.exhausted, to the budget owner and platform-wide channels', async () => {
    const ch = await adminChannel(['budget.warning', 'budget.exhausted'])
    hits = []
    const u = await A.user('user')
    const key = await A.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'spender' } })
    const budget = await A.call('POST', '/api-internal/v1/budgets', {
      token: u.token,
      body: { name: 'tiny', scope: 'api_key', api_key_id: key.body.id, limit_usd: 0.00002, period: 'monthly', is_hard: false, warn_threshold_pct: 50 },
    })
    expect(budget.status).toBe(201)
    for (let i = 0; i < 3; i++)
      expect(
        (await A.call('POST', '/api/v1/chat/completions', { apiKey: key.body.key, body: { model: 'tee-chat', messages: [{ role: 'user', content: 'one two three' }], max_tokens: 20 } })).status,
      ).toBe(200)
    await A.s.ledger.flush()
    const warning = await within(3000, () => hitsOf('budget.warning')[0])
    expect(warning.json.data).toMatchObject({ budget_id: budget.body.id, name: 'tiny', scope: 'api_key' })
    await Promise.all([A.s.notificationSources.check(), B.s.notificationSources.check(), A.s.notificationSources.check()])
    const exhausted = await within(3000, () => hitsOf('budget.exhausted')[0])
    expect(exhausted.json.title).toBe('Budget "tiny" is exhausted')
    await Bun.sleep(300)
    expect(hitsOf('budget.exhausted')).toHaveLength(1)
    // The key's owner sees both in their inbox.
    const inbox = await A.call('GET', N, { token: u.token })
    expect(inbox.body.data.map((n: { type: string }) => n.type).sort()).toEqual(['budget.exhausted', 'budget.warning'])
    await A.call('DELETE', `${N}/channels/${ch.id}`, { token: admin })
  })

  test('provider.down from a real circuit; down and recovered once however many replicas see it', async () => {
    const ch = await adminChannel(['provider.down', 'provider.recovered'])
    hits = []
    up.setBehavior('error-500')
    const u = await A.user('user')
    const key = await A.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'k' } })
    for (let i = 0; i < 6; i++) await A.call('POST', '/api/v1/chat/completions', { apiKey: key.body.key, body: { model: 'tee-chat', messages: [{ role: 'user', content: 'x' }] } })
    up.setBehavior('ok')
    const down = await within(3000, () => hitsOf('provider.down')[0])
    expect(down.json.data).toMatchObject({ provider: 'privatemode' })
    // Other replicas' circuits opening too raise nothing more; recovery, seen by both, is raised once.
    await Promise.all([B.s.notificationSources.providerCircuit('privatemode', 'open', 'x'), A.s.notificationSources.providerCircuit('privatemode', 'open', 'y')])
    await Promise.all([B.s.notificationSources.providerCircuit('privatemode', 'closed', null), A.s.notificationSources.providerCircuit('privatemode', 'closed', null)])
    const recovered = await within(3000, () => hitsOf('provider.recovered')[0])
    expect(recovered.json.data).toMatchObject({ provider: 'privatemode' })
    await Bun.sleep(300)
    expect(hitsOf('provider.down')).toHaveLength(1)
    expect(hitsOf('provider.recovered')).toHaveLength(1)
    // Platform events reach the inbox of those whose role holds the permission (providers:manage), not others'.
    expect((await A.call('GET', N, { token: admin })).body.data.some((n: { type: string }) => n.type === 'provider.down')).toBe(true)
    expect((await A.call('GET', N, { token: u.token })).body.data.some((n: { type: string }) => n.type === 'provider.down')).toBe(false)
    await A.call('DELETE', `${N}/channels/${ch.id}`, { token: admin })
  })

  test('security.event from the audit log (a key suspended), once per kind and subject per window', async () => {
    const ch = await adminChannel(['security.event'])
    hits = []
    const u = await A.user('user')
    const key = await A.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'leaked' } })
    expect((await B.call('POST', `/api-internal/v1/security/keys/${key.body.id}/suspend`, { token: admin })).status).toBe(200)
    const event = await within(3000, () => hits.find((h) => h.json.data.action === 'security.key_suspended'))
    expect(event.json.data).toMatchObject({ severity: 'high', resource_id: key.body.id })
    await A.call('DELETE', `${N}/channels/${ch.id}`, { token: admin })
  })

  test('plugin.disabled from the plugin service, once per time the plugin was enabled', async () => {
    const ch = await adminChannel(['plugin.disabled'])
    hits = []
    // The hook the plugin service calls when it disables a plugin by itself (quarantine, repeated limit violations).
    A.s.plugins.deps.onAutoDisabled?.('broken', 'disabled automatically after 5 limit violations within 10 minutes')
    B.s.plugins.deps.onAutoDisabled?.('broken', 'disabled automatically after 5 limit violations within 10 minutes')
    const hit = await within(3000, () => hitsOf('plugin.disabled')[0])
    expect(hit.json.data).toMatchObject({ plugin: 'broken' })
    await Bun.sleep(300)
    expect(hitsOf('plugin.disabled')).toHaveLength(1)
    await A.call('DELETE', `${N}/channels/${ch.id}`, { token: admin })
  })

  test('document.failed from the indexing queue, to the collection owner (inbox, email) and platform-wide channels', async () => {
    const ch = await adminChannel(['document.failed'])
    hits = []
    const u = await A.user('user')
    const mail = await A.call('POST', `${N}/channels`, { token: u.token, body: { name: 'mail', type: 'email', address: u.email, events: ['document.failed'] } })
    expect(mail.status).toBe(201)
    const coll = await A.call('POST', '/api-internal/v1/rag/collections', { token: u.token, body: { name: 'broken docs' } })
    const form = new FormData()
    form.append('files', new File(['this is not a pdf at all'], 'report.pdf', { type: 'application/pdf' }))
    const upload = await A.app.handle(
      new Request(`http://localhost/api-internal/v1/rag/collections/${coll.body.id}/documents`, { method: 'POST', headers: { authorization: `Bearer ${u.token}` }, body: form }),
    )
    expect(upload.status).toBe(202)
    const hit = await within(15_000, () => hitsOf('document.failed')[0])
    expect(hit.json.data).toMatchObject({ filename: 'report.pdf', collection_id: coll.body.id, collection: 'broken docs' })
    await within(5000, () => smtp.messages.find((m) => m.to.includes(u.email) && m.raw.includes('report.pdf could not be indexed')))
    const inbox = await A.call('GET', N, { token: u.token })
    expect(inbox.body.data[0]).toMatchObject({ type: 'document.failed', title: 'report.pdf could not be indexed', read_at: null })
    await A.call('DELETE', `${N}/channels/${ch.id}`, { token: admin })
  }, 30_000)
})

describe('inbox and subscriptions', () => {
  test('read, read-all, and choosing what the inbox shows', async () => {
    const u = await A.user('user')
    const subs = await A.call('GET', `${N}/subscriptions`, { token: u.token })
    expect(subs.body.available.sort()).toEqual(['budget.exhausted', 'budget.warning', 'document.failed', 'key.expiring'])
    const types = await A.call('GET', `${N}/event-types`, { token: u.token })
    expect(types.body.data.find((e: { type: string }) => e.type === 'provider.down')).toMatchObject({ audience: 'platform', available: false })
    const refused = await A.call('PUT', `${N}/subscriptions`, { token: u.token, body: { events: ['key.expiring', 'provider.down'] } })
    expect(refused.status).toBe(400)
    expect(refused.body.error.param).toBe('events[1]')
    expect((await A.call('PUT', `${N}/subscriptions`, { token: u.token, body: { events: ['document.failed'] } })).body.events).toEqual(['document.failed'])
    const emit = (type: 'key.expiring' | 'document.failed') =>
      A.s.notifications.emit({ type, key: `t:${crypto.randomUUID()}`, userId: u.id, title: type, data: {} })
    await emit('key.expiring')
    await emit('document.failed')
    await emit('document.failed')
    const inbox = await A.call('GET', N, { token: u.token })
    expect(inbox.body).toMatchObject({ total: 2, unread: 2 })
    expect(inbox.body.data.every((n: { type: string }) => n.type === 'document.failed')).toBe(true)
    expect((await A.call('POST', `${N}/${inbox.body.data[0].id}/read`, { token: u.token })).body).toEqual({ marked: 1 })
    expect((await A.call('GET', `${N}?unread=true`, { token: u.token })).body.data).toHaveLength(1)
    expect((await A.call('POST', `${N}/read-all`, { token: u.token })).body).toEqual({ marked: 1 })
    expect((await A.call('GET', N, { token: u.token })).body.unread).toBe(0)
    const other = await A.user('user')
    expect((await A.call('POST', `${N}/${inbox.body.data[0].id}/read`, { token: other.token })).status).toBe(404)
  })
})
