/** The dashboard's cookie session: httpOnly refresh cookie, double-submit CSRF token, rotation, reuse, logout. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { ADMIN_EMAIL, ADMIN_PASSWORD, createTestEnv, type TestEnv } from '../../test/harness.ts'

let env: TestEnv
beforeAll(async () => {
  env = await createTestEnv()
})
afterAll(() => env.close())

/** name -> { value, attributes } of every Set-Cookie of a response. */
function cookiesOf(res: Response): Map<string, { value: string; attrs: string }> {
  const out = new Map<string, { value: string; attrs: string }>()
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';')
    const [name, ...value] = pair!.split('=')
    out.set(name!.trim(), { value: value.join('='), attrs: attrs.join(';').toLowerCase() })
  }
  return out
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  env.app.handle(
    new Request(`http://localhost/api-internal/v1/auth${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    }),
  )

test('sign-in in cookie mode: the refresh token only in an httpOnly, Strict cookie scoped to the auth routes', async () => {
  const res = await post('/login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, cookie: true })
  expect(res.status).toBe(200)
  const body = (await res.json()) as Record<string, unknown>
  expect(body.access_token).toBeString()
  expect(body.refresh_token).toBeUndefined()
  const jar = cookiesOf(res)
  expect(jar.get('enclava_refresh')?.attrs).toContain('httponly')
  expect(jar.get('enclava_refresh')?.attrs).toContain('samesite=strict')
  expect(jar.get('enclava_refresh')?.attrs).toContain('path=/api-internal/v1/auth')
  expect(jar.get('enclava_csrf')?.attrs).not.toContain('httponly')
  expect(jar.get('enclava_csrf')?.value.length).toBeGreaterThan(20)
})

test('refresh needs the CSRF header to match; it rotates; an old cookie is reuse and ends the session', async () => {
  const login = cookiesOf(await post('/login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, cookie: true }))
  const cookieHeader = (jar: Map<string, { value: string }>) => `enclava_refresh=${jar.get('enclava_refresh')!.value}; enclava_csrf=${jar.get('enclava_csrf')!.value}`
  const noCsrf = await post('/refresh', {}, { cookie: cookieHeader(login) })
  expect(noCsrf.status).toBe(403)
  const wrongCsrf = await post('/refresh', {}, { cookie: cookieHeader(login), 'x-csrf-token': 'nope' })
  expect(wrongCsrf.status).toBe(403)
  const ok = await post('/refresh', {}, { cookie: cookieHeader(login), 'x-csrf-token': login.get('enclava_csrf')!.value })
  expect(ok.status).toBe(200)
  const rotated = cookiesOf(ok)
  expect(rotated.get('enclava_refresh')!.value).not.toBe(login.get('enclava_refresh')!.value)
  const { access_token } = (await ok.json()) as { access_token: string }
  expect((await env.call('GET', '/api-internal/v1/auth/me', { token: access_token })).status).toBe(200)

  // The rotated cookie is used; then the first one again is reuse: the session ends and the browser is told to drop
  // its cookies.
  const third = await post('/refresh', {}, { cookie: cookieHeader(rotated), 'x-csrf-token': rotated.get('enclava_csrf')!.value })
  expect(third.status).toBe(200)
  const reuse = await post('/refresh', {}, { cookie: cookieHeader(login), 'x-csrf-token': login.get('enclava_csrf')!.value })
  expect(reuse.status).toBe(401)
  expect(cookiesOf(reuse).get('enclava_refresh')?.attrs).toContain('max-age=0')
  const latest = cookiesOf(third)
  const after = await post('/refresh', {}, { cookie: cookieHeader(latest), 'x-csrf-token': latest.get('enclava_csrf')!.value })
  expect(after.status).toBe(401)
})

test('logout clears the cookies; without a cookie or a token, refresh says what to send', async () => {
  const loginRes = await post('/login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, cookie: true })
  const { access_token } = (await loginRes.json()) as { access_token: string }
  const out = await post('/logout', {}, { authorization: `Bearer ${access_token}` })
  expect(out.status).toBe(204)
  expect(cookiesOf(out).get('enclava_refresh')?.attrs).toContain('max-age=0')
  const bare = await post('/refresh', {}, { 'x-csrf-token': 'x' })
  expect(bare.status).toBe(400)
  expect(((await bare.json()) as { error: { param: string } }).error.param).toBe('refresh_token')
})
