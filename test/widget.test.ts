/**
 * The embeddable chat widget: the script, and the server-side origin, key and rate-limit checks on its chat API.
 * The widget itself in Chromium: widget-browser.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startUpstream, type Upstream } from './fixtures/upstream.ts'
import { createTestEnv, type TestEnv } from './harness.ts'

const WIDGET_LIMIT = 3
const SHOP = 'https://shop.example.com'

let env: TestEnv
let up: Upstream
let owner: Awaited<ReturnType<TestEnv['user']>>
let other: Awaited<ReturnType<TestEnv['user']>>

beforeAll(async () => {
  up = await startUpstream({ models: ['bot-model'] })
  env = await createTestEnv({
    OPENAI_COMPAT_URL: up.url,
    RATE_LIMIT_INTERNAL_PER_MINUTE: '5000',
    WIDGET_RATE_LIMIT_PER_MINUTE: '1000',
  })
  owner = await env.user('user')
  other = await env.user('user')
})
afterAll(async () => {
  await env?.close()
  await up?.stop()
})

async function createBot(body: Record<string, unknown> = {}, token = owner.token): Promise<string> {
  const res = await env.call('POST', '/api-internal/v1/chatbots', { token, body: { name: 'shop help', model: 'bot-model', ...body } })
  expect(res.status).toBe(201)
  return res.body.id
}

async function createKey(body: Record<string, unknown>, token = owner.token): Promise<{ id: string; key: string }> {
  const res = await env.call('POST', '/api-internal/v1/api-keys', { token, body: { name: 'widget', scopes: ['chatbots'], ...body } })
  expect(res.status).toBe(201)
  return { id: res.body.id, key: res.body.key }
}

function widgetChat(id: string, opts: { key?: string; origin?: string; body?: unknown }) {
  const headers: Record<string, string> = {}
  if (opts.key) headers['x-api-key'] = opts.key
  if (opts.origin) headers.origin = opts.origin
  return env.call('POST', `/api/v1/widget/${id}/chat`, { headers, body: opts.body ?? { message: 'hi' } })
}

async function preflight(id: string, origin: string) {
  const res = await env.app.handle(
    new Request(`http://localhost/api/v1/widget/${id}/chat`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-api-key' },
    }),
  )
  return { status: res.status, headers: res.headers }
}

const accessControl = (headers: Headers) => [...headers.keys()].filter((h) => h.startsWith('access-control-'))

describe('GET /widget.js', () => {
  test('JavaScript with an ETag, revalidated with 304; renders without innerHTML and stores nothing', async () => {
    const res = await env.app.handle(new Request('http://localhost/widget.js'))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('public, max-age=300')
    const etag = res.headers.get('etag')
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/)
    const code = await res.text()
    expect(code).toContain('/chat')
    for (const forbidden of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'localStorage', 'sessionStorage', 'document.cookie'])
      expect(code).not.toContain(forbidden)

    const again = await env.app.handle(new Request('http://localhost/widget.js', { headers: { 'if-none-match': `W/${etag}` } }))
    expect(again.status).toBe(304)
    expect(await again.text()).toBe('')
  })
})

describe('origin and key checks', () => {
  let bot: string
  let key: string
  beforeAll(async () => {
    bot = await createBot()
    // Stored as typed, compared as a browser serialises the Origin header.
    key = (await createKey({ allowed_chatbots: [bot], allowed_origins: ['https://Shop.Example.com:443'] })).key
  })

  test('the allowed origin gets the answer, readable by exactly that origin', async () => {
    const res = await widgetChat(bot, { key, origin: SHOP })
    expect(res.status).toBe(200)
    expect(res.headers.get('access-control-allow-origin')).toBe(SHOP)
    expect(res.headers.get('vary')).toContain('Origin')
    expect(res.headers.get('access-control-allow-credentials')).toBeNull()
    expect(res.headers.get('set-cookie')).toBeNull()
    // Only what the widget shows goes to a public page.
    expect(Object.keys(res.body).sort()).toEqual(['citations', 'conversation_id', 'fallback', 'response', 'sources'])
    expect(res.body.response).toBe('echo: hi')

    const next = await widgetChat(bot, { key, origin: SHOP, body: { message: 'again', conversation_id: res.body.conversation_id } })
    expect(next.status).toBe(200)
    expect(next.body.conversation_id).toBe(res.body.conversation_id)
  })

  test.each([
    ['another origin', 'https://evil.example.com'],
    ['another scheme', 'http://shop.example.com'],
    ['a subdomain', 'https://www.shop.example.com'],
    ['an opaque origin', 'null'],
    ['an origin with a path', 'https://shop.example.com/'],
  ])('%s is refused and gets no CORS headers', async (_, origin) => {
    const res = await widgetChat(bot, { key, origin })
    expect(res.status).toBe(403)
    expect(res.body.error.code).toBe('permission_denied')
    expect(accessControl(res.headers)).toEqual([])
  })

  test('a request without an Origin header is refused', async () => {
    const res = await widgetChat(bot, { key })
    expect(res.status).toBe(403)
    expect(res.body.error.message).toContain('Origin')
  })

  test('keys that are not narrowed to this chatbot and origin are refused, readably for the allowed page', async () => {
    const otherBot = await createBot()
    const cases: [string, Record<string, unknown>, number, string][] = [
      ['not narrowed to chatbots', { allowed_origins: [SHOP] }, 403, 'must be restricted'],
      ['without the chatbots scope', { scopes: ['llm'], allowed_chatbots: [bot], allowed_origins: [SHOP] }, 403, 'scope'],
      ['for another chatbot', { allowed_chatbots: [otherBot], allowed_origins: [SHOP] }, 403, `chatbot ${bot}`],
      ['without allowed origins', { allowed_chatbots: [bot] }, 403, 'origin'],
      ['for another origin', { allowed_chatbots: [bot], allowed_origins: ['https://blog.example.com'] }, 403, 'origin'],
    ]
    for (const [name, body, status, message] of cases) {
      const res = await widgetChat(bot, { key: (await createKey(body)).key, origin: SHOP })
      expect({ name, status: res.status }).toEqual({ name, status })
      expect(res.body.error.message).toContain(message)
      expect(res.headers.get('access-control-allow-origin')).toBe(SHOP)
    }
    expect((await widgetChat(bot, { origin: SHOP })).status).toBe(401)
    expect((await widgetChat(bot, { key: 'en_' + 'x'.repeat(40), origin: SHOP })).status).toBe(401)
  })

  test("another user's key naming this chatbot reaches nothing", async () => {
    const foreign = await createKey({ allowed_chatbots: [bot], allowed_origins: [SHOP] }, other.token)
    const res = await widgetChat(bot, { key: foreign.key, origin: SHOP })
    expect(res.status).toBe(404)
    // Nor does it open CORS for an origin of its choosing.
    const planted = await createKey({ allowed_chatbots: [bot], allowed_origins: ['https://attacker.example'] }, other.token)
    const fromAttacker = await widgetChat(bot, { key: planted.key, origin: 'https://attacker.example' })
    expect(fromAttacker.status).toBe(404)
    expect(accessControl(fromAttacker.headers)).toEqual([])
    expect(accessControl((await preflight(bot, 'https://attacker.example')).headers)).toEqual([])
  })

  test('authorization comes before validation; then the body is validated, readably', async () => {
    expect((await widgetChat(bot, { origin: SHOP, body: { message: '' } })).status).toBe(401)
    const long = await widgetChat(bot, { key, origin: SHOP, body: { message: 'x'.repeat(4001) } })
    expect(long.status).toBe(400)
    expect(long.body.error.param).toBe('message')
    expect(long.headers.get('access-control-allow-origin')).toBe(SHOP)
    expect((await widgetChat(bot, { key, origin: SHOP, body: { message: 'x'.repeat(4000) } })).status).toBe(200)
  })

  test('preflight: allow headers only when a usable key of the chatbot lists the origin', async () => {
    const allowed = await preflight(bot, SHOP)
    expect(allowed.status).toBe(204)
    expect(allowed.headers.get('access-control-allow-origin')).toBe(SHOP)
    expect(allowed.headers.get('access-control-allow-methods')).toBe('POST')
    expect(allowed.headers.get('access-control-allow-headers')).toBe('content-type, x-api-key')
    expect(allowed.headers.get('access-control-max-age')).toBe('600')
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull()
    expect(allowed.headers.get('vary')).toContain('Origin')

    for (const [id, origin] of [
      [bot, 'https://evil.example.com'],
      [bot, 'null'],
      [await createBot(), SHOP],
      ['not-a-uuid', SHOP],
    ] as const) {
      const res = await preflight(id, origin)
      expect(res.status).toBe(204)
      expect(accessControl(res.headers)).toEqual([])
    }
  })

  test('a deactivated key stops the preflight and the chat', async () => {
    const lone = await createBot()
    const k = await createKey({ allowed_chatbots: [lone], allowed_origins: [SHOP] })
    expect((await preflight(lone, SHOP)).headers.get('access-control-allow-origin')).toBe(SHOP)
    const off = await env.call('POST', `/api-internal/v1/api-keys/${k.id}/deactivate`, { token: owner.token })
    expect(off.status).toBeLessThan(300)
    expect(accessControl((await preflight(lone, SHOP)).headers)).toEqual([])
    const res = await widgetChat(lone, { key: k.key, origin: SHOP })
    expect(res.status).toBe(401)
    expect(accessControl(res.headers)).toEqual([])
  })
})

describe('rate limit', () => {
  let limited: TestEnv
  beforeAll(async () => {
    limited = await createTestEnv({ OPENAI_COMPAT_URL: up.url, WIDGET_RATE_LIMIT_PER_MINUTE: String(WIDGET_LIMIT) })
  })
  afterAll(() => limited?.close())

  test(`WIDGET_RATE_LIMIT_PER_MINUTE (${WIDGET_LIMIT}) per chatbot and client, readable 429`, async () => {
    const user = await limited.user('user')
    const bot = async () => (await limited.call('POST', '/api-internal/v1/chatbots', { token: user.token, body: { name: 'b', model: 'bot-model' } })).body.id as string
    const key = async (id: string) =>
      (await limited.call('POST', '/api-internal/v1/api-keys', { token: user.token, body: { name: 'w', scopes: ['chatbots'], allowed_chatbots: [id], allowed_origins: [SHOP] } })).body
        .key as string
    const chat = (id: string, k: string) =>
      limited.call('POST', `/api/v1/widget/${id}/chat`, { headers: { 'x-api-key': k, origin: SHOP }, body: { message: 'hi' } })

    const first = await bot()
    const k1 = await key(first)
    for (let i = 0; i < WIDGET_LIMIT; i++) {
      const res = await chat(first, k1)
      expect(res.status).toBe(200)
      expect(res.headers.get('x-ratelimit-limit')).toBe(String(WIDGET_LIMIT))
    }
    // A case variant of the id is the same chatbot, not a fresh window.
    const over = await chat(first.toUpperCase(), k1)
    expect(over.status).toBe(429)
    expect(over.body.error.code).toBe('rate_limit_exceeded')
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(over.headers.get('access-control-allow-origin')).toBe(SHOP)
    // Another chatbot has its own window.
    const second = await bot()
    expect((await chat(second, await key(second))).status).toBe(200)
  })
})
