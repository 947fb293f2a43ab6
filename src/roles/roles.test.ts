/**
 * Custom roles through the API on two replicas (A and B) over one database and cache: CRUD, the no-escalation rule by
 * permission, granting a custom role through a user's `role`, every permission check (guards, in-route checks, /me)
 * following the role's permissions on both replicas within a second of a change, and deletion moving users to
 * read_only with each move audited.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { within } from '../../test/fixtures/within.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

let A: TestEnv
let B: TestEnv
let admin: string
beforeAll(async () => {
  A = await createTestEnv()
  B = await createTestEnv({}, A)
  admin = await A.adminToken()
})
afterAll(async () => {
  await B?.close()
  await A?.close()
})

const ROLES = '/api-internal/v1/roles'
const name = (base: string) => `${base}_${Math.random().toString(36).slice(2, 8)}`

async function userWithRole(role: string) {
  const u = await A.user('user')
  const res = await A.call('PATCH', `/api-internal/v1/users/${u.id}`, { token: admin, body: { role } })
  expect(res.status).toBe(200)
  expect(res.body.role).toBe(role)
  return u
}

describe('built-in and custom roles', () => {
  test('lists the four built-in roles first, with their permissions and what the caller may do', async () => {
    const res = await A.call('GET', ROLES, { token: admin })
    expect(res.status).toBe(200)
    expect(res.body.data.slice(0, 4).map((r: { name: string }) => r.name)).toEqual(['read_only', 'user', 'admin', 'super_admin'])
    for (const r of res.body.data.slice(0, 4)) expect(r).toMatchObject({ builtin: true, editable: false, assignable: true })
    const perms = await A.call('GET', `${ROLES}/permissions`, { token: admin })
    expect(perms.body.data.find((p: { name: string }) => p.name === 'audit:read')).toMatchObject({ held: true })
  })

  test('a custom role grants exactly its permissions, on every replica, and /me says so', async () => {
    const auditor = name('auditor')
    const created = await A.call('POST', ROLES, { token: admin, body: { name: auditor, description: 'Reads the audit log', permissions: ['profile:read', 'audit:read'] } })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ name: auditor, builtin: false, users: 0, permissions: ['profile:read', 'audit:read'], editable: true, assignable: true })
    const u = await userWithRole(auditor)
    // B learns of the role from the change message (or at once, when it sees a user holding a role it does not know).
    for (const env of [A, B]) {
      expect((await env.call('GET', '/api-internal/v1/audit', { token: u.token })).status).toBe(200)
      expect((await env.call('GET', '/api-internal/v1/users', { token: u.token })).status).toBe(403)
      const me = await env.call('GET', '/api-internal/v1/auth/me', { token: u.token })
      expect(me.body.permissions.sort()).toEqual(['audit:read', 'profile:read'])
    }
    // In-route checks (analytics scope=all) follow the custom role too.
    expect((await B.call('GET', '/api-internal/v1/analytics/summary?range=24h&scope=all', { token: u.token })).status).toBe(403)
    const edit = await A.call('PATCH', `${ROLES}/${auditor}`, { token: admin, body: { permissions: ['profile:read', 'audit:read', 'analytics:read_all'] } })
    expect(edit.status).toBe(200)
    const ms = await within(1000, async () => (await B.call('GET', '/api-internal/v1/analytics/summary?range=24h&scope=all', { token: u.token })).status === 200)
    expect(ms).toBeLessThan(1000)
    const audit = await A.call('GET', `/api-internal/v1/audit?action=role.update&resource_id=${auditor}`, { token: admin })
    expect(audit.body.data[0].details.changes.permissions).toEqual({ from: ['audit:read', 'profile:read'], to: ['analytics:read_all', 'audit:read', 'profile:read'] })
  })

  test('a change to a role reaches another replica within a second (removal too)', async () => {
    const role = name('reader')
    expect((await A.call('POST', ROLES, { token: admin, body: { name: role, permissions: ['profile:read', 'users:read'] } })).status).toBe(201)
    const u = await userWithRole(role)
    expect((await B.call('GET', '/api-internal/v1/users', { token: u.token })).status).toBe(200)
    expect((await A.call('PATCH', `${ROLES}/${role}`, { token: admin, body: { permissions: ['profile:read'] } })).status).toBe(200)
    expect(await within(1000, async () => (await B.call('GET', '/api-internal/v1/users', { token: u.token })).status === 403)).toBeLessThan(1000)
  })

  test('bad input is a 400 naming the field', async () => {
    const bad = await A.call('POST', ROLES, { token: admin, body: { name: name('x'), permissions: ['profile:read', 'root:everything'] } })
    expect(bad.status).toBe(400)
    expect(bad.body.error).toMatchObject({ code: 'validation_failed', param: 'permissions[1]' })
    expect(bad.body.error.message).toContain('root:everything')
    const badName = await A.call('POST', ROLES, { token: admin, body: { name: 'Bad Name', permissions: [] } })
    expect(badName.status).toBe(400)
    expect(badName.body.error.param).toBe('name')
    const builtin = await A.call('POST', ROLES, { token: admin, body: { name: 'admin', permissions: [] } })
    expect(builtin.status).toBe(409)
    expect((await A.call('PATCH', `${ROLES}/admin`, { token: admin, body: { permissions: [] } })).body.error).toMatchObject({ code: 'invalid_request', param: 'name' })
    const role = name('dup')
    expect((await A.call('POST', ROLES, { token: admin, body: { name: role, permissions: [] } })).status).toBe(201)
    expect((await A.call('POST', ROLES, { token: admin, body: { name: role, permissions: [] } })).status).toBe(409)
    const u = await A.user('user')
    const unknown = await A.call('PATCH', `/api-internal/v1/users/${u.id}`, { token: admin, body: { role: 'no_such_role' } })
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.param).toBe('role')
    expect((await A.call('GET', `${ROLES}/no_such_role`, { token: admin })).status).toBe(404)
  })

  test('nobody creates, edits, grants or deletes a role holding a permission they lack', async () => {
    // A custom "user manager": manages users, but holds neither audit:read nor settings:manage.
    const manager = name('manager')
    const perms = ['profile:read', 'users:read', 'users:manage', 'api_keys:read', 'rag:read']
    expect((await A.call('POST', ROLES, { token: admin, body: { name: manager, permissions: perms } })).status).toBe(201)
    const m = await userWithRole(manager)
    const escalate = await A.call('POST', ROLES, { token: m.token, body: { name: name('esc'), permissions: ['profile:read', 'audit:read'] } })
    expect(escalate.status).toBe(403)
    expect(escalate.body.error.message).toContain('audit:read')
    // A role within their own permissions is fine; granting it needs strictly fewer permissions than their own.
    const small = name('small')
    expect((await A.call('POST', ROLES, { token: m.token, body: { name: small, permissions: ['profile:read', 'rag:read'] } })).status).toBe(201)
    const target = await A.user('read_only')
    expect((await A.call('PATCH', `/api-internal/v1/users/${target.id}`, { token: m.token, body: { role: small } })).status).toBe(200)
    // Granting their own role (not strictly below them), or admin, is refused.
    expect((await A.call('PATCH', `/api-internal/v1/users/${target.id}`, { token: m.token, body: { role: manager } })).status).toBe(403)
    expect((await A.call('PATCH', `/api-internal/v1/users/${target.id}`, { token: m.token, body: { role: 'admin' } })).status).toBe(403)
    // Editing or deleting a role that holds more than they do is refused, as is giving a role more.
    const auditor = name('aud')
    expect((await A.call('POST', ROLES, { token: admin, body: { name: auditor, permissions: ['audit:read'] } })).status).toBe(201)
    expect((await A.call('PATCH', `${ROLES}/${auditor}`, { token: m.token, body: { description: 'mine now' } })).status).toBe(403)
    expect((await A.call('DELETE', `${ROLES}/${auditor}`, { token: m.token })).status).toBe(403)
    expect((await A.call('PATCH', `${ROLES}/${small}`, { token: m.token, body: { permissions: ['profile:read', 'settings:manage'] } })).status).toBe(403)
    const list = await A.call('GET', ROLES, { token: m.token })
    const byName = Object.fromEntries(list.body.data.map((r: { name: string }) => [r.name, r]))
    expect(byName[auditor]).toMatchObject({ editable: false, assignable: false })
    expect(byName[small]).toMatchObject({ editable: true, assignable: true })
    // An admin (built-in) may not create a role holding what only a super_admin has... every permission an admin lacks.
    const adminUser = await A.user('admin')
    expect((await A.call('POST', ROLES, { token: adminUser.token, body: { name: name('x'), permissions: ['users:manage'] } })).status).toBe(201)
    // A user without users:manage cannot touch roles at all.
    const plain = await A.user('user')
    expect((await A.call('POST', ROLES, { token: plain.token, body: { name: name('x'), permissions: [] } })).status).toBe(403)
    expect((await A.call('GET', ROLES, { token: plain.token })).status).toBe(403)
  })

  test('renaming a role keeps its users on it', async () => {
    const before = name('old')
    const after = name('new')
    expect((await A.call('POST', ROLES, { token: admin, body: { name: before, permissions: ['profile:read', 'audit:read'] } })).status).toBe(201)
    const u = await userWithRole(before)
    const renamed = await A.call('PATCH', `${ROLES}/${before}`, { token: admin, body: { name: after } })
    expect(renamed.status).toBe(200)
    expect(renamed.body).toMatchObject({ name: after, users: 1 })
    expect((await A.call('GET', `/api-internal/v1/users/${u.id}`, { token: admin })).body.role).toBe(after)
    expect(await within(1000, async () => (await B.call('GET', '/api-internal/v1/audit', { token: u.token })).status === 200)).toBeLessThan(1000)
  })

  test('deleting a role moves its users to read_only, each move audited, on every replica', async () => {
    const role = name('temp')
    expect((await A.call('POST', ROLES, { token: admin, body: { name: role, permissions: ['profile:read', 'audit:read', 'api_keys:read', 'api_keys:write'] } })).status).toBe(201)
    const u1 = await userWithRole(role)
    const u2 = await userWithRole(role)
    expect((await B.call('GET', '/api-internal/v1/audit', { token: u1.token })).status).toBe(200)
    const res = await A.call('DELETE', `${ROLES}/${role}`, { token: admin })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ users_moved: 2 })
    for (const u of [u1, u2]) {
      expect((await A.call('GET', `/api-internal/v1/users/${u.id}`, { token: admin })).body.role).toBe('read_only')
      const moved = await A.call('GET', `/api-internal/v1/audit?action=user.role_change&resource_id=${u.id}`, { token: admin })
      expect(moved.body.data[0].details).toEqual({ from: role, to: 'read_only', reason: 'role_deleted' })
    }
    // The session goes on with read_only's permissions, at once on both replicas.
    for (const env of [A, B]) {
      expect((await env.call('GET', '/api-internal/v1/audit', { token: u1.token })).status).toBe(403)
      expect((await env.call('GET', '/api-internal/v1/auth/me', { token: u1.token })).body.permissions.sort()).toEqual(['api_keys:read', 'profile:read', 'rag:read'])
    }
    const deleted = await A.call('GET', `/api-internal/v1/audit?action=role.delete&resource_id=${role}`, { token: admin })
    expect(deleted.body.data[0].details).toMatchObject({ users_moved: 2, moved_to: 'read_only' })
    expect((await B.call('GET', `${ROLES}/${role}`, { token: admin })).status).toBe(404)
    // The users page's role list carries custom roles too.
    const roles = await A.call('GET', '/api-internal/v1/users/roles', { token: admin })
    expect(roles.body.data.some((r: { role: string }) => r.role === role)).toBe(false)
  })
})
