/**
 * A key with allowed_origins is the widget's publishable key: it is public (in a web page's HTML), so it works only
 * on the widget API, where the origin is checked, each visitor is limited and only what the widget shows is
 * returned. Everywhere else that accepts API keys it is a 403 saying so, whatever its scopes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { requireApiKey } from '../auth/guards.ts'
import { ApiError } from '../http/errors.ts'

const SHOP = 'https://shop.example.com'

let env: TestEnv
let up: Upstream
let owner: Awaited<ReturnType<TestEnv['user']>>
let bot: string
let collection: string
let publishable: string
let server: string

beforeAll(async () => {
  up = await startUpstream({ models: ['bot-model'] })
  env = await createTestEnv({ OPENAI_COMPAT_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000', RATE_LIMIT_PUBLIC_PER_MINUTE: '5000' })
  owner = await env.user('user')
  bot = (await env.call('POST', '/api-internal/v1/chatbots', { token: owner.token, body: { name: 'shop', model: 'bot-model' } })).body.id
  collection = (await env.call('POST', '/api-internal/v1/rag/collections', { token: owner.token, body: { name: 'kb' } })).body.id
  const key = async (body: Record<string, unknown>) => {
    const res = await env.call('POST', '/api-internal/v1/api-keys', { token: owner.token, body: { name: 'k', ...body } })
    expect(res.status).toBe(201)
    return res.body.key as string
  }
  // Every scope, so that only the publishable rule can be what refuses it.
  publishable = await key({ scopes: ['llm', 'rag:read', 'rag:write', 'chatbots', 'plugins'], allowed_chatbots: [bot], allowed_origins: [SHOP] })
  server = await key({ scopes: ['llm', 'rag:read', 'rag:write', 'chatbots', 'plugins'], allowed_chatbots: [bot] })
})
afterAll(async () => {
  await env?.close()
  await up?.stop()
})

const routes = (): [string, string, unknown?][] => [
  ['POST', `/api/v1/chatbot/${bot}/chat`, { message: 'hi' }],
  ['GET', `/api/v1/chatbot/${bot}/v1/models`],
  ['POST', `/api/v1/chatbot/${bot}/v1/chat/completions`, { model: bot, messages: [{ role: 'user', content: 'hi' }] }],
  ['GET', '/api/v1/models'],
  ['POST', '/api/v1/chat/completions', { model: 'bot-model', messages: [{ role: 'user', content: 'hi' }] }],
  ['GET', '/api/v1/llm/budget/status'],
  ['GET', '/api/v1/rag/collections'],
  ['POST', `/api/v1/rag/collections/${collection}/search`, { query: 'x' }],
  ['GET', '/api/v1/me'],
]

describe('a publishable key outside the widget', () => {
  test.each([undefined, SHOP])('gets 403 permission_denied on every API-key route (Origin: %p), as a server key does not', async (origin) => {
    for (const [method, path, body] of routes()) {
      const headers = origin ? { origin } : {}
      const refused = await env.call(method, path, { apiKey: publishable, headers, ...(body ? { body } : {}) })
      expect({ path, status: refused.status, code: refused.body?.error?.code }).toEqual({ path, status: 403, code: 'permission_denied' })
      expect(refused.body.error.message).toContain('publishable widget key')
      const allowed = await env.call(method, path, { apiKey: server, ...(body ? { body } : {}) })
      expect({ path, status: allowed.status }).toEqual({ path, status: 200 })
    }
  })

  test('routes that check keys themselves (plugin routes) refuse it too unless they are the widget', async () => {
    const request = (key: string) => new Request('http://localhost/api/v1/plugins/any/path', { headers: { authorization: `Bearer ${key}` } })
    const refused = await requireApiKey(env.s.guardDeps, request(publishable), null, '/api/v1/plugins/any/path', {}, 'plugins').catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(ApiError)
    expect(refused).toMatchObject({ code: 'permission_denied', status: 403 })
    expect((await requireApiKey(env.s.guardDeps, request(server), null, '/api/v1/plugins/any/path', {}, 'plugins')).id).toBeString()
  })

  test('the widget still answers it, from its origin', async () => {
    const res = await env.call('POST', `/api/v1/widget/${bot}/chat`, { headers: { 'x-api-key': publishable, origin: SHOP }, body: { message: 'hi' } })
    expect(res.status).toBe(200)
    expect(res.body.response).toBe('echo: hi')
    expect(res.body.sources).toEqual([])
  })
})
