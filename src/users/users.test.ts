import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { ADMIN_EMAIL, ADMIN_PASSWORD, createTestEnv, type CallResult, type TestEnv } from '../../test/harness.ts'
import type { Role } from '../auth/roles.ts'

const USERS = '/api-internal/v1/users'
const AUDIT = '/api-internal/v1/audit'

let env: TestEnv
let superToken: string
let superId: string

beforeAll(async () => {
  env = await createTestEnv()
  superToken = await env.adminToken()
  const me = await env.call('GET', '/api-internal/v1/auth/me', { token: superToken })
  expect(me.status).toBe(200)
  superId = me.body.id
})
afterAll(() => env.close())

const rand = () => randomBytes(4).toString('hex')
const newRequestId = () => `users-test-${randomBytes(8).toString('hex')}`

const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'invalid_request_error',
}

/** The one error envelope: exactly {error:{message,type,code,param,request_id}}, request id echoed in the header. */
function expectError(res: CallResult, status: number, code: string, param?: string | null) {
  expect({ status: res.status, body: res.body }).toMatchObject({ status, body: { error: { code } } })
  expect(Object.keys(res.body)).toEqual(['error'])
  expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message', 'param', 'request_id', 'type'])
  expect(res.body.error.type).toBe(TYPES[status]!)
  expect(typeof res.body.error.message).toBe('string')
  expect(res.body.error.message.length).toBeGreaterThan(0)
  expect(typeof res.body.error.request_id).toBe('string')
  expect(res.body.error.request_id).toBe(res.headers.get('x-request-id'))
  if (param !== undefined) expect(res.body.error.param).toBe(param)
  const text = JSON.stringify(res.body)
  expect(text).not.toContain('    at ')
  expect(text).not.toContain('.ts:')
}

interface AuditRow {
  action: string
  outcome: string
  actor_user_id: string | null
  resource_type: string | null
  resource_id: string | null
  request_id: string | null
  details: Record<string, unknown>
}

async function auditFor(action: string, resourceId: string): Promise<AuditRow[]> {
  const res = await env.call('GET', `${AUDIT}?action=${encodeURIComponent(action)}&resource_id=${resourceId}&limit=500`, {
    token: superToken,
  })
  expect(res.status).toBe(200)
  return res.body.data
}

/** Exactly one record of `action` on `resourceId`, by `actorId`, tied to the request that caused it. */
async function expectAudited(action: string, resourceId: string, actorId: string, requestId: string): Promise<AuditRow> {
  const rows = await auditFor(action, resourceId)
  expect(rows).toHaveLength(1)
  const row = rows[0]!
  expect(row).toMatchObject({
    action,
    outcome: 'success',
    actor_user_id: actorId,
    resource_type: 'user',
    resource_id: resourceId,
    request_id: requestId,
  })
  return row
}

async function createUser(token: string, body: Record<string, unknown>, requestId = newRequestId()) {
  return env.call('POST', USERS, { token, body, headers: { 'x-request-id': requestId } })
}

function freshIdentity(prefix = 'u') {
  const username = `${prefix}${rand()}`
  return { username, email: `${username}@test.local` }
}

const getUser = (id: string) => env.call('GET', `${USERS}/${id}`, { token: superToken })

const loginRaw = (email: string, password: string) =>
  env.call('POST', '/api-internal/v1/auth/login', { body: { email, password } })

