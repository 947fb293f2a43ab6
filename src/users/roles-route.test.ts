import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { permissionsOf, ROLES } from '../auth/roles.ts'

let env: TestEnv
beforeAll(async () => {
  env = await createTestEnv()
})
afterAll(() => env.close())

describe('GET /users/roles', () => {
  test('every role, lowest first, with its permissions; a super_admin may grant all', async () => {
    const res = await env.call('GET', '/api-internal/v1/users/roles', { token: await env.adminToken() })
    expect(res.status).toBe(200)
    expect(res.body.data.map((r: { role: string }) => r.role)).toEqual([...ROLES])
    for (const r of res.body.data) {
      expect(r.permissions).toEqual(permissionsOf(r.role))
      expect(r.assignable).toBe(true)
    }
  })

  test('an admin may grant only the roles below their own', async () => {
    const admin = await env.user('admin')
    const res = await env.call('GET', '/api-internal/v1/users/roles', { token: admin.token })
    const assignable = Object.fromEntries(res.body.data.map((r: { role: string; assignable: boolean }) => [r.role, r.assignable]))
    expect(assignable).toEqual({ read_only: true, user: true, admin: false, super_admin: false })
  })

  test('a user without users:read is refused', async () => {
    const u = await env.user('user')
    expect((await env.call('GET', '/api-internal/v1/users/roles', { token: u.token })).status).toBe(403)
  })
})
