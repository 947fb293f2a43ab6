/**
 * The shipped zammad plugin on the real platform: discovered from plugins/, granted by an administrator (the Zammad
 * host, the model, a budget), configured with sealed secrets, called by a signed webhook; it reads the ticket from a
 * local server speaking Zammad's API, summarises through the gateway, posts an internal note and records the run.
 * Also: the sandbox process killed outright comes back and the plugin answers again.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { startZammad, signZammad, zammadWebhookPayload, type ZammadFixture } from './fixtures/zammad.ts'
import { startUpstream, type Upstream } from './fixtures/upstream.ts'
import { createTestEnv, type TestEnv } from './harness.ts'

let env: TestEnv
let up: Upstream
let zammad: ZammadFixture
let admin: string
const A = '/api-internal/v1/plugin-admin/plugins'

beforeAll(async () => {
  up = await startUpstream({ models: ['privatemode-default'] })
  zammad = await startZammad({ token: 'zammad-secret-token' })
  env = await createTestEnv({ PLUGINS_DIRS: join(import.meta.dir, '..', 'plugins'), PRIVATEMODE_URL: up.url })
  admin = await env.adminToken()
})
afterAll(async () => {
  await env.close()
  await up.stop()
  await zammad.stop()
})

const webhook = (body: string, signature?: string) =>
  env.app.handle(
    new Request('http://localhost/api/v1/plugins/zammad/webhook', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(signature ? { 'x-hub-signature': signature } : {}) },
      body,
    }),
  )

test('a signed Zammad webhook ends as an internal summary note on the ticket, and the run is recorded', async () => {
  const listed = (await env.call('GET', A, { token: admin })).body.data.map((p: any) => p.name)
  expect(listed).toEqual(expect.arrayContaining(['hello', 'zammad']))

  const host = new URL(zammad.url).host
  const asked = (await env.call('GET', `${A}/zammad`, { token: admin })).body
  // It asks for 90 s per call (limits.wall_ms), above the 30 s default: that is granted like a permission.
  expect(asked.requested_limits).toEqual({ wall_ms: 90_000 })
  const grant = { ...asked.requested_permissions, net: [host], limits: asked.requested_limits }
  const enabled = await env.call('POST', `${A}/zammad/enable`, { token: admin, body: { grant } })
  expect(enabled.status).toBe(200)
  const saved = await env.call('PUT', `${A}/zammad/config`, {
    token: admin,
    body: { values: { zammad_url: zammad.url, api_token: 'zammad-secret-token', webhook_secret: 'hook-secret', model: 'privatemode-default' } },
  })
  expect(saved.status).toBe(200)

  zammad.seed(42, [
    { from: 'ada@example.com', subject: 'Printer jams', body: '<p>The printer on floor 2 jams on every page.</p>', content_type: 'text/html' },
    { from: 'support@example.com', subject: 'Re: Printer jams', body: 'Have you tried new paper?', sender: 'Agent' },
  ])
  const body = JSON.stringify(zammadWebhookPayload(42))
  expect((await webhook(body, signZammad(body, 'wrong-secret'))).status).toBe(400)
  expect(zammad.created).toHaveLength(0)

  const res = await webhook(body, signZammad(body, 'hook-secret'))
  expect(res.status).toBe(200)
  const out = (await res.json()) as { ticket_id: number; article_id: number; summary: string }
  expect(out.ticket_id).toBe(42)
  expect(zammad.created).toHaveLength(1)
  expect(zammad.created[0]).toMatchObject({ ticket_id: 42, internal: true, type: 'note' })
  expect(zammad.created[0]!.body).toContain(out.summary)
  // The summary came from the gateway: the upstream saw the articles' text.
  const sent = JSON.stringify(up.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)?.body)
  expect(sent).toContain('jams on every page')
  // Charged as plugin usage, and the token never left in a response or log. The ledger writes behind the response.
  await env.s.ledger.flush()
  const [usage] = await env.s.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM usage_records WHERE source = 'plugin'`
  expect(usage!.n).toBeGreaterThan(0)
  const logs = (await env.call('GET', `${A}/zammad/logs`, { token: admin })).body
  expect(JSON.stringify(logs)).not.toContain('zammad-secret-token')
  const runs = await env.call('GET', '/api-internal/v1/plugins/zammad/runs/42', { token: admin })
  expect(runs.status).toBe(200)
  expect(runs.body.runs[0]).toMatchObject({ status: 'ok', summary: out.summary, ticket_id: 42 })
})

test('the sandbox process killed outright comes back, and the plugin answers again', async () => {
  const before = await env.s.plugins.health()
  expect(before).toMatchObject({ up: true, started: true })
  process.kill(env.s.plugins.sandboxPid('zammad')!, 'SIGKILL')
  const body = JSON.stringify(zammadWebhookPayload(42))
  let status = 0
  const end = Date.now() + 20_000
  while (Date.now() < end) {
    status = (await webhook(body, signZammad(body, 'hook-secret'))).status
    if (status === 200) break
    // While it restarts, calls fail cleanly with 503, never hang or 500.
    expect(status).toBe(503)
    await Bun.sleep(100)
  }
  expect(status).toBe(200)
  const after = await env.s.plugins.health()
  expect(after.restarts).toBeGreaterThan(before.restarts)
  const ready = await env.call('GET', '/health/ready')
  expect(ready.body.plugin_sandbox).toMatchObject({ up: true, started: true })
})