describe('list', () => {
  const tag = `lst${rand()}`
  const ids: Record<string, string> = {}

  beforeAll(async () => {
    const specs: [string, Role, boolean][] = [
      ['a', 'read_only', true],
      ['b', 'user', true],
      ['c', 'user', false],
      ['d', 'admin', true],
      ['e', 'user', true],
    ]
    for (const [suffix, role, active] of specs) {
      const username = `${tag}${suffix}`
      const res = await createUser(superToken, { email: `${username}@test.local`, username, role, password: `pw-${rand()}-${rand()}` })
      expect(res.status).toBe(201)
      ids[suffix] = res.body.id
      if (!active) expect((await env.call('POST', `${USERS}/${res.body.id}/deactivate`, { token: superToken })).status).toBe(200)
    }
  })

  const filters: [string, string, string[]][] = [
    ['q only', '', ['a', 'b', 'c', 'd', 'e']],
    ['q + role=user', '&role=user', ['b', 'c', 'e']],
    ['q + role=admin', '&role=admin', ['d']],
    ['q + role=super_admin', '&role=super_admin', []],
    ['q + is_active=false', '&is_active=false', ['c']],
    ['q + is_active=true', '&is_active=true', ['a', 'b', 'd', 'e']],
    ['q + role=user + is_active=true', '&role=user&is_active=true', ['b', 'e']],
  ]
  test.each(filters)('%s', async (_name, extra, expected) => {
    const res = await env.call('GET', `${USERS}?q=${tag}${extra}`, { token: superToken })
    expect(res.status).toBe(200)
    expect(res.body.total).toBe(expected.length)
    expect((res.body.data as { id: string }[]).map((u) => u.id).sort()).toEqual(expected.map((s) => ids[s]!).sort())
  })

  test('q matches the email and the username, case-insensitively', async () => {
    const byUpper = await env.call('GET', `${USERS}?q=${tag.toUpperCase()}B`, { token: superToken })
    expect(byUpper.body.total).toBe(1)
    expect(byUpper.body.data[0].id).toBe(ids.b!)
    const byEmail = await env.call('GET', `${USERS}?q=${encodeURIComponent(`${tag}e@test`)}`, { token: superToken })
    expect(byEmail.body.total).toBe(1)
    expect(byEmail.body.data[0].id).toBe(ids.e!)
  })

  test('LIKE wildcards in q are literal', async () => {
    for (const q of ['%', '_', `${tag.slice(0, 3)}%${tag.slice(4)}`]) {
      const res = await env.call('GET', `${USERS}?q=${encodeURIComponent(q)}`, { token: superToken })
      expect(res.status).toBe(200)
      expect(res.body.total).toBe(0)
      expect(res.body.data).toEqual([])
    }
  })

  test('pagination: total counts every match, pages do not overlap', async () => {
    const page1 = await env.call('GET', `${USERS}?q=${tag}&limit=2&offset=0`, { token: superToken })
    const page2 = await env.call('GET', `${USERS}?q=${tag}&limit=2&offset=2`, { token: superToken })
    const page3 = await env.call('GET', `${USERS}?q=${tag}&limit=2&offset=4`, { token: superToken })
    const page4 = await env.call('GET', `${USERS}?q=${tag}&limit=2&offset=6`, { token: superToken })
    for (const page of [page1, page2, page3, page4]) {
      expect(page.status).toBe(200)
      expect(page.body.total).toBe(5)
      expect(page.body.limit).toBe(2)
    }
    expect([page1, page2, page3, page4].map((p) => p.body.offset)).toEqual([0, 2, 4, 6])
    expect([page1, page2, page3, page4].map((p) => p.body.data.length)).toEqual([2, 2, 1, 0])
    const seen = [page1, page2, page3].flatMap((p) => p.body.data.map((u: { id: string }) => u.id))
    expect(new Set(seen).size).toBe(5)
    expect(seen.sort()).toEqual(Object.values(ids).sort())
  })

  test('defaults to limit 50 offset 0 and includes the bootstrap admin', async () => {
    const res = await env.call('GET', USERS, { token: superToken })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ limit: 50, offset: 0 })
    expect(res.body.total).toBeGreaterThanOrEqual(6)
    expect(res.body.data.some((u: { email: string }) => u.email === ADMIN_EMAIL)).toBe(true)
    expect(JSON.stringify(res.body)).not.toContain('password_hash')
    expect(JSON.stringify(res.body)).not.toContain('argon2')
  })

  const badQueries: [string, string][] = [
    ['limit=0', 'limit'],
    ['limit=201', 'limit'],
    ['offset=-1', 'offset'],
    ['role=root', 'role'],
  ]
  test.each(badQueries)('bad query %s -> 400 naming %s', async (qs, param) => {
    expectError(await env.call('GET', `${USERS}?${qs}`, { token: superToken }), 400, 'validation_failed', param)
  })
})

