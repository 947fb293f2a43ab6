/**
 * Every route of both APIs is guarded unless it is on the short public list: walks the app's own route table,
 * so a route added without a guard fails here without anyone remembering to write a test for it.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type CallResult } from './harness.ts'

const env = await createTestEnv()
afterAll(() => env.close())

const INTERNAL = '/api-internal/v1'
const PUBLIC = '/api/v1'
// auth/options tells the sign-in page whether it may offer registration: nothing but that flag, before any sign-in.
const PUBLIC_INTERNAL = new Set([`POST ${INTERNAL}/auth/login`, `POST ${INTERNAL}/auth/refresh`, `POST ${INTERNAL}/auth/register`, `GET ${INTERNAL}/auth/options`])
const isDocs = (path: string) => path === `${PUBLIC}/docs` || path.startsWith(`${PUBLIC}/docs/`)
// Plugins' own routes: each declares its auth in its manifest (API key, or public for signed webhooks), so this
// one entry cannot be guarded as a whole; src/plugins/plugins.test.ts checks every kind.
const PLUGIN_ROUTES = `${PUBLIC}/plugins/:name/*`
// The chat widget's CORS preflight: browsers never send credentials on a preflight; its checks (allow headers only
// for an origin a usable key lists) are in test/widget.test.ts. The POST beside it is guarded as usual.
const isWidgetPreflight = ([method, path]: [string, string]) => method === 'OPTIONS' && path === `${PUBLIC}/widget/:id/chat`
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH'])

type Route = [method: string, path: string]
const all: Route[] = env.app.routes.map((r) => [r.method.toUpperCase(), r.path] as Route)
const key = ([method, path]: Route) => `${method} ${path}`
// HEAD answers carry no body to check; the same handler's GET is walked.
const internalRoutes = all.filter((r) => r[1].startsWith(`${INTERNAL}/`) && !PUBLIC_INTERNAL.has(key(r)) && r[0] !== 'HEAD')
const publicRoutes = all.filter((r) => (r[1] === PUBLIC || r[1].startsWith(`${PUBLIC}/`)) && !isDocs(r[1]) && r[1] !== PLUGIN_ROUTES && !isWidgetPreflight(r))

/** `:id` (and any other path parameter) becomes a random uuid; methods with bodies send `{}`. */
function request(method: string, path: string, auth: { token?: string; apiKey?: string } = {}) {
  const concrete = path.replace(/:[A-Za-z_]\w*/g, () => crypto.randomUUID())
  return env.call(method, concrete, { ...auth, ...(WITH_BODY.has(method) ? { body: {} } : {}) })
}

function expectNoStack(res: CallResult) {
  const text = typeof res.body === 'string' ? res.body : JSON.stringify(res.body)
  expect(text).not.toContain('    at ')
  expect(text).not.toContain('.ts:')
}

function expect401(res: CallResult, code: string, route: string) {
  expect({ route, status: res.status, code: res.body?.error?.code }).toEqual({ route, status: 401, code })
  expect(Object.keys(res.body)).toEqual(['error'])
  expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message', 'param', 'request_id', 'type'])
  expect(res.body.error).toMatchObject({ type: 'authentication_error', code, param: null })
  expect(typeof res.body.error.message).toBe('string')
  expect(res.body.error.message.length).toBeGreaterThan(0)
  expect(res.body.error.request_id).toBe(res.headers.get('x-request-id'))
  expectNoStack(res)
}

describe('the route table', () => {
  test('the internal list is non-empty and covers the users, api-keys, audit and session routes', () => {
    const keys = new Set(internalRoutes.map(key))
    const required = [
      `GET ${INTERNAL}/users/`,
      `POST ${INTERNAL}/users/`,
      `GET ${INTERNAL}/users/:id`,
      `PATCH ${INTERNAL}/users/:id`,
      `DELETE ${INTERNAL}/users/:id`,
      `POST ${INTERNAL}/users/:id/deactivate`,
      `POST ${INTERNAL}/users/:id/activate`,
      `POST ${INTERNAL}/users/:id/reset-password`,
      `GET ${INTERNAL}/api-keys/`,
      `POST ${INTERNAL}/api-keys/`,
      `GET ${INTERNAL}/api-keys/:id`,
      `PATCH ${INTERNAL}/api-keys/:id`,
      `DELETE ${INTERNAL}/api-keys/:id`,
      `POST ${INTERNAL}/api-keys/:id/regenerate`,
      `GET ${INTERNAL}/api-keys/:id/usage`,
      `GET ${INTERNAL}/audit/`,
      `GET ${INTERNAL}/auth/me`,
      `POST ${INTERNAL}/auth/logout`,
      `POST ${INTERNAL}/auth/change-password`,
    ]
    expect(internalRoutes.length).toBeGreaterThanOrEqual(required.length)
    for (const r of required) expect({ route: r, listed: keys.has(r) }).toEqual({ route: r, listed: true })
  })

  test('the public list is non-empty and includes /api/v1/me; the exclusions name real routes', () => {
    expect(publicRoutes.map(key)).toContain(`GET ${PUBLIC}/me`)
    const keys = new Set(all.map(key))
    for (const r of PUBLIC_INTERNAL) expect({ route: r, exists: keys.has(r) }).toEqual({ route: r, exists: true })
    expect(all.some((r) => isDocs(r[1]))).toBe(true)
  })
})

describe.each(internalRoutes)('%s %s', (method, path) => {
  const route = `${method} ${path}`

  test('without a token: 401 authentication_required', async () => {
    expect401(await request(method, path), 'authentication_required', route)
  })

  test('with a garbage token: 401 invalid_token', async () => {
    expect401(await request(method, path, { token: 'garbage.not-a.jwt' }), 'invalid_token', route)
  })

  test('with an API key instead of a session: 401 invalid_token', async () => {
    expect401(await request(method, path, { apiKey: 'en_0123456789abcdef0123456789abcdef' }), 'invalid_token', route)
  })
})

describe.each(publicRoutes)('%s %s', (method, path) => {
  const route = `${method} ${path}`

  test('without an API key: 401 invalid_api_key in the OpenAI error shape', async () => {
    expect401(await request(method, path), 'invalid_api_key', route)
  })

  test('with an unknown API key: 401 invalid_api_key', async () => {
    expect401(await request(method, path, { apiKey: 'en_not-a-real-key-0000000000000000' }), 'invalid_api_key', route)
  })

  test('a session token is not an API key: 401 invalid_api_key', async () => {
    expect401(await request(method, path, { token: await env.adminToken() }), 'invalid_api_key', route)
  })
})

describe('the public routes stay public', () => {
  test.each([...PUBLIC_INTERNAL].map((k) => k.split(' ') as Route))('%s %s answers without a token, and not with 401 authentication_required', async (method, path) => {
    const res = await request(method, path)
    expect(res.status).not.toBe(401)
    expect(res.body?.error?.code).not.toBe('authentication_required')
    expectNoStack(res)
  })

  test('the API docs need no key', async () => {
    const res = await env.call('GET', `${PUBLIC}/docs/json`)
    expect(res.status).toBe(200)
    expect(res.body.paths).toBeDefined()
  })
})
