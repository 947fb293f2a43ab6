/**
 * The confidentiality evidence export: per user, key and period, every usage record says which provider served it
 * and whether confidentially; the summary adds up; the CSV's SHA-256 is in the JSON, a header and the audit log, so
 * an auditor can check a copy; others' usage needs analytics:read_all; privatemode's attestation as known.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'

let env: TestEnv
let tee: Upstream
let open: Upstream
let user: { id: string; token: string }
let keys: { tee: { id: string; key: string }; open: { id: string; key: string } }

const get = (path: string, token: string) => env.app.handle(new Request(`http://localhost${path}`, { headers: { authorization: `Bearer ${token}` } }))
const chat = (key: string, model: string) => env.call('POST', '/api/v1/chat/completions', { apiKey: key, body: { model, messages: [{ role: 'user', content: 'hi' }] } })

beforeAll(async () => {
  tee = await startUpstream({ models: ['tee-chat'] })
  open = await startUpstream({ models: ['open-chat'] })
  env = await createTestEnv({ PRIVATEMODE_URL: tee.url, OPENAI_COMPAT_URL: open.url })
  user = await env.user('user')
  const key = async (name: string) => (await env.call('POST', '/api-internal/v1/api-keys', { token: user.token, body: { name } })).body as { id: string; key: string }
  keys = { tee: await key('tee'), open: await key('open') }
  for (let i = 0; i < 3; i++) expect((await chat(keys.tee.key, 'tee-chat')).status).toBe(200)
  expect((await chat(keys.open.key, 'open-chat')).status).toBe(200)
})
afterAll(async () => {
  await env.close()
  await tee.stop()
  await open.stop()
})

test("a user's evidence: each record's provider and confidentiality, a summary that adds up, and the providers' attestation", async () => {
  const res = await get('/api-internal/v1/analytics/confidentiality', user.token)
  expect(res.status).toBe(200)
  const body = (await res.json()) as any
  expect(body.summary).toMatchObject({ requests: 4, confidential: 3, not_confidential: 1, confidential_share: 0.75 })
  expect(body.summary.by_provider).toEqual(
    expect.arrayContaining([
      { provider: 'privatemode', confidential: true, requests: 3, served: 3 },
      { provider: 'openai-compatible', confidential: false, requests: 1, served: 1 },
    ]),
  )
  expect(body.records).toHaveLength(4)
  for (const r of body.records) expect(r.confidential).toBe(r.provider === 'privatemode')
  const privatemode = body.providers.find((p: { name: string }) => p.name === 'privatemode')
  expect(privatemode).toMatchObject({ confidential: true, attestation: { verified_by: 'privatemode-proxy', status: 'verified' } })
  expect(body.providers.find((p: { name: string }) => p.name === 'openai-compatible').attestation).toBeNull()

  // The CSV of the same filter hashes to the digest the JSON, the header and the audit log carry.
  const csv = await get(`/api-internal/v1/analytics/confidentiality?format=csv&since=${body.filters.since}&until=${body.filters.until}`, user.token)
  const text = await csv.text()
  const digest = createHash('sha256').update(text).digest('hex')
  expect(digest).toBe(body.records_sha256)
  expect(csv.headers.get('x-records-sha256')).toBe(digest)
  expect(text.split('\r\n')[0]).toBe('created_at,request_id,source,user_id,api_key_id,model,provider,confidential,endpoint,status,error_code,prompt_tokens,completion_tokens')
  const logged = await env.db.sql<{ details: { records_sha256: string } }[]>`
    SELECT details FROM audit_log WHERE action = 'analytics.confidentiality_export' ORDER BY id`
  expect(logged.map((l) => l.details.records_sha256)).toContain(digest)
})

test('per key and per period', async () => {
  const byKey = (await (await get(`/api-internal/v1/analytics/confidentiality?api_key_id=${keys.open.id}`, user.token)).json()) as any
  expect(byKey.summary).toMatchObject({ requests: 1, confidential: 0 })
  expect(byKey.records[0]).toMatchObject({ model: 'open-chat', provider: 'openai-compatible', confidential: false, api_key_id: keys.open.id })
  const past = (await (await get('/api-internal/v1/analytics/confidentiality?since=2020-01-01T00:00:00Z&until=2020-02-01T00:00:00Z', user.token)).json()) as any
  expect(past.summary.requests).toBe(0)
  expect((await get('/api-internal/v1/analytics/confidentiality?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z', user.token)).status).toBe(400)
})

test("another user's evidence needs analytics:read_all; another user's key is not found", async () => {
  const other = await env.user('user')
  expect((await get(`/api-internal/v1/analytics/confidentiality?user_id=${user.id}`, other.token)).status).toBe(403)
  expect((await get(`/api-internal/v1/analytics/confidentiality?api_key_id=${keys.tee.id}`, other.token)).status).toBe(404)
  const mine = (await (await get('/api-internal/v1/analytics/confidentiality', other.token)).json()) as any
  expect(mine.summary.requests).toBe(0)
  const admin = await env.adminToken()
  const asAdmin = (await (await get(`/api-internal/v1/analytics/confidentiality?user_id=${user.id}`, admin)).json()) as any
  expect(asAdmin.summary.requests).toBe(4)
  const keyAsAdmin = (await (await get(`/api-internal/v1/analytics/confidentiality?api_key_id=${keys.tee.id}`, admin)).json()) as any
  expect(keyAsAdmin.summary).toMatchObject({ requests: 3, confidential: 3 })
})