describe('get', () => {
  test('returns the user without any password material', async () => {
    const u = await env.user('user')
    const res = await getUser(u.id)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: u.id, email: u.email, role: 'user', is_active: true, force_password_change: false })
    expect(Object.keys(res.body).sort()).toEqual(
      [
        'confidential_only',
        'created_at',
        'dlp_mode',
        'email',
        'failed_login_count',
        'force_password_change',
        'id',
        'is_active',
        'last_login_at',
        'locked_until',
        'role',
        'updated_at',
        'username',
      ].sort(),
    )
    expect(JSON.stringify(res.body)).not.toContain('argon2')
  })

  test('an unknown id is a 404', async () => {
    expectError(await getUser(crypto.randomUUID()), 404, 'not_found')
  })

  test('a non-uuid id is a 400 naming id', async () => {
    expectError(await getUser('not-a-uuid'), 400, 'validation_failed', 'id')
  })
})

describe('create', () => {
  test('with an explicit password: 201, no temporary password, no forced change, can sign in, audited', async () => {
    const who = freshIdentity('exp')
    const password = `explicit-${rand()}-pw`
    const requestId = newRequestId()
    const res = await createUser(superToken, { ...who, password, role: 'read_only' }, requestId)
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ ...who, role: 'read_only', is_active: true, force_password_change: false, temporary_password: null })
    expect(JSON.stringify(res.body)).not.toContain(password)
    const login = await loginRaw(who.email, password)
    expect(login.status).toBe(200)
    expect(login.body.user.force_password_change).toBe(false)
    const row = await expectAudited('user.create', res.body.id, superId, requestId)
    expect(row.details.role).toBe('read_only')
  })

  test('the role defaults to user', async () => {
    const res = await createUser(superToken, { ...freshIdentity('def'), password: `default-${rand()}-pw` })
    expect(res.status).toBe(201)
    expect(res.body.role).toBe('user')
  })

  test('without a password: a temporary password is returned once and must be changed', async () => {
    const who = freshIdentity('tmp')
    const res = await createUser(superToken, who)
    expect(res.status).toBe(201)
    const temporary = res.body.temporary_password
    expect(typeof temporary).toBe('string')
    expect(temporary.length).toBeGreaterThanOrEqual(20)
    expect(res.body.force_password_change).toBe(true)
    // Shown once: neither get nor list returns it again.
    const again = await getUser(res.body.id)
    expect(again.body.temporary_password).toBeUndefined()
    expect(JSON.stringify(again.body)).not.toContain(temporary)
    const listed = await env.call('GET', `${USERS}?q=${who.username}`, { token: superToken })
    expect(JSON.stringify(listed.body)).not.toContain(temporary)
    const login = await loginRaw(who.email, temporary)
    expect(login.status).toBe(200)
    expect(login.body.user.force_password_change).toBe(true)
  })

  test('two generated passwords differ', async () => {
    const a = await createUser(superToken, freshIdentity('gen'))
    const b = await createUser(superToken, freshIdentity('gen'))
    expect(a.body.temporary_password).not.toBe(b.body.temporary_password)
  })

  test('a duplicate email (any case) is a 409 naming email', async () => {
    const who = freshIdentity('dup')
    expect((await createUser(superToken, { ...who, password: `dup-${rand()}-password` })).status).toBe(201)
    for (const email of [who.email, who.email.toUpperCase()]) {
      const res = await createUser(superToken, { email, username: `other${rand()}`, password: `dup-${rand()}-password` })
      expectError(res, 409, 'conflict', 'email')
    }
  })

  test('a duplicate username (any case) is a 409 naming username', async () => {
    const who = freshIdentity('dupu')
    expect((await createUser(superToken, { ...who, password: `dup-${rand()}-password` })).status).toBe(201)
    for (const username of [who.username, who.username.toUpperCase()]) {
      const res = await createUser(superToken, { email: `other${rand()}@test.local`, username, password: `dup-${rand()}-password` })
      expectError(res, 409, 'conflict', 'username')
    }
  })

  const invalid: [string, Record<string, unknown>, string][] = [
    ['a bad email', { email: 'not-an-email' }, 'email'],
    ['a missing email', { email: undefined }, 'email'],
    ['a short username', { username: 'ab' }, 'username'],
    ['a username with spaces', { username: 'has space' }, 'username'],
    ['an unknown role', { role: 'root' }, 'role'],
    ['a non-boolean force_password_change', { force_password_change: 'yes' }, 'force_password_change'],
    ['an extra property', { is_superuser: true }, 'is_superuser'],
    ['a short password', { password: 'short' }, 'password'],
    ['the username as password', { password: '__USERNAME__' }, 'password'],
  ]
  test.each(invalid)('%s is a 400 naming the field', async (_name, patch, param) => {
    const who = freshIdentity('inv')
    const body: Record<string, unknown> = { ...who, password: `valid-${rand()}-password`, ...patch }
    if (body.password === '__USERNAME__') body.username = body.password = `${who.username}same`
    for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k]
    const res = await createUser(superToken, body)
    expectError(res, 400, 'validation_failed', param)
    // Nothing was created.
    // who.username is in every candidate's email or username, whichever field was made invalid.
    const listed = await env.call('GET', `${USERS}?q=${who.username}`, { token: superToken })
    expect(listed.body.total).toBe(0)
  })
})

