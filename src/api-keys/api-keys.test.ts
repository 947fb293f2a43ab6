import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type CallOptions, type TestEnv } from '../../test/harness.ts'
import { generateApiKey, hashApiKey } from './keys.ts'

let env: TestEnv
beforeAll(async () => {
  env = await createTestEnv()
})
afterAll(() => env.close())

const KEYS = '/api-internal/v1/api-keys'
type User = Awaited<ReturnType<TestEnv['user']>>

interface CreatedKey {
  id: string
  key: string
  key_prefix: string
  [field: string]: unknown
}

async function createKey(token: string, body: Record<string, unknown> = {}, on: TestEnv = env): Promise<CreatedKey> {
  const res = await on.call('POST', KEYS, { token, body: { name: `key-${crypto.randomUUID().slice(0, 8)}`, ...body } })
  if (res.status !== 201) throw new Error(`create key failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** `GET /api/v1/me` with the key as a Bearer token (or however `opts` says). */
const me = (key: string | undefined, opts: CallOptions = {}, on: TestEnv = env) =>
  on.call('GET', '/api/v1/me', { ...(key === undefined ? {} : { apiKey: key }), ...opts })

function expectInvalidKey(res: { status: number; body: any }) {
  expect(res.status).toBe(401)
  expect(res.body.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key', param: null })
  expect(typeof res.body.error.message).toBe('string')
  expect(res.body.error.message.length).toBeGreaterThan(0)
}

function expectValidation(res: { status: number; body: any }, field: string) {
  expect(res.status).toBe(400)
  expect(res.body.error.code).toBe('validation_failed')
  expect(res.body.error.type).toBe('invalid_request_error')
  expect(res.body.error.message).toContain(field)
  expect(String(res.body.error.param)).toStartWith(field)
}

/** Neither the secret nor its hash (nor any field carrying them) may appear in a key view. */
function expectNoSecret(view: unknown, key: string) {
  const text = JSON.stringify(view)
  expect(text).not.toContain(key)
  expect(text).not.toContain(hashApiKey(key))
  expect(text).not.toContain('key_hash')
  expect(view).not.toHaveProperty('key')
}

describe('lifecycle', () => {
  let owner: User
  beforeAll(async () => {
    owner = await env.user('user')
  })

  test('create returns the secret once; get and list never do', async () => {
    const res = await env.call('POST', KEYS, { token: owner.token, body: { name: 'first key' } })
    expect(res.status).toBe(201)
    const created = res.body
    expect(created.key).toMatch(/^en_[0-9A-Za-z]{40}$/)
    expect(created.key_prefix).toBe(created.key.slice(0, 8))
    expect(created).toMatchObject({
      user_id: owner.id,
      name: 'first key',
      is_active: true,
      request_count: 0,
      last_used_at: null,
      expires_at: null,
      allowed_ips: [],
      allowed_endpoints: [],
      allowed_models: [],
      scopes: ['llm', 'rag:read', 'chatbots', 'plugins'],
    })
    expect(JSON.stringify(created)).not.toContain(hashApiKey(created.key))
    expect(JSON.stringify(created)).not.toContain('key_hash')

    const got = await env.call('GET', `${KEYS}/${created.id}`, { token: owner.token })
    expect(got.status).toBe(200)
    expect(got.body.id).toBe(created.id)
    expect(got.body.key_prefix).toBe(created.key_prefix)
    expectNoSecret(got.body, created.key)

    const list = await env.call('GET', KEYS, { token: owner.token })
    expect(list.status).toBe(200)
    expect(list.body.data.map((k: { id: string }) => k.id)).toContain(created.id)
    for (const view of list.body.data) expectNoSecret(view, created.key)
    expect(JSON.stringify(list.body)).not.toContain(created.key)
  })

  test('the key authenticates GET /api/v1/me by Bearer and by X-API-Key', async () => {
    const k = await createKey(owner.token, { rate_limit_per_minute: 60, allowed_models: ['gpt-x'] })
    const u = (await env.call('GET', '/api-internal/v1/auth/me', { token: owner.token })).body
    for (const opts of [{ apiKey: k.key }, { headers: { 'x-api-key': k.key } }, { headers: { authorization: `bearer ${k.key}` } }]) {
      const res = await env.call('GET', '/api/v1/me', opts)
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({
        id: k.id,
        name: k.name,
        key_prefix: k.key_prefix,
        owner: { id: owner.id, username: u.username, email: owner.email },
        scopes: ['llm', 'rag:read', 'chatbots', 'plugins'],
        limits: {
          allowed_models: ['gpt-x'],
          allowed_endpoints: [],
          allowed_ips: [],
          rate_limit_per_minute: 60,
          rate_limit_per_hour: null,
          rate_limit_per_day: null,
          expires_at: null,
        },
      })
      expect(Object.keys(res.body.owner).sort()).toEqual(['email', 'id', 'username'])
      expect(JSON.stringify(res.body)).not.toContain(hashApiKey(k.key))
    }
  })

  test('a session token is not an API key, and an API key is not a session token', async () => {
    const k = await createKey(owner.token)
    expectInvalidKey(await me(owner.token))
    expect((await env.call('GET', '/api-internal/v1/auth/me', { token: k.key })).status).toBe(401)
    expect((await env.call('GET', KEYS, { token: k.key })).status).toBe(401)
  })

  test('wrong, malformed and missing keys are 401 in the OpenAI error shape', async () => {
    const k = await createKey(owner.token)
    const samePrefix = k.key.slice(0, 8) + generateApiKey().slice(8)
    const cases: [string, CallOptions][] = [
      ['missing', {}],
      ['unknown but well-formed', { apiKey: generateApiKey() }],
      ['right prefix, wrong secret', { apiKey: samePrefix }],
      ['one character short', { apiKey: k.key.slice(0, -1) }],
      ['one character long', { apiKey: `${k.key}x` }],
      ['garbage', { apiKey: 'not-a-key' }],
      ['the hash instead of the key', { apiKey: hashApiKey(k.key) }],
      ['wrong X-API-Key', { headers: { 'x-api-key': generateApiKey() } }],
      ['empty X-API-Key', { headers: { 'x-api-key': '' } }],
      ['Basic scheme', { headers: { authorization: `Basic ${k.key}` } }],
      ['Bearer without a value', { headers: { authorization: 'Bearer ' } }],
    ]
    for (const [name, opts] of cases) {
      const res = await env.call('GET', '/api/v1/me', opts)
      try {
        expectInvalidKey(res)
      } catch (err) {
        throw new Error(`case "${name}": ${res.status} ${JSON.stringify(res.body)}\n${String(err)}`)
      }
    }
    // The real key still works: the failures above were about the presented value.
    expect((await me(k.key)).status).toBe(200)
  })

  test('PATCH changes name, limits and restrictions, and /me reflects them at once', async () => {
    const k = await createKey(owner.token)
    expect((await me(k.key)).status).toBe(200) // cached by the verifier now
    const patch = {
      name: 'renamed',
      scopes: ['llm'],
      allowed_models: ['m1', 'm2'],
      allowed_endpoints: ['/chat/completions'],
      rate_limit_per_minute: 10,
      rate_limit_per_hour: 100,
      rate_limit_per_day: 1000,
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
    }
    const res = await env.call('PATCH', `${KEYS}/${k.id}`, { token: owner.token, body: patch })
    expect(res.status).toBe(200)
    // (No asymmetric matchers in toMatchObject here: Bun 1.4.4 writes the matcher into the received object.)
    expect(new Date(res.body.expires_at).getTime()).toBe(new Date(patch.expires_at).getTime())
    const { expires_at: _expires, ...rest } = patch
    expect(res.body).toMatchObject(rest)
    expectNoSecret(res.body, k.key)

    const after = await me(k.key)
    expect(after.status).toBe(200)
    expect(after.body.name).toBe('renamed')
    expect(after.body.scopes).toEqual(['llm'])
    expect(after.body.limits).toMatchObject({
      allowed_models: ['m1', 'm2'],
      allowed_endpoints: ['/chat/completions'],
      rate_limit_per_minute: 10,
      rate_limit_per_hour: 100,
      rate_limit_per_day: 1000,
    })
    expect(new Date(after.body.limits.expires_at).getTime()).toBe(new Date(patch.expires_at).getTime())

    // Limits can be cleared again.
    const cleared = await env.call('PATCH', `${KEYS}/${k.id}`, {
      token: owner.token,
      body: { rate_limit_per_minute: null, expires_at: null, allowed_endpoints: [] },
    })
    expect(cleared.status).toBe(200)
    expect(cleared.body).toMatchObject({ rate_limit_per_minute: null, expires_at: null, allowed_endpoints: [], name: 'renamed' })
    expect((await me(k.key)).body.limits).toMatchObject({ rate_limit_per_minute: null, expires_at: null })

    const got = await env.call('GET', `${KEYS}/${k.id}`, { token: owner.token })
    expect(got.body).toMatchObject({ name: 'renamed', rate_limit_per_hour: 100, rate_limit_per_minute: null })
  })

  test('deactivate stops the key at once; activate brings it back', async () => {
    const k = await createKey(owner.token)
    expect((await me(k.key)).status).toBe(200)
    const off = await env.call('POST', `${KEYS}/${k.id}/deactivate`, { token: owner.token })
    expect(off.status).toBe(200)
    expect(off.body.is_active).toBe(false)
    expectInvalidKey(await me(k.key))
    expectInvalidKey(await me(undefined, { headers: { 'x-api-key': k.key } }))
    expect((await env.call('GET', `${KEYS}/${k.id}`, { token: owner.token })).body.is_active).toBe(false)

    const on = await env.call('POST', `${KEYS}/${k.id}/activate`, { token: owner.token })
    expect(on.status).toBe(200)
    expect(on.body.is_active).toBe(true)
    expect((await me(k.key)).status).toBe(200)
  })

  test('regenerate: the old secret dies at once, the new one works, the id stays', async () => {
    const k = await createKey(owner.token)
    expect((await me(k.key)).status).toBe(200)
    const res = await env.call('POST', `${KEYS}/${k.id}/regenerate`, { token: owner.token })
    expect(res.status).toBe(200)
    expect(res.body.id).toBe(k.id)
    expect(res.body.key).toMatch(/^en_[0-9A-Za-z]{40}$/)
    expect(res.body.key).not.toBe(k.key)
    expect(res.body.key_prefix).toBe(res.body.key.slice(0, 8))
    expect(res.body.name).toBe(k.name)
    expectInvalidKey(await me(k.key))
    const fresh = await me(res.body.key)
    expect(fresh.status).toBe(200)
    expect(fresh.body.id).toBe(k.id)
    const got = await env.call('GET', `${KEYS}/${k.id}`, { token: owner.token })
    expect(got.body.key_prefix).toBe(res.body.key.slice(0, 8))
    expectNoSecret(got.body, res.body.key)
  })

  test('delete: the key stops at once and is gone', async () => {
    const k = await createKey(owner.token)
    expect((await me(k.key)).status).toBe(200)
    const del = await env.call('DELETE', `${KEYS}/${k.id}`, { token: owner.token })
    expect(del.status).toBe(204)
    expectInvalidKey(await me(k.key))
    const got = await env.call('GET', `${KEYS}/${k.id}`, { token: owner.token })
    expect(got.status).toBe(404)
    expect(got.body.error.code).toBe('not_found')
    expect((await env.call('DELETE', `${KEYS}/${k.id}`, { token: owner.token })).status).toBe(404)
    const list = await env.call('GET', KEYS, { token: owner.token })
    expect(list.body.data.map((x: { id: string }) => x.id)).not.toContain(k.id)
  })

  test('an unknown id is 404, a malformed one 400', async () => {
    expect((await env.call('GET', `${KEYS}/${crypto.randomUUID()}`, { token: owner.token })).status).toBe(404)
    expect((await env.call('POST', `${KEYS}/${crypto.randomUUID()}/regenerate`, { token: owner.token })).status).toBe(404)
    expectValidation(await env.call('GET', `${KEYS}/not-a-uuid`, { token: owner.token }), 'id')
  })
})

describe('expiry', () => {
  test('expires_at in the past is refused at creation and on update, naming expires_at', async () => {
    const u = await env.user('user')
    const past = new Date(Date.now() - 60_000).toISOString()
    expectValidation(await env.call('POST', KEYS, { token: u.token, body: { name: 'old', expires_at: past } }), 'expires_at')
    const k = await createKey(u.token)
    expectValidation(await env.call('PATCH', `${KEYS}/${k.id}`, { token: u.token, body: { expires_at: past } }), 'expires_at')
    expect((await env.call('GET', `${KEYS}/${k.id}`, { token: u.token })).body.expires_at).toBeNull()
    // Nothing was created by the refused request.
    expect((await env.call('GET', KEYS, { token: u.token })).body.total).toBe(1)
  })

  test('a key stops working once its expiry passes, even while cached', async () => {
    const u = await env.user('user')
    const expiresAt = Date.now() + 2_000
    const k = await createKey(u.token, { expires_at: new Date(expiresAt).toISOString() })
    expect((await me(k.key)).status).toBe(200)
    const deadline = expiresAt + 10_000
    let rejected: { status: number; body: any } | null = null
    while (Date.now() < deadline) {
      const sentAt = Date.now()
      const res = await me(k.key)
      const answeredAt = Date.now()
      if (res.status === 200) {
        // The server checked between sending and answering: accepted means it was not yet expired when sent.
        expect(sentAt).toBeLessThan(expiresAt)
      } else {
        rejected = res
        // Never refused before it expired.
        expect(answeredAt).toBeGreaterThanOrEqual(expiresAt)
        break
      }
      await Bun.sleep(100)
    }
    expect(rejected).not.toBeNull()
    expectInvalidKey(rejected!)
    expect(rejected!.body.error.message).toContain('expired')
    expectInvalidKey(await me(k.key))
  })
})

describe('restrictions', () => {
  test('allowed_ips with TRUST_PROXY: X-Forwarded-For inside the list passes, outside is 403', async () => {
    const proxied = await createTestEnv({ TRUST_PROXY: 'true' })
    try {
      const u = await proxied.user('user')
      const k = await createKey(u.token, { allowed_ips: ['10.0.0.0/8', '2001:db8::/32', '198.51.100.7'] }, proxied)
      const cases: [xff: string | null, status: number][] = [
        ['10.1.2.3', 200],
        ['198.51.100.7', 200],
        ['2001:db8::1', 200],
        ['::ffff:10.9.9.9', 200],
        ['192.168.1.1', 403],
        ['198.51.100.8', 403],
        ['2001:db9::1', 403],
        ['garbage', 403],
        // The proxy appends the address it saw; what the client put to its left is not believed.
        ['10.1.2.3, 192.168.1.1', 403],
        ['192.168.1.1, 10.1.2.3', 200],
        [null, 403], // no proxy header and no socket address: unknown, so not allowed
      ]
      for (const [xff, status] of cases) {
        const res = await me(k.key, xff === null ? {} : { headers: { 'x-forwarded-for': xff } }, proxied)
        expect({ xff, status: res.status }).toEqual({ xff, status })
        if (status === 403) {
          expect(res.body.error).toMatchObject({ code: 'ip_not_allowed', type: 'permission_error', param: null })
        } else {
          expect(res.body.limits.allowed_ips).toEqual(['10.0.0.0/8', '2001:db8::/32', '198.51.100.7'])
        }
      }
      // Lifting the restriction takes effect at once.
      const patched = await proxied.call('PATCH', `${KEYS}/${k.id}`, { token: u.token, body: { allowed_ips: [] } })
      expect(patched.status).toBe(200)
      expect((await me(k.key, { headers: { 'x-forwarded-for': '192.168.1.1' } }, proxied)).status).toBe(200)
    } finally {
      await proxied.close()
    }
  })

  test('without TRUST_PROXY a forged X-Forwarded-For does not get past allowed_ips', async () => {
    const u = await env.user('user')
    const k = await createKey(u.token, { allowed_ips: ['10.0.0.0/8'] })
    const res = await me(k.key, { headers: { 'x-forwarded-for': '10.1.2.3' } })
    expect(res.status).toBe(403)
    expect(res.body.error.code).toBe('ip_not_allowed')
  })

  test('an invalid allowed_ips entry is a 400 naming allowed_ips, on create and update', async () => {
    const u = await env.user('user')
    for (const bad of ['not-an-ip', '10.0.0.0/33', '10.1.2.256', '2001:db8::/129', '010.1.2.3']) {
      const res = await env.call('POST', KEYS, { token: u.token, body: { name: 'x', allowed_ips: ['10.0.0.1', bad] } })
      expectValidation(res, 'allowed_ips')
      expect(res.body.error.message).toContain(bad)
    }
    const k = await createKey(u.token, { allowed_ips: ['10.0.0.1'] })
    expectValidation(await env.call('PATCH', `${KEYS}/${k.id}`, { token: u.token, body: { allowed_ips: ['nope'] } }), 'allowed_ips')
    expect((await env.call('GET', `${KEYS}/${k.id}`, { token: u.token })).body.allowed_ips).toEqual(['10.0.0.1'])
    expect((await env.call('GET', KEYS, { token: u.token })).body.total).toBe(1)
  })

  test('allowed_endpoints limits the key by path prefix, but /me always works', async () => {
    const u = await env.user('user')
    const k = await createKey(u.token, { allowed_endpoints: ['/chat/completions'] })
    expect((await me(k.key)).status).toBe(200)
    const cases: [path: string, ok: boolean][] = [
      ['/chat/completions', true],
      ['/chat/completions/abc', true],
      ['/me', true],
      ['/embeddings', false],
      ['/chat/completionsX', false],
      ['/chat', false],
      ['/models', false],
    ]
    for (const [path, ok] of cases) {
      const verdict = await env.s.verifier.verify(k.key, { ip: null, path })
      expect({ path, ok: verdict.ok }).toEqual({ path, ok })
      if (!verdict.ok) {
        expect(verdict.reason).toBe('ENDPOINT_NOT_ALLOWED')
        expect(verdict.key?.id).toBe(k.id)
      }
    }
    // A key without an endpoint list may call anything.
    const open = await createKey(u.token)
    expect((await env.s.verifier.verify(open.key, { ip: null, path: '/embeddings' })).ok).toBe(true)
  })

  test('verifier verdicts for unknown, inactive and expired keys', async () => {
    const u = await env.user('user')
    expect(await env.s.verifier.verify('garbage', { ip: null, path: '/me' })).toEqual({ ok: false, reason: 'NOT_FOUND' })
    expect(await env.s.verifier.verify(generateApiKey(), { ip: null, path: '/me' })).toEqual({ ok: false, reason: 'NOT_FOUND' })
    const k = await createKey(u.token)
    await env.call('POST', `${KEYS}/${k.id}/deactivate`, { token: u.token })
    expect(await env.s.verifier.verify(k.key, { ip: null, path: '/me' })).toMatchObject({ ok: false, reason: 'DISABLED' })
    const ipLimited = await createKey(u.token, { allowed_ips: ['10.0.0.0/8'] })
    expect(await env.s.verifier.verify(ipLimited.key, { ip: '10.0.0.1', path: '/me' })).toMatchObject({ ok: true })
    expect(await env.s.verifier.verify(ipLimited.key, { ip: '11.0.0.1', path: '/me' })).toMatchObject({ ok: false, reason: 'IP_NOT_ALLOWED' })
  })

  test("deactivating the owner stops the owner's keys at once; reactivating restores them", async () => {
    const u = await env.user('user')
    const k = await createKey(u.token)
    expect((await me(k.key)).status).toBe(200)
    const admin = await env.adminToken()
    expect((await env.call('POST', `/api-internal/v1/users/${u.id}/deactivate`, { token: admin })).status).toBe(200)
    expectInvalidKey(await me(k.key))
    expect((await env.call('POST', `/api-internal/v1/users/${u.id}/activate`, { token: admin })).status).toBe(200)
    expect((await me(k.key)).status).toBe(200)
  })

  test("deleting the owner stops the owner's keys at once", async () => {
    const u = await env.user('user')
    const k = await createKey(u.token)
    expect((await me(k.key)).status).toBe(200)
    expect((await env.call('DELETE', `/api-internal/v1/users/${u.id}`, { token: await env.adminToken() })).status).toBe(204)
    expectInvalidKey(await me(k.key))
  })
})

describe('validation', () => {
  let u: User
  beforeAll(async () => {
    u = await env.user('user')
  })

  const createCases: [name: string, body: unknown, field: string][] = [
    ['name missing', { scopes: ['llm'] }, 'name'],
    ['name empty', { name: '' }, 'name'],
    ['name too long', { name: 'x'.repeat(101) }, 'name'],
    ['name not a string', { name: 42 }, 'name'],
    ['unknown scope', { name: 'k', scopes: ['llm', 'admin'] }, 'scopes'],
    ['duplicate scope', { name: 'k', scopes: ['llm', 'llm'] }, 'scopes'],
    ['extra property', { name: 'k', is_admin: true }, 'is_admin'],
    ['user_id is not settable', { name: 'k', user_id: crypto.randomUUID() }, 'user_id'],
    ['rate limit zero', { name: 'k', rate_limit_per_minute: 0 }, 'rate_limit_per_minute'],
    ['rate limit fractional', { name: 'k', rate_limit_per_hour: 1.5 }, 'rate_limit_per_hour'],
    ['expires_at not a date', { name: 'k', expires_at: 'tomorrow' }, 'expires_at'],
    ['endpoint without leading slash', { name: 'k', allowed_endpoints: ['chat/completions'] }, 'allowed_endpoints'],
  ]
  test.each(createCases)('create: %s -> 400 naming the field', async (_name, body, field) => {
    const before = (await env.call('GET', KEYS, { token: u.token })).body.total
    expectValidation(await env.call('POST', KEYS, { token: u.token, body }), field)
    expect((await env.call('GET', KEYS, { token: u.token })).body.total).toBe(before)
  })

  test('update: empty, extra or invalid fields -> 400', async () => {
    const k = await createKey(u.token, { name: 'stable' })
    const empty = await env.call('PATCH', `${KEYS}/${k.id}`, { token: u.token, body: {} })
    expect(empty.status).toBe(400)
    expect(empty.body.error.code).toBe('validation_failed')
    expectValidation(await env.call('PATCH', `${KEYS}/${k.id}`, { token: u.token, body: { is_active: false } }), 'is_active')
    expectValidation(await env.call('PATCH', `${KEYS}/${k.id}`, { token: u.token, body: { key_hash: 'aa' } }), 'key_hash')
    expectValidation(await env.call('PATCH', `${KEYS}/${k.id}`, { token: u.token, body: { scopes: ['root'] } }), 'scopes')
    expectValidation(await env.call('PATCH', `${KEYS}/${k.id}`, { token: u.token, body: { name: '' } }), 'name')
    const got = await env.call('GET', `${KEYS}/${k.id}`, { token: u.token })
    expect(got.body).toMatchObject({ name: 'stable', is_active: true })
    expect((await me(k.key)).status).toBe(200)
  })
})

describe('ownership', () => {
  let a: User
  let b: User
  let bKey: CreatedKey
  beforeAll(async () => {
    a = await env.user('user')
    b = await env.user('user')
    bKey = await createKey(b.token, { name: 'b-key' })
    await createKey(a.token, { name: 'a-key' })
  })

  // Every row has all three values: bun treats a callback with more parameters than the row as taking `done`.
  const routes: [method: string, suffix: string, body: unknown][] = [
    ['GET', '', null],
    ['PATCH', '', { name: 'hijacked' }],
    ['POST', '/regenerate', null],
    ['POST', '/deactivate', null],
    ['POST', '/activate', null],
    ['GET', '/usage', null],
    ['DELETE', '', null],
  ]
  test.each(routes)("another user's key is 404, not 403: %s {id}%s", async (method, suffix, body) => {
    const opts = (token: string) => ({ token, ...(body === null ? {} : { body }) })
    const res = await env.call(method, `${KEYS}/${bKey.id}${suffix}`, opts(a.token))
    expect(res.status).toBe(404)
    expect(res.body.error.code).toBe('not_found')
    // Same answer as for an id that does not exist at all.
    const missing = await env.call(method, `${KEYS}/${crypto.randomUUID()}${suffix}`, opts(a.token))
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('not_found')
    // And nothing happened to B's key.
    const still = await env.call('GET', `${KEYS}/${bKey.id}`, { token: b.token })
    expect(still.status).toBe(200)
    expect(still.body).toMatchObject({ name: 'b-key', is_active: true, key_prefix: bKey.key_prefix })
    expect((await me(bKey.key)).status).toBe(200)
  })

  test("a user's list never shows another user's keys, whatever the query", async () => {
    for (const query of ['', '?all=true', `?user_id=${b.id}`, `?all=true&user_id=${b.id}`]) {
      const res = await env.call('GET', `${KEYS}${query}`, { token: a.token })
      expect(res.status).toBe(200)
      const owners = new Set(res.body.data.map((k: { user_id: string }) => k.user_id))
      expect({ query, owners: [...owners] }).toEqual({ query, owners: [a.id] })
      expect(res.body.data.map((k: { id: string }) => k.id)).not.toContain(bKey.id)
      expect(res.body.total).toBe(1)
    }
  })

  test("an admin sees everyone's keys with ?all=true, and only their own without it", async () => {
    const admin = await env.user('admin')
    const own = await createKey(admin.token)
    const mine = await env.call('GET', KEYS, { token: admin.token })
    expect(mine.body.data.map((k: { id: string }) => k.id)).toEqual([own.id])
    const all = await env.call('GET', `${KEYS}?all=true&limit=200`, { token: admin.token })
    expect(all.status).toBe(200)
    const ids = all.body.data.map((k: { id: string }) => k.id)
    expect(ids).toContain(bKey.id)
    expect(ids).toContain(own.id)
    expect(new Set(all.body.data.map((k: { user_id: string }) => k.user_id)).size).toBeGreaterThanOrEqual(3)
    for (const view of all.body.data) expect(view).not.toHaveProperty('key')
    const byUser = await env.call('GET', `${KEYS}?user_id=${b.id}`, { token: admin.token })
    expect(byUser.body.data.map((k: { id: string }) => k.id)).toEqual([bKey.id])
    expect(byUser.body.total).toBe(1)
  })

  test("an admin can manage another user's key", async () => {
    const admin = await env.user('admin')
    const k = await createKey(b.token, { name: 'managed' })
    expect((await me(k.key)).status).toBe(200)
    const got = await env.call('GET', `${KEYS}/${k.id}`, { token: admin.token })
    expect(got.status).toBe(200)
    expect(got.body.user_id).toBe(b.id)
    const patched = await env.call('PATCH', `${KEYS}/${k.id}`, { token: admin.token, body: { name: 'renamed by admin' } })
    expect(patched.status).toBe(200)
    expect(patched.body).toMatchObject({ name: 'renamed by admin', user_id: b.id })
    expect((await env.call('POST', `${KEYS}/${k.id}/deactivate`, { token: admin.token })).status).toBe(200)
    expectInvalidKey(await me(k.key))
    expect((await env.call('POST', `${KEYS}/${k.id}/activate`, { token: admin.token })).status).toBe(200)
    expect((await me(k.key)).status).toBe(200)
    expect((await env.call('GET', `${KEYS}/${k.id}/usage`, { token: admin.token })).status).toBe(200)
    expect((await env.call('DELETE', `${KEYS}/${k.id}`, { token: admin.token })).status).toBe(204)
    expectInvalidKey(await me(k.key))
    expect((await env.call('GET', `${KEYS}/${k.id}`, { token: b.token })).status).toBe(404)
  })

  test('a read_only user can list their keys but not create one', async () => {
    const ro = await env.user('read_only')
    const list = await env.call('GET', KEYS, { token: ro.token })
    expect(list.status).toBe(200)
    expect(list.body).toMatchObject({ data: [], total: 0 })
    const created = await env.call('POST', KEYS, { token: ro.token, body: { name: 'nope' } })
    expect(created.status).toBe(403)
    expect(created.body.error).toMatchObject({ code: 'permission_denied', type: 'permission_error' })
    expect((await env.call('GET', KEYS, { token: ro.token })).body.total).toBe(0)
    // Nor manage someone else's key (404 for read, 403 before ownership for writes).
    expect((await env.call('GET', `${KEYS}/${bKey.id}`, { token: ro.token })).status).toBe(404)
    expect((await env.call('DELETE', `${KEYS}/${bKey.id}`, { token: ro.token })).status).toBe(403)
    expect((await me(bKey.key)).status).toBe(200)
  })

  test('the key routes need a session', async () => {
    const res = await env.call('GET', KEYS)
    expect(res.status).toBe(401)
    expect(res.body.error.code).toBe('authentication_required')
  })
})

describe('usage', () => {
  test('request_count and last_used_at follow successful calls only', async () => {
    const u = await env.user('user')
    const k = await createKey(u.token)
    const usage = () => env.call('GET', `${KEYS}/${k.id}/usage`, { token: u.token })
    const before = await usage()
    expect(before.status).toBe(200)
    expect(before.body).toEqual({ id: k.id, request_count: 0, last_used_at: null })

    const started = Date.now()
    const N = 7
    for (let i = 0; i < N; i++) expect((await me(k.key)).status).toBe(200)
    const after = await usage()
    expect(after.body.id).toBe(k.id)
    expect(after.body.request_count).toBe(N)
    expect(after.body.last_used_at).not.toBeNull()
    // Database and test share a clock here; allow for rounding and a little skew.
    expect(new Date(after.body.last_used_at).getTime()).toBeGreaterThanOrEqual(started - 5_000)
    expect((await env.call('GET', `${KEYS}/${k.id}`, { token: u.token })).body.request_count).toBe(N)

    // Refused calls are not counted.
    await env.call('POST', `${KEYS}/${k.id}/deactivate`, { token: u.token })
    for (let i = 0; i < 3; i++) expectInvalidKey(await me(k.key))
    expect((await usage()).body.request_count).toBe(N)

    // Counting goes on after reactivation.
    await env.call('POST', `${KEYS}/${k.id}/activate`, { token: u.token })
    expect((await me(k.key)).status).toBe(200)
    expect((await usage()).body.request_count).toBe(N + 1)
  })
})

describe('audit', () => {
  test('key lifecycle events are audited with the key id as resource', async () => {
    const u = await env.user('user')
    const k = await createKey(u.token)
    expect((await env.call('POST', `${KEYS}/${k.id}/deactivate`, { token: u.token })).status).toBe(200)
    expect((await env.call('POST', `${KEYS}/${k.id}/activate`, { token: u.token })).status).toBe(200)
    expect((await env.call('POST', `${KEYS}/${k.id}/regenerate`, { token: u.token })).status).toBe(200)
    expect((await env.call('PATCH', `${KEYS}/${k.id}`, { token: u.token, body: { name: 'n2' } })).status).toBe(200)
    expect((await env.call('DELETE', `${KEYS}/${k.id}`, { token: u.token })).status).toBe(204)

    const res = await env.call('GET', `/api-internal/v1/audit?resource_id=${k.id}&limit=500`, { token: await env.adminToken() })
    expect(res.status).toBe(200)
    const records = res.body.data as { action: string; resource_type: string; resource_id: string; actor_user_id: string; outcome: string; details: Record<string, unknown> }[]
    const actions = records.map((r) => r.action)
    for (const action of ['api_key.create', 'api_key.deactivate', 'api_key.activate', 'api_key.regenerate', 'api_key.update', 'api_key.delete'])
      expect(actions).toContain(action)
    for (const r of records) {
      expect(r).toMatchObject({ resource_type: 'api_key', resource_id: k.id, actor_user_id: u.id, outcome: 'success' })
      expect(JSON.stringify(r)).not.toContain(k.key)
    }

    // The same events are found by action, too.
    for (const action of ['api_key.create', 'api_key.delete', 'api_key.regenerate', 'api_key.deactivate']) {
      const byAction = await env.call('GET', `/api-internal/v1/audit?action=${action}&limit=500`, { token: await env.adminToken() })
      expect(byAction.body.data.some((r: { resource_id: string }) => r.resource_id === k.id)).toBe(true)
    }
  })

  test("an admin's action on someone else's key is audited under the admin", async () => {
    const u = await env.user('user')
    const admin = await env.user('admin')
    const k = await createKey(u.token)
    expect((await env.call('DELETE', `${KEYS}/${k.id}`, { token: admin.token })).status).toBe(204)
    const res = await env.call('GET', `/api-internal/v1/audit?resource_id=${k.id}&action=api_key.delete`, { token: await env.adminToken() })
    expect(res.body.data).toHaveLength(1)
    expect(res.body.data[0]).toMatchObject({ actor_user_id: admin.id, resource_id: k.id })
  })
})
