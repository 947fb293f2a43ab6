/**
 * `GET /api-internal/v1/api-keys/:id/usage/daily`: the per-key usage the dashboard charts. Real gateway traffic
 * through a local upstream, so the rows come from the same ledger production writes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

const KEYS = '/api-internal/v1/api-keys'
let env: TestEnv
let upstream: Upstream

beforeAll(async () => {
  upstream = await startUpstream({ models: ['daily-chat'] })
  env = await createTestEnv({ PRIVATEMODE_URL: upstream.url })
})
afterAll(async () => {
  await env.close()
  await upstream.stop()
})

async function createKey(token: string): Promise<{ id: string; key: string }> {
  const res = await env.call('POST', KEYS, { token, body: { name: 'charted' } })
  expect(res.status).toBe(201)
  return res.body
}

const chat = (key: string) =>
  env.call('POST', '/api/v1/chat/completions', { apiKey: key, body: { model: 'daily-chat', messages: [{ role: 'user', content: 'hello' }] } })

describe('per-key daily usage', () => {
  test("counts only that key's requests, by day and model, with tokens", async () => {
    const u = await env.user('user')
    const a = await createKey(u.token)
    const b = await createKey(u.token)
    const empty = await env.call('GET', `${KEYS}/${a.id}/usage/daily`, { token: u.token })
    expect(empty.status).toBe(200)
    expect(empty.body).toEqual({ data: [] })

    for (let i = 0; i < 3; i++) expect((await chat(a.key)).status).toBe(200)
    expect((await chat(b.key)).status).toBe(200)

    const res = await env.call('GET', `${KEYS}/${a.id}/usage/daily?days=7`, { token: u.token })
    expect(res.status).toBe(200)
    expect(res.body.data).toHaveLength(1)
    const [day] = res.body.data
    expect(day).toMatchObject({ model: 'daily-chat', requests: 3, errors: 0, day: new Date().toISOString().slice(0, 10) })
    expect(day.prompt_tokens).toBeGreaterThan(0)
    expect(day.completion_tokens).toBeGreaterThan(0)
    expect(typeof day.cost_usd).toBe('number')

    const other = await env.call('GET', `${KEYS}/${b.id}/usage/daily`, { token: u.token })
    expect(other.body.data.map((d: { requests: number }) => d.requests)).toEqual([1])
  })

  test("another user's key is 404; an admin may read it; bad days are 400", async () => {
    const owner = await env.user('user')
    const stranger = await env.user('user')
    const admin = await env.user('admin')
    const k = await createKey(owner.token)
    const path = `${KEYS}/${k.id}/usage/daily`
    const denied = await env.call('GET', path, { token: stranger.token })
    expect(denied.status).toBe(404)
    expect(denied.body.error.code).toBe('not_found')
    expect((await env.call('GET', path, { token: admin.token })).status).toBe(200)
    expect((await env.call('GET', path)).status).toBe(401)
    for (const days of ['0', '367', 'x']) {
      const res = await env.call('GET', `${path}?days=${days}`, { token: owner.token })
      expect({ days, status: res.status }).toEqual({ days, status: 400 })
    }
  })
})