describe('update (PATCH)', () => {
  test('email and username change, and the change is audited with the fields', async () => {
    const u = await env.user('user')
    const next = freshIdentity('ren')
    const requestId = newRequestId()
    const res = await env.call('PATCH', `${USERS}/${u.id}`, { token: superToken, body: next, headers: { 'x-request-id': requestId } })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: u.id, ...next })
    expect((await getUser(u.id)).body).toMatchObject(next)
    expect((await loginRaw(next.email, u.password)).status).toBe(200)
    const row = await expectAudited('user.update', u.id, superId, requestId)
    expect([...(row.details.fields as string[])].sort()).toEqual(['email', 'username'])
  })

  test('a role change is audited with from and to', async () => {
    const u = await env.user('user')
    const requestId = newRequestId()
    const res = await env.call('PATCH', `${USERS}/${u.id}`, {
      token: superToken,
      body: { role: 'read_only' },
      headers: { 'x-request-id': requestId },
    })
    expect(res.status).toBe(200)
    expect(res.body.role).toBe('read_only')
    const row = await expectAudited('user.role_change', u.id, superId, requestId)
    expect(row.details).toMatchObject({ from: 'user', to: 'read_only' })
    // The new role applies to the existing session at once.
    const keys = await env.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'k' } })
    expectError(keys, 403, 'permission_denied')
  })

  test('is_active=false through PATCH deactivates, cuts the session, and is audited', async () => {
    const u = await env.user('user')
    const requestId = newRequestId()
    const res = await env.call('PATCH', `${USERS}/${u.id}`, {
      token: superToken,
      body: { is_active: false },
      headers: { 'x-request-id': requestId },
    })
    expect(res.status).toBe(200)
    expect(res.body.is_active).toBe(false)
    expectError(await env.call('GET', '/api-internal/v1/auth/me', { token: u.token }), 401, 'invalid_token')
    await expectAudited('user.deactivate', u.id, superId, requestId)
  })

  test('an empty body is a 400', async () => {
    const u = await env.user('user')
    expectError(await env.call('PATCH', `${USERS}/${u.id}`, { token: superToken, body: {} }), 400, 'validation_failed')
  })

  const invalid: [string, Record<string, unknown>, string][] = [
    ['a bad email', { email: 'nope' }, 'email'],
    ['a short username', { username: 'x' }, 'username'],
    ['an unknown role', { role: 'owner' }, 'role'],
    ['a non-boolean is_active', { is_active: 'no' }, 'is_active'],
    ['an extra property', { password_hash: 'x' }, 'password_hash'],
  ]
  test.each(invalid)('%s is a 400 naming the field, and changes nothing', async (_name, body, param) => {
    const u = await env.user('user')
    const before = (await getUser(u.id)).body
    expectError(await env.call('PATCH', `${USERS}/${u.id}`, { token: superToken, body }), 400, 'validation_failed', param)
    expect((await getUser(u.id)).body).toEqual(before)
  })

  test('taking another user\'s email or username is a 409 naming the field', async () => {
    const a = await env.user('user')
    const b = await env.user('user')
    const bView = (await getUser(b.id)).body
    expectError(await env.call('PATCH', `${USERS}/${a.id}`, { token: superToken, body: { email: b.email.toUpperCase() } }), 409, 'conflict', 'email')
    expectError(await env.call('PATCH', `${USERS}/${a.id}`, { token: superToken, body: { username: bView.username } }), 409, 'conflict', 'username')
  })

  test('an unknown id is a 404, a non-uuid a 400', async () => {
    expectError(await env.call('PATCH', `${USERS}/${crypto.randomUUID()}`, { token: superToken, body: { role: 'user' } }), 404, 'not_found')
    expectError(await env.call('PATCH', `${USERS}/1234`, { token: superToken, body: { role: 'user' } }), 400, 'validation_failed', 'id')
  })
})

