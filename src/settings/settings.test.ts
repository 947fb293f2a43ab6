/**
 * Platform settings through the API on two replicas over one database and cache: reading them with their environment
 * defaults, changing them (validated field by field, audited with before and after), the security settings routed to
 * their own store, settings that need a restart refused as such, and each change taking effect on the other replica
 * within a second: registration, rate limits, lockout, upload limit, default models, widget origins.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { within } from '../../test/fixtures/within.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

let A: TestEnv
let B: TestEnv
let admin: string
beforeAll(async () => {
  A = await createTestEnv({ RATE_LIMIT_INTERNAL_PER_MINUTE: '500', SMTP_URL: 'smtp://mailer:from-env@mail.example.com:2525', DEFAULT_CHATBOT_MODEL: 'env-model' })
  B = await createTestEnv({}, A)
  admin = await A.adminToken()
})
afterAll(async () => {
  await B?.close()
  await A?.close()
})

const SETTINGS = '/api-internal/v1/settings'
const patch = (body: unknown, token = admin, env = A) => env.call('PATCH', SETTINGS, { token, body })

describe('GET /settings', () => {
  test('every runtime setting, platform and security, with the environment defaults and what needs a restart', async () => {
    const res = await A.call('GET', SETTINGS, { token: admin })
    expect(res.status).toBe(200)
    expect(res.body.settings).toMatchObject({
      allow_registration: false,
      rate_limit_internal_per_minute: 500,
      lockout_threshold: 5,
      default_chatbot_model: 'env-model',
      smtp_host: 'mail.example.com',
      smtp_port: 2525,
      smtp_username: 'mailer',
      confidential_only: false,
      dlp_mode: 'redact',
      retention_plugin_logs_days: 7,
    })
    expect(res.body.defaults.rate_limit_internal_per_minute).toBe(500)
    expect(res.body.secrets).toEqual({ smtp_password: true })
    expect(JSON.stringify(res.body)).not.toContain('from-env')
    const fixed = res.body.restart_required.map((r: { name: string }) => r.name)
    expect(fixed).toContain('DATABASE_URL')
    expect(fixed).toContain('UPLOAD_MAX_REQUEST_MB')
    expect(fixed).not.toContain('ALLOW_REGISTRATION')
    expect(res.body.environment.allow_registration).toBe('ALLOW_REGISTRATION')
  })

  test('needs settings:manage', async () => {
    const u = await A.user('user')
    expect((await A.call('GET', SETTINGS, { token: u.token })).status).toBe(403)
    expect((await patch({ allow_registration: true }, u.token)).status).toBe(403)
  })
})

describe('PATCH /settings', () => {
  test('bad input is a 400 naming the field; settings fixed at start say how to change them', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ lockout_threshold: 0 }, 'lockout_threshold', 'validation_failed'],
      [{ rate_limit_public_per_minute: 'many' }, 'rate_limit_public_per_minute', 'validation_failed'],
      [{ retention_usage_days: 7 }, 'retention_usage_days', 'validation_failed'],
      [{ widget_allowed_origins: ['https://ok.example.com', 'javascript:alert(1)'] }, 'widget_allowed_origins[1]', 'validation_failed'],
      [{ notification_channel_types: ['webhook', 'pigeon'] }, 'notification_channel_types[1]', 'validation_failed'],
      [{ dlp_mode: 'maybe' }, 'dlp_mode', 'validation_failed'],
      [{ smtp_from: 'not an address' }, 'smtp_from', 'validation_failed'],
      [{ upload_max_file_mb: 100_000 }, 'upload_max_file_mb', 'validation_failed'],
      [{ no_such_thing: 1 }, 'no_such_thing', 'validation_failed'],
      [{ ALLOW_REGISTRATION: true }, 'ALLOW_REGISTRATION', 'validation_failed'],
      [{ database_url: 'postgres://elsewhere/db' }, 'database_url', 'invalid_request'],
      [{ JWT_SECRET: 'x'.repeat(40) }, 'JWT_SECRET', 'invalid_request'],
      [{ upload_max_request_mb: 10 }, 'upload_max_request_mb', 'invalid_request'],
    ]
    for (const [body, param, code] of cases) {
      const res = await patch(body)
      expect({ body, status: res.status, param: res.body.error.param, code: res.body.error.code }).toEqual({ body, status: 400, param, code })
    }
    const restart = await patch({ database_url: 'postgres://elsewhere/db' })
    expect(restart.body.error.message).toBe('DATABASE_URL cannot change at run time: set it in the environment and restart')
    expect((await patch({ ALLOW_REGISTRATION: true })).body.error.message).toContain('send allow_registration instead')
    expect((await patch({})).status).toBe(400)
    // Nothing of a refused request was applied.
    expect((await A.call('GET', SETTINGS, { token: admin })).body.settings.lockout_threshold).toBe(5)
  })

  test('self-registration opens and closes on every replica within a second', async () => {
    const body = (n: string) => ({ email: `${n}@test.local`, username: n, password: 'self-registered-pw' })
    expect((await B.call('POST', '/api-internal/v1/auth/register', { body: body('early') })).status).toBe(403)
    const res = await patch({ allow_registration: true })
    expect(res.status).toBe(200)
    expect(res.body.settings.allow_registration).toBe(true)
    expect(res.body.overridden).toContain('allow_registration')
    let n = 0
    expect(await within(1000, async () => (await B.call('POST', '/api-internal/v1/auth/register', { body: body(`reg${++n}`) })).status === 201)).toBeLessThan(1000)
    expect((await patch({ allow_registration: false })).status).toBe(200)
    expect(await within(1000, async () => (await B.call('POST', '/api-internal/v1/auth/register', { body: body(`late${++n}`) })).status === 403)).toBeLessThan(1000)
  })

  test('rate limits, lockout and the upload limit follow the settings', async () => {
    const u = await A.user('user')
    expect((await patch({ rate_limit_internal_per_minute: 1234, upload_max_file_mb: 3, lockout_threshold: 2, lockout_minutes: 1 })).status).toBe(200)
    expect(
      await within(1000, async () => (await B.call('GET', '/api-internal/v1/auth/me', { token: u.token })).headers.get('x-ratelimit-limit') === '1234'),
    ).toBeLessThan(1000)
    await within(1000, async () => (await B.call('GET', '/api-internal/v1/rag/limits', { token: u.token })).body.max_file_bytes === 3 * 1024 * 1024)
    // Two wrong passwords lock the account now.
    for (let i = 0; i < 2; i++) expect((await B.call('POST', '/api-internal/v1/auth/login', { body: { email: u.email, password: 'wrong-password-1' } })).status).toBe(401)
    expect((await B.call('POST', '/api-internal/v1/auth/login', { body: { email: u.email, password: u.password } })).status).toBe(423)
    expect((await patch({ lockout_threshold: 5, lockout_minutes: 15, rate_limit_internal_per_minute: 500, upload_max_file_mb: 50 })).status).toBe(200)
  })

  test('default models: a chatbot without a model gets the default; a collection without one gets the default embeddings model', async () => {
    const u = await A.user('user')
    const bot = await B.call('POST', '/api-internal/v1/chatbots', { token: u.token, body: { name: 'defaulted' } })
    expect(bot.status).toBe(201)
    expect(bot.body.model).toBe('env-model')
    expect((await patch({ default_chatbot_model: null })).status).toBe(200)
    await within(1000, async () => (await B.call('POST', '/api-internal/v1/chatbots', { token: u.token, body: { name: 'no model' } })).status === 400)
    const refused = await B.call('POST', '/api-internal/v1/chatbots', { token: u.token, body: { name: 'no model' } })
    expect(refused.body.error).toMatchObject({ code: 'validation_failed', param: 'model' })
    // An unknown default embeddings model is refused like a named one (the gateway has no model at all here).
    expect((await patch({ default_embedding_model: 'no-such-embedder' })).status).toBe(200)
    const coll = await A.call('POST', '/api-internal/v1/rag/collections', { token: u.token, body: { name: 'defaulted' } })
    expect(coll.status).toBe(404)
    expect(coll.body.error.code).toBe('model_not_found')
    expect(coll.body.error.message).toContain('no-such-embedder')
    expect((await A.call('POST', '/api-internal/v1/rag/collections', { token: u.token, body: { name: 'lexical', embedding_model: null } })).status).toBe(201)
    expect((await patch({ default_embedding_model: null, default_chatbot_model: 'env-model' })).status).toBe(200)
  })

  test('security settings are routed to their own store, audited with before and after', async () => {
    const res = await patch({ confidential_only: true, dlp_mode: 'block', allow_registration: false })
    expect(res.status).toBe(200)
    expect(res.body.settings).toMatchObject({ confidential_only: true, dlp_mode: 'block' })
    expect(A.s.security.settings.current.dlp_mode).toBe('block')
    expect((await A.call('GET', '/api-internal/v1/security/settings', { token: admin })).body.settings.dlp_mode).toBe('block')
    await within(1000, async () => B.s.security.settings.current.dlp_mode === 'block')
    const audit = await A.call('GET', '/api-internal/v1/audit?action=settings.update', { token: admin })
    expect(audit.body.data[0].details).toMatchObject({ confidential_only: { from: false, to: true }, dlp_mode: { from: 'redact', to: 'block' } })
    expect(audit.body.data[0].details.allow_registration).toBeUndefined()
    expect((await A.call('GET', '/api-internal/v1/audit?action=security.settings_change', { token: admin })).body.data[0].details.dlp_mode).toEqual({ from: 'redact', to: 'block' })
    expect((await patch({ confidential_only: false, dlp_mode: 'redact' })).status).toBe(200)
  })

  test('the SMTP password is write-only, sealed, and audited without its value', async () => {
    expect((await patch({ smtp_password: 'new-smtp-secret', smtp_host: 'smtp.example.org', smtp_security: 'tls', smtp_port: 465 })).status).toBe(200)
    await within(1000, async () => B.s.settings.current.smtp_host === 'smtp.example.org')
    expect(B.s.settings.smtpPassword()).toBe('new-smtp-secret')
    const [row] = await A.db.sql<{ secrets: Record<string, string> }[]>`SELECT secrets FROM platform_settings`
    expect(JSON.stringify(row!.secrets)).not.toContain('new-smtp-secret')
    const view = await A.call('GET', SETTINGS, { token: admin })
    expect(JSON.stringify(view.body)).not.toContain('new-smtp-secret')
    const audit = await A.call('GET', '/api-internal/v1/audit?action=settings.update', { token: admin })
    expect(audit.body.data[0].details.smtp_password).toEqual({ from: '(hidden)', to: '(changed)' })
    expect((await patch({ smtp_password: null })).status).toBe(200)
    await within(1000, async () => B.s.settings.smtpPassword() === 'from-env')
  })

  test('widget origins: only listed origins may use the widget at all, and the widget rate limit follows its setting', async () => {
    const u = await A.user('user')
    const bot = await A.call('POST', '/api-internal/v1/chatbots', { token: u.token, body: { name: 'widget bot', model: 'mock-chat' } })
    const key = await A.call('POST', '/api-internal/v1/api-keys', {
      token: u.token,
      body: { name: 'widget', scopes: ['chatbots'], allowed_chatbots: [bot.body.id], allowed_origins: ['https://shop.example.com'] },
    })
    expect(key.status).toBe(201)
    const preflight = (env: TestEnv) =>
      env.call('OPTIONS', `/api/v1/widget/${bot.body.id}/chat`, { headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'POST' } })
    const chat = (env: TestEnv) =>
      env.call('POST', `/api/v1/widget/${bot.body.id}/chat`, { headers: { origin: 'https://shop.example.com', 'x-api-key': key.body.key }, body: { message: 'hi' } })
    expect((await preflight(B)).headers.get('access-control-allow-origin')).toBe('https://shop.example.com')
    const res = await patch({ widget_allowed_origins: ['https://Other.Example.com:443/'], widget_rate_limit_per_minute: 7 })
    expect(res.status).toBe(200)
    expect(res.body.settings.widget_allowed_origins).toEqual(['https://other.example.com'])
    await within(1000, async () => (await preflight(B)).headers.get('access-control-allow-origin') === null)
    const refused = await chat(B)
    expect(refused.status).toBe(403)
    expect(refused.body.error.message).toContain('widget_allowed_origins')
    expect(refused.headers.get('x-ratelimit-limit')).toBe('7')
    expect((await patch({ widget_allowed_origins: [], widget_rate_limit_per_minute: 20 })).status).toBe(200)
  })
})
