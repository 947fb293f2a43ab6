import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ADMIN_EMAIL, ADMIN_PASSWORD, createTestEnv, type TestEnv } from '../../test/harness.ts'

let env: TestEnv
beforeAll(async () => {
  env = await createTestEnv({ LOCKOUT_THRESHOLD: '3', LOCKOUT_MINUTES: '15' })
})
afterAll(() => env.close())

const login = (email: string, password: string) =>
  env.call('POST', '/api-internal/v1/auth/login', { body: { email, password }, headers: { 'user-agent': 'auth-test' } })

async function auditActions(userId?: string) {
  const res = await env.call('GET', `/api-internal/v1/audit?limit=500${userId ? `&actor_user_id=${userId}` : ''}`, {
    token: await env.adminToken(),
  })
  expect(res.status).toBe(200)
  return res.body.data as { action: string; outcome: string; details: Record<string, unknown>; user_agent: string | null }[]
}

describe('login', () => {
  test('returns the token pair and the user, without the password hash', async () => {
    const res = await login(ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ token_type: 'bearer', expires_in: 900, user: { email: ADMIN_EMAIL, role: 'super_admin' } })
    expect(res.body.access_token.split('.')).toHaveLength(3)
    expect(res.body.refresh_token).toStartWith('rt_')
    expect(JSON.stringify(res.body)).not.toContain('password_hash')
    expect(JSON.stringify(res.body)).not.toContain('argon2')
    const me = await env.call('GET', '/api-internal/v1/auth/me', { token: res.body.access_token })
    expect(me.status).toBe(200)
    expect(me.body.email).toBe(ADMIN_EMAIL)
    expect(me.body.permissions).toContain('users:manage')
    expect(me.body.last_login_at).not.toBeNull()
  })

  test('wrong password and unknown email get the same 401 and are audited', async () => {
    const wrong = await login(ADMIN_EMAIL, 'not-the-password')
    const unknown = await login('nobody@test.local', 'whatever-password')
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401)
      expect(res.body.error).toMatchObject({ code: 'invalid_credentials', message: 'Invalid email or password' })
    }
    const failures = (await auditActions()).filter((a) => a.action === 'auth.login' && a.outcome === 'failure')
    expect(failures.map((f) => f.details.reason)).toEqual(expect.arrayContaining(['wrong_password', 'unknown_email']))
    expect(failures[0]?.user_agent).toBe('auth-test')
  })

  test('the email is matched case-insensitively', async () => {
    expect((await login(ADMIN_EMAIL.toUpperCase(), ADMIN_PASSWORD)).status).toBe(200)
  })

  test('a missing field is a 400 that names it', async () => {
    const res = await env.call('POST', '/api-internal/v1/auth/login', { body: { email: ADMIN_EMAIL } })
    expect(res.status).toBe(400)
    expect(res.body.error).toMatchObject({ code: 'validation_failed', param: 'password' })
    expect(res.body.error.message).toContain('password')
  })

  test('malformed JSON is a 400, not a 500', async () => {
    const res = await env.call('POST', '/api-internal/v1/auth/login', { body: '{"email":' })
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('invalid_json')
  })
})

describe('lockout', () => {
  test('locks after the threshold, refuses even the right password, and audits the lockout', async () => {
    const u = await env.user('user')
    for (let i = 0; i < 3; i++) expect((await login(u.email, 'wrong-password-x')).status).toBe(401)
    const locked = await login(u.email, u.password)
    expect(locked.status).toBe(423)
    expect(locked.body.error.code).toBe('account_locked')
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0)
    const actions = await auditActions(u.id)
    expect(actions.filter((a) => a.action === 'auth.lockout')).toHaveLength(1)

    // An admin reset clears the lock.
    const reset = await env.call('POST', `/api-internal/v1/users/${u.id}/reset-password`, {
      token: await env.adminToken(),
      body: { new_password: 'a-fresh-password-1' },
    })
    expect(reset.status).toBe(200)
    const after = await login(u.email, 'a-fresh-password-1')
    expect(after.status).toBe(200)
    expect(after.body.user.force_password_change).toBe(true)
  })

  test('a successful login resets the failure counter', async () => {
    const u = await env.user('user')
    for (let i = 0; i < 2; i++) await login(u.email, 'wrong-password-x')
    expect((await login(u.email, u.password)).status).toBe(200)
    for (let i = 0; i < 2; i++) await login(u.email, 'wrong-password-x')
    expect((await login(u.email, u.password)).status).toBe(200)
  })
})