describe('deactivate and activate', () => {
  test("a deactivated user's token gets 401 at once; activation lets them sign in again; both audited", async () => {
    const u = await env.user('user')
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: u.token })).status).toBe(200)

    const offId = newRequestId()
    const off = await env.call('POST', `${USERS}/${u.id}/deactivate`, { token: superToken, headers: { 'x-request-id': offId } })
    expect(off.status).toBe(200)
    expect(off.body).toMatchObject({ id: u.id, is_active: false })
    expectError(await env.call('GET', '/api-internal/v1/auth/me', { token: u.token }), 401, 'invalid_token')
    expectError(await env.call('GET', '/api-internal/v1/api-keys', { token: u.token }), 401, 'invalid_token')
    expectError(await loginRaw(u.email, u.password), 403, 'account_disabled')
    await expectAudited('user.deactivate', u.id, superId, offId)

    const onId = newRequestId()
    const on = await env.call('POST', `${USERS}/${u.id}/activate`, { token: superToken, headers: { 'x-request-id': onId } })
    expect(on.status).toBe(200)
    expect(on.body).toMatchObject({ id: u.id, is_active: true })
    const login = await loginRaw(u.email, u.password)
    expect(login.status).toBe(200)
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: login.body.access_token })).status).toBe(200)
    await expectAudited('user.activate', u.id, superId, onId)
  })

  test('unknown and malformed ids', async () => {
    for (const action of ['deactivate', 'activate']) {
      expectError(await env.call('POST', `${USERS}/${crypto.randomUUID()}/${action}`, { token: superToken }), 404, 'not_found')
      expectError(await env.call('POST', `${USERS}/zzz/${action}`, { token: superToken }), 400, 'validation_failed', 'id')
    }
  })
})

