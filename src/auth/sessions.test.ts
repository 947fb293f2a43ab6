import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

const AUTH = '/api-internal/v1/auth'
let env: TestEnv
beforeAll(async () => {
  env = await createTestEnv()
})
afterAll(() => env.close())

describe('own sessions', () => {
  test('lists one entry per sign-in, marks the current one, never another user’s', async () => {
    const u = await env.user('user')
    const second = await env.login(u.email, u.password)
    const res = await env.call('GET', `${AUTH}/sessions`, { token: second })
    expect(res.status).toBe(200)
    expect(res.body.data).toHaveLength(2)
    expect(res.body.data.filter((s: { current: boolean }) => s.current)).toHaveLength(1)
    expect(Object.keys(res.body.data[0]).sort()).toEqual(['created_at', 'current', 'expires_at', 'id', 'ip', 'last_active_at', 'user_agent'])
    const admin = await env.call('GET', `${AUTH}/sessions`, { token: await env.adminToken() })
    const mine = new Set(res.body.data.map((s: { id: string }) => s.id))
    expect(admin.body.data.some((s: { id: string }) => mine.has(s.id))).toBe(false)
  })

  test('revoking one ends its tokens; another user’s session is not found', async () => {
    const u = await env.user('user')
    const other = await env.login(u.email, u.password)
    const list = await env.call('GET', `${AUTH}/sessions`, { token: u.token })
    const target = list.body.data.find((s: { current: boolean }) => !s.current)
    const stranger = await env.user('user')
    expect((await env.call('DELETE', `${AUTH}/sessions/${target.id}`, { token: stranger.token })).status).toBe(404)
    expect((await env.call('GET', `${AUTH}/me`, { token: other })).status).toBe(200)
    expect((await env.call('DELETE', `${AUTH}/sessions/${target.id}`, { token: u.token })).status).toBe(204)
    expect((await env.call('GET', `${AUTH}/me`, { token: other })).status).toBe(401)
    expect((await env.call('DELETE', `${AUTH}/sessions/${target.id}`, { token: u.token })).status).toBe(404)
    const audit = await env.call('GET', `/api-internal/v1/audit?action=auth.session_revoke&resource_id=${target.id}`, { token: await env.adminToken() })
    expect(audit.body.total).toBe(1)
  })

  test('revoke-others keeps only the session asking', async () => {
    const u = await env.user('user')
    const a = await env.login(u.email, u.password)
    const b = await env.login(u.email, u.password)
    const res = await env.call('POST', `${AUTH}/sessions/revoke-others`, { token: b })
    expect(res.body).toEqual({ revoked: 2 })
    expect((await env.call('GET', `${AUTH}/me`, { token: a })).status).toBe(401)
    expect((await env.call('GET', `${AUTH}/me`, { token: u.token })).status).toBe(401)
    const left = await env.call('GET', `${AUTH}/sessions`, { token: b })
    expect(left.body.data).toHaveLength(1)
    expect(left.body.data[0].current).toBe(true)
  })

  test('signed out: 401', async () => {
    expect((await env.call('GET', `${AUTH}/sessions`)).status).toBe(401)
  })
})
