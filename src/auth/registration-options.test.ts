/** The sign-in page learns whether it may offer self-registration; the dashboard's sign-up gets a cookie session. */
import { afterAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

const envs: TestEnv[] = []
afterAll(async () => {
  for (const e of envs) await e.close()
})

describe('GET /auth/options and register with cookie', () => {
  test('closed by default: the options say so, without credentials', async () => {
    const env = await createTestEnv()
    envs.push(env)
    const res = await env.call('GET', '/api-internal/v1/auth/options')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ registration: false })
  })

  test('open: the options say so, and cookie: true puts the refresh token in the session cookie', async () => {
    const env = await createTestEnv({ ALLOW_REGISTRATION: 'true' })
    envs.push(env)
    expect((await env.call('GET', '/api-internal/v1/auth/options')).body).toEqual({ registration: true })
    const res = await env.call('POST', '/api-internal/v1/auth/register', {
      body: { email: 'new.person@example.com', username: 'newperson', password: 'a-long-enough-password', cookie: true },
    })
    expect(res.status).toBe(201)
    expect(res.body.access_token).toBeString()
    expect(res.body.refresh_token).toBeUndefined()
    const cookies = res.headers.getSetCookie().join('\n')
    expect(cookies).toContain('enclava_refresh=')
    expect(cookies).toContain('HttpOnly')
    // Without cookie: the pair in the body, as before.
    const plain = await env.call('POST', '/api-internal/v1/auth/register', {
      body: { email: 'other.person@example.com', username: 'otherperson', password: 'a-long-enough-password' },
    })
    expect(plain.status).toBe(201)
    expect(plain.body.refresh_token).toBeString()
  })
})