describe('reset-password', () => {
  test('generated when omitted: old password and sessions die, the user must change it, audited', async () => {
    const u = await env.user('user')
    const requestId = newRequestId()
    const res = await env.call('POST', `${USERS}/${u.id}/reset-password`, {
      token: superToken,
      body: {},
      headers: { 'x-request-id': requestId },
    })
    expect(res.status).toBe(200)
    const temporary = res.body.temporary_password
    expect(typeof temporary).toBe('string')
    expect(temporary.length).toBeGreaterThanOrEqual(20)
    expect(temporary).not.toBe(u.password)

    expectError(await env.call('GET', '/api-internal/v1/auth/me', { token: u.token }), 401, 'invalid_token')
    expectError(await loginRaw(u.email, u.password), 401, 'invalid_credentials')
    const login = await loginRaw(u.email, temporary)
    expect(login.status).toBe(200)
    expect(login.body.user.force_password_change).toBe(true)
    expect((await getUser(u.id)).body.force_password_change).toBe(true)
    expectError(await env.call('GET', '/api-internal/v1/api-keys', { token: login.body.access_token }), 403, 'password_change_required')
    await expectAudited('user.password_reset', u.id, superId, requestId)
  })

  test('with an explicit password: nothing is returned, the user must still change it', async () => {
    const u = await env.user('user')
    const res = await env.call('POST', `${USERS}/${u.id}/reset-password`, {
      token: superToken,
      body: { new_password: 'admin-chosen-password-1' },
    })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ temporary_password: null })
    const login = await loginRaw(u.email, 'admin-chosen-password-1')
    expect(login.status).toBe(200)
    expect(login.body.user.force_password_change).toBe(true)
  })

  test('a short new password is a 400 naming new_password, and the old one still works', async () => {
    const u = await env.user('user')
    const res = await env.call('POST', `${USERS}/${u.id}/reset-password`, { token: superToken, body: { new_password: 'short' } })
    expectError(res, 400, 'validation_failed', 'new_password')
    expect((await loginRaw(u.email, u.password)).status).toBe(200)
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: u.token })).status).toBe(200)
  })

  test('an extra (mistyped) property is a 400 naming it, not a silently generated password', async () => {
    const u = await env.user('user')
    expectError(
      await env.call('POST', `${USERS}/${u.id}/reset-password`, { token: superToken, body: { password: 'something-long-enough' } }),
      400,
      'validation_failed',
      'password',
    )
    expect((await loginRaw(u.email, u.password)).status).toBe(200)
  })

  test('an unknown id is a 404, a non-uuid a 400', async () => {
    expectError(await env.call('POST', `${USERS}/${crypto.randomUUID()}/reset-password`, { token: superToken, body: {} }), 404, 'not_found')
    expectError(await env.call('POST', `${USERS}/nope/reset-password`, { token: superToken, body: {} }), 400, 'validation_failed', 'id')
  })
})

describe('delete', () => {
  test('204, then 404; the token dies; audited', async () => {
    const u = await env.user('user')
    const requestId = newRequestId()
    const res = await env.call('DELETE', `${USERS}/${u.id}`, { token: superToken, headers: { 'x-request-id': requestId } })
    expect(res.status).toBe(204)
    expect(res.body).toBeNull()
    expectError(await getUser(u.id), 404, 'not_found')
    expectError(await env.call('DELETE', `${USERS}/${u.id}`, { token: superToken }), 404, 'not_found')
    expectError(await env.call('GET', '/api-internal/v1/auth/me', { token: u.token }), 401, 'invalid_token')
    expectError(await loginRaw(u.email, u.password), 401, 'invalid_credentials')
    await expectAudited('user.delete', u.id, superId, requestId)
  })

  test('a non-uuid id is a 400', async () => {
    expectError(await env.call('DELETE', `${USERS}/abc`, { token: superToken }), 400, 'validation_failed', 'id')
  })
})