describe('refresh tokens', () => {
  test('rotate: each works once and yields a working access token', async () => {
    const u = await env.user('user')
    const first = (await login(u.email, u.password)).body
    const r1 = await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: first.refresh_token } })
    expect(r1.status).toBe(200)
    expect(r1.body.refresh_token).not.toBe(first.refresh_token)
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: r1.body.access_token })).status).toBe(200)
    const r2 = await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: r1.body.refresh_token } })
    expect(r2.status).toBe(200)
  })

  test('reuse of a spent token revokes the whole family, access tokens included', async () => {
    const u = await env.user('user')
    const first = (await login(u.email, u.password)).body
    const middle = (await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: first.refresh_token } })).body
    const rotated = (await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: middle.refresh_token } })).body
    const reuse = await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: first.refresh_token } })
    expect(reuse.status).toBe(401)
    expect(reuse.body.error.code).toBe('refresh_token_reused')
    // The legitimate holder's newer tokens die with the family.
    const next = await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: rotated.refresh_token } })
    expect(next.status).toBe(401)
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: rotated.access_token })).status).toBe(401)
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: first.access_token })).status).toBe(401)
    // Other sessions of the same user are untouched.
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: u.token })).status).toBe(200)
    expect((await auditActions(u.id)).some((a) => a.action === 'auth.refresh_reuse')).toBe(true)
  })

  test('a lost rotation: the just-rotated token works once more while its successor was never used, and retires it', async () => {
    const u = await env.user('user')
    const first = (await login(u.email, u.password)).body
    const lost = (await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: first.refresh_token } })).body
    // The client never received `lost` and presents `first` again.
    const resumed = await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: first.refresh_token } })
    expect(resumed.status).toBe(200)
    // Only once: a second replay is reuse.
    const twice = await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: first.refresh_token } })
    expect(twice.status).toBe(401)
    expect(twice.body.error.code).toBe('refresh_token_reused')
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: resumed.body.access_token })).status).toBe(401)
    expect((await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: lost.refresh_token } })).status).toBe(401)
  })

  test('a lost rotation whose successor turns up later kills the session', async () => {
    const u = await env.user('user')
    const first = (await login(u.email, u.password)).body
    const successor = (await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: first.refresh_token } })).body
    const resumed = await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: first.refresh_token } })
    expect(resumed.status).toBe(200)
    const late = await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: successor.refresh_token } })
    expect(late.status).toBe(401)
    expect(late.body.error.code).toBe('refresh_token_reused')
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: resumed.body.access_token })).status).toBe(401)
  })

  test('an unknown refresh token is a 401', async () => {
    const res = await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: 'rt_made-up' } })
    expect(res.status).toBe(401)
    expect(res.body.error.code).toBe('invalid_token')
  })
})

describe('logout and revocation', () => {
  test('logout ends the access and refresh tokens of that session at once', async () => {
    const u = await env.user('user')
    const pair = (await login(u.email, u.password)).body
    const out = await env.call('POST', '/api-internal/v1/auth/logout', { token: pair.access_token })
    expect(out.status).toBe(204)
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: pair.access_token })).status).toBe(401)
    const refresh = await env.call('POST', '/api-internal/v1/auth/refresh', { body: { refresh_token: pair.refresh_token } })
    expect(refresh.status).toBe(401)
  })

  test("a deactivated user's tokens stop working at once, and so does login", async () => {
    const u = await env.user('user')
    const res = await env.call('POST', `/api-internal/v1/users/${u.id}/deactivate`, { token: await env.adminToken() })
    expect(res.status).toBe(200)
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: u.token })).status).toBe(401)
    const again = await login(u.email, u.password)
    expect(again.status).toBe(403)
    expect(again.body.error.code).toBe('account_disabled')
  })

  test("a deleted user's tokens stop working at once", async () => {
    const u = await env.user('user')
    expect((await env.call('DELETE', `/api-internal/v1/users/${u.id}`, { token: await env.adminToken() })).status).toBe(204)
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: u.token })).status).toBe(401)
  })

  test('a token signed with another secret, or garbage, is a 401', async () => {
    const other = await createTestEnv({}, undefined)
    try {
      const foreign = await other.adminToken()
      expect((await env.call('GET', '/api-internal/v1/auth/me', { token: foreign })).status).toBe(401)
    } finally {
      await other.close()
    }
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: 'not.a.jwt' })).status).toBe(401)
    const none = await env.call('GET', '/api-internal/v1/auth/me')
    expect(none.status).toBe(401)
    expect(none.body.error.code).toBe('authentication_required')
  })
})