describe('role enforcement', () => {
  /** Every users route plus the audit route, with bodies valid enough that only the role can stop them. */
  function routes(targetId: string): [string, string, unknown][] {
    return [
      ['GET', USERS, undefined],
      ['GET', `${USERS}?q=x&limit=5`, undefined],
      ['GET', `${USERS}/${targetId}`, undefined],
      ['POST', USERS, { ...freshIdentity('denied'), password: 'denied-user-password', role: 'read_only' }],
      ['PATCH', `${USERS}/${targetId}`, { username: `renamed${rand()}` }],
      ['POST', `${USERS}/${targetId}/deactivate`, undefined],
      ['POST', `${USERS}/${targetId}/activate`, undefined],
      ['POST', `${USERS}/${targetId}/reset-password`, {}],
      ['DELETE', `${USERS}/${targetId}`, undefined],
      ['GET', AUDIT, undefined],
      ['GET', `${AUDIT}?action=user.create`, undefined],
    ]
  }

  test.each([['user'], ['read_only']] as [Role][])('a %s gets 403 permission_denied on every users route and on audit', async (role) => {
    const actor = await env.user(role)
    const victim = await env.user('read_only')
    const before = (await getUser(victim.id)).body
    const { total: usersBefore } = (await env.call('GET', USERS, { token: superToken })).body
    for (const [method, path, body] of routes(victim.id)) {
      const res = await env.call(method, path, { token: actor.token, ...(body === undefined ? {} : { body }) })
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 })
      expectError(res, 403, 'permission_denied', null)
    }
    // Their own record is just as off-limits through these routes.
    for (const [method, path, body] of routes(actor.id)) {
      const res = await env.call(method, path, { token: actor.token, ...(body === undefined ? {} : { body }) })
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 })
    }
    // Nothing happened.
    expect((await getUser(victim.id)).body).toEqual(before)
    expect((await env.call('GET', USERS, { token: superToken })).body.total).toBe(usersBefore)
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: victim.token })).status).toBe(200)
  })

  describe('an admin', () => {
    let admin: Awaited<ReturnType<TestEnv['user']>>
    let adminId: string
    beforeAll(async () => {
      admin = await env.user('admin')
      adminId = admin.id
    })

    test('manages users: create, read, update, deactivate, activate, reset, delete, read the audit log; all audited as the admin', async () => {
      const createId = newRequestId()
      const created = await createUser(admin.token, { ...freshIdentity('byadm'), password: 'made-by-admin-pw', role: 'user' }, createId)
      expect(created.status).toBe(201)
      const id = created.body.id as string
      await expectAudited('user.create', id, adminId, createId)
      const ro = await createUser(admin.token, { ...freshIdentity('byadmro'), password: 'made-by-admin-pw', role: 'read_only' })
      expect(ro.status).toBe(201)

      expect((await env.call('GET', `${USERS}/${id}`, { token: admin.token })).status).toBe(200)
      expect((await env.call('GET', USERS, { token: admin.token })).status).toBe(200)
      expect((await env.call('GET', AUDIT, { token: admin.token })).status).toBe(200)

      const steps: [string, string, unknown, number, string][] = [
        ['PATCH', `${USERS}/${id}`, { username: `adm${rand()}` }, 200, 'user.update'],
        ['PATCH', `${USERS}/${id}`, { role: 'read_only' }, 200, 'user.role_change'],
        ['PATCH', `${USERS}/${id}`, { role: 'user' }, 200, 'user.role_change'],
        ['POST', `${USERS}/${id}/deactivate`, undefined, 200, 'user.deactivate'],
        ['POST', `${USERS}/${id}/activate`, undefined, 200, 'user.activate'],
        ['POST', `${USERS}/${id}/reset-password`, {}, 200, 'user.password_reset'],
        ['DELETE', `${USERS}/${id}`, undefined, 204, 'user.delete'],
      ]
      for (const [method, path, body, status, action] of steps) {
        const requestId = newRequestId()
        const res = await env.call(method, path, {
          token: admin.token,
          headers: { 'x-request-id': requestId },
          ...(body === undefined ? {} : { body }),
        })
        expect({ method, path, status: res.status }).toEqual({ method, path, status })
        const rows = (await auditFor(action, id)).filter((r) => r.request_id === requestId)
        expect(rows).toHaveLength(1)
        expect(rows[0]).toMatchObject({ actor_user_id: adminId, outcome: 'success', resource_id: id })
      }
      const roleChanges = await auditFor('user.role_change', id)
      expect(roleChanges.map((r) => r.details).reverse()).toEqual([
        { from: 'user', to: 'read_only' },
        { from: 'read_only', to: 'user' },
      ])
    })

    test.each([['admin'], ['super_admin']] as [Role][])('cannot create a %s', async (role) => {
      const who = freshIdentity('esc')
      expectError(await createUser(admin.token, { ...who, password: 'escalation-password', role }), 403, 'permission_denied', 'role')
      expect((await env.call('GET', `${USERS}?q=${who.username}`, { token: superToken })).body.total).toBe(0)
    })

    test.each([['admin'], ['super_admin']] as [Role][])('cannot grant %s to a user', async (role) => {
      const u = await env.user('user')
      expectError(await env.call('PATCH', `${USERS}/${u.id}`, { token: admin.token, body: { role } }), 403, 'permission_denied', 'role')
      expect((await getUser(u.id)).body.role).toBe('user')
      expect((await auditFor('user.role_change', u.id)).length).toBe(0)
    })

    test('cannot change, deactivate, reset or delete another admin or the super_admin, but may read them', async () => {
      const otherAdmin = await env.user('admin')
      for (const targetId of [otherAdmin.id, superId]) {
        const before = (await getUser(targetId)).body
        expect((await env.call('GET', `${USERS}/${targetId}`, { token: admin.token })).status).toBe(200)
        const attempts: [string, string, unknown][] = [
          ['PATCH', `${USERS}/${targetId}`, { username: `hijack${rand()}` }],
          ['PATCH', `${USERS}/${targetId}`, { role: 'user' }],
          ['PATCH', `${USERS}/${targetId}`, { is_active: false }],
          ['POST', `${USERS}/${targetId}/deactivate`, undefined],
          ['POST', `${USERS}/${targetId}/activate`, undefined],
          ['POST', `${USERS}/${targetId}/reset-password`, {}],
          ['POST', `${USERS}/${targetId}/reset-password`, { new_password: 'attacker-chosen-pw' }],
          ['DELETE', `${USERS}/${targetId}`, undefined],
        ]
        for (const [method, path, body] of attempts) {
          const res = await env.call(method, path, { token: admin.token, ...(body === undefined ? {} : { body }) })
          expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 })
          expectError(res, 403, 'permission_denied')
        }
        expect((await getUser(targetId)).body).toEqual(before)
      }
      expect((await env.call('GET', '/api-internal/v1/auth/me', { token: otherAdmin.token })).status).toBe(200)
      expect((await loginRaw(ADMIN_EMAIL, ADMIN_PASSWORD)).status).toBe(200)
    })

    test('an unknown user is still a 404 for an admin', async () => {
      expectError(await env.call('PATCH', `${USERS}/${crypto.randomUUID()}`, { token: admin.token, body: { username: 'ghost1' } }), 404, 'not_found')
      expectError(await env.call('DELETE', `${USERS}/${crypto.randomUUID()}`, { token: admin.token }), 404, 'not_found')
    })
  })

  describe('nobody changes themselves through these routes', () => {
    const selfAttempts = (id: string): [string, string, unknown][] => [
      ['PATCH', `${USERS}/${id}`, { role: 'read_only' }],
      ['PATCH', `${USERS}/${id}`, { is_active: false }],
      ['PATCH', `${USERS}/${id}`, { username: `self${rand()}` }],
      ['POST', `${USERS}/${id}/deactivate`, undefined],
      ['POST', `${USERS}/${id}/activate`, undefined],
      ['POST', `${USERS}/${id}/reset-password`, {}],
      ['DELETE', `${USERS}/${id}`, undefined],
    ]

    test.each([['admin'], ['super_admin']] as [Role][])('a %s gets 403 on every self-change and stays as they were', async (role) => {
      const self = role === 'super_admin' ? { id: superId, token: superToken } : await env.user('admin')
      const before = (await getUser(self.id)).body
      for (const [method, path, body] of selfAttempts(self.id)) {
        const res = await env.call(method, path, { token: self.token, ...(body === undefined ? {} : { body }) })
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 })
        expectError(res, 403, 'permission_denied')
      }
      expect((await getUser(self.id)).body).toEqual(before)
      expect((await env.call('GET', '/api-internal/v1/auth/me', { token: self.token })).status).toBe(200)
      for (const action of ['user.role_change', 'user.deactivate', 'user.delete', 'user.password_reset', 'user.update'])
        expect(await auditFor(action, self.id)).toEqual([])
    })
  })
})