describe('password changes', () => {
  test('a forced change blocks everything but the profile routes until done', async () => {
    const admin = await env.adminToken()
    const created = await env.call('POST', '/api-internal/v1/users', {
      token: admin,
      body: { email: 'forced@test.local', username: 'forced', role: 'user' },
    })
    expect(created.status).toBe(201)
    const temporary = created.body.temporary_password as string
    expect(temporary.length).toBeGreaterThanOrEqual(20)
    const token = (await login('forced@test.local', temporary)).body.access_token
    const blocked = await env.call('GET', '/api-internal/v1/api-keys', { token })
    expect(blocked.status).toBe(403)
    expect(blocked.body.error.code).toBe('password_change_required')
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token })).body.force_password_change).toBe(true)

    const weak = await env.call('POST', '/api-internal/v1/auth/change-password', {
      token,
      body: { current_password: temporary, new_password: 'short' },
    })
    expect(weak.status).toBe(400)
    expect(weak.body.error.param).toBe('new_password')
    const changed = await env.call('POST', '/api-internal/v1/auth/change-password', {
      token,
      body: { current_password: temporary, new_password: 'forced-user-new-password' },
    })
    expect(changed.status).toBe(204)
    expect((await env.call('GET', '/api-internal/v1/api-keys', { token })).status).toBe(200)
    expect((await login('forced@test.local', temporary)).status).toBe(401)
    expect((await login('forced@test.local', 'forced-user-new-password')).status).toBe(200)
  })

  test('changing the password signs out the other sessions but keeps this one', async () => {
    const u = await env.user('user')
    const other = (await login(u.email, u.password)).body.access_token
    const wrong = await env.call('POST', '/api-internal/v1/auth/change-password', {
      token: u.token,
      body: { current_password: 'not-it-at-all', new_password: 'another-long-password' },
    })
    expect(wrong.status).toBe(401)
    expect(wrong.body.error.param).toBe('current_password')
    const ok = await env.call('POST', '/api-internal/v1/auth/change-password', {
      token: u.token,
      body: { current_password: u.password, new_password: 'another-long-password' },
    })
    expect(ok.status).toBe(204)
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: u.token })).status).toBe(200)
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: other })).status).toBe(401)
  })
})

describe('registration', () => {
  test('is off by default', async () => {
    const res = await env.call('POST', '/api-internal/v1/auth/register', {
      body: { email: 'self@test.local', username: 'self', password: 'self-registered-pw' },
    })
    expect(res.status).toBe(403)
    expect(res.body.error.code).toBe('registration_disabled')
  })

  test('when enabled creates a plain user and signs them in; duplicates are a 409 naming the field', async () => {
    const open = await createTestEnv({ ALLOW_REGISTRATION: 'true' })
    try {
      const body = { email: 'self@test.local', username: 'self', password: 'self-registered-pw' }
      const res = await open.call('POST', '/api-internal/v1/auth/register', { body })
      expect(res.status).toBe(201)
      expect(res.body.user.role).toBe('user')
      expect((await open.call('GET', '/api-internal/v1/auth/me', { token: res.body.access_token })).status).toBe(200)
      const dup = await open.call('POST', '/api-internal/v1/auth/register', { body: { ...body, username: 'other' } })
      expect(dup.status).toBe(409)
      expect(dup.body.error.param).toBe('email')
      const bad = await open.call('POST', '/api-internal/v1/auth/register', { body: { ...body, email: 'not-an-email' } })
      expect(bad.status).toBe(400)
      expect(bad.body.error.param).toBe('email')
    } finally {
      await open.close()
    }
  })
})
