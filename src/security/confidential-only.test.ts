/**
 * Confidential-only across every path that calls a model: the gateway (models, chat, embeddings), the playground,
 * chatbots (internal, external and their search embeddings), document indexing and search, plugins' llm calls,
 * fallbacks, and a feature's own demand on the Caller (what agents set). Demanded by the platform, a user, a key or
 * a chatbot; refused with 403 confidentiality_required naming the model, and no request reaches the provider that is
 * not confidential.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'

let env: TestEnv
let tee: Upstream
let open: Upstream
let admin: string
const pluginDir = mkdtempSync(join(tmpdir(), 'enclava-confidential-'))

mkdirSync(join(pluginDir, 'asker', 'src'), { recursive: true })
writeFileSync(
  join(pluginDir, 'asker', 'plugin.json'),
  JSON.stringify({ name: 'asker', version: '1.0.0', permissions: { llm: { models: ['open-chat', 'tee-chat'], budget_usd: 1 } }, routes: [{ method: 'POST', path: '/ask/:model', auth: 'public' }] }),
)
writeFileSync(
  join(pluginDir, 'asker', 'src', 'index.ts'),
  `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Asker extends BasePlugin {
  override routes = {
    'POST /ask/:model': async (_req: Request, ctx: PluginContext) => {
      try {
        await ctx.llm.chat({ model: ctx.params.model!, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 })
        return Response.json({ ok: true })
      } catch (err) {
        return Response.json({ ok: false, code: (err as { code?: string }).code, message: (err as Error).message })
      }
    },
  }
}
`,
)

const openCalls = (path = '/v1/chat/completions') => open.requests.filter((r) => r.path === path).length
const newKey = async (token: string, body: Record<string, unknown> = {}) =>
  (await env.call('POST', '/api-internal/v1/api-keys', { token, body: { name: 'c', ...body } })).body as { key: string; id: string }
const chat = (apiKey: string, model: string) =>
  env.call('POST', '/api/v1/chat/completions', { apiKey, body: { model, messages: [{ role: 'user', content: 'hello' }] } })
const setPlatform = (on: boolean) => env.call('PUT', '/api-internal/v1/security/settings', { token: admin, body: { confidential_only: on } })

function expectRefused(res: { status: number; body: any }, model: string, by: string) {
  expect(res.status).toBe(403)
  expect(res.body.error.code).toBe('confidentiality_required')
  expect(res.body.error.message).toContain(`'${model}'`)
  expect(res.body.error.message).toContain(by)
}

beforeAll(async () => {
  tee = await startUpstream({ models: ['tee-chat', 'tee-embed'] })
  open = await startUpstream({ models: ['open-chat', 'open-embed'] })
  env = await createTestEnv({ PRIVATEMODE_URL: tee.url, OPENAI_COMPAT_URL: open.url, PLUGINS_DIRS: pluginDir, UPSTREAM_MAX_RETRIES: '0' })
  admin = await env.adminToken()
})
afterAll(async () => {
  await env.close()
  await tee.stop()
  await open.stop()
  rmSync(pluginDir, { recursive: true, force: true })
})

describe('a key', () => {
  test('lists and calls only confidential models; chat and embeddings of others are refused before anything is sent', async () => {
    const u = await env.user('user')
    const { key } = await newKey(u.token, { confidential_only: true })
    const models = await env.call('GET', '/api/v1/models', { apiKey: key })
    expect(models.body.data.map((m: { id: string }) => m.id).sort()).toEqual(['tee-chat', 'tee-embed'])
    expect((await env.call('GET', '/api/v1/models/open-chat', { apiKey: key })).status).toBe(403)
    const before = openCalls()
    expectRefused(await chat(key, 'open-chat'), 'open-chat', 'the API key "c"')
    expectRefused(await env.call('POST', '/api/v1/embeddings', { apiKey: key, body: { model: 'open-embed', input: 'x' } }), 'open-embed', 'API key')
    expect(openCalls()).toBe(before)
    expect(openCalls('/v1/embeddings')).toBe(0)
    const ok = await chat(key, 'tee-chat')
    expect(ok.status).toBe(200)
    expect(ok.headers.get('x-enclava-confidential')).toBe('true')
    // Another key of the same user is not held to it.
    expect((await chat((await newKey(u.token)).key, 'open-chat')).status).toBe(200)
    // Written off the request path.
    let event: { details: { required_by: string } } | undefined
    for (let i = 0; i < 50 && !event; i++) {
      ;[event] = await env.db.sql<{ details: { required_by: string } }[]>`
        SELECT details FROM audit_log WHERE action = 'security.confidentiality_refused' ORDER BY id LIMIT 1`
      if (!event) await Bun.sleep(20)
    }
    expect(event?.details.required_by).toBe('the API key "c"')
  })
})

describe('a user', () => {
  test("an administrator's setting holds the user's keys (at once) and their playground", async () => {
    const u = await env.user('user')
    const { key } = await newKey(u.token)
    expect((await chat(key, 'open-chat')).status).toBe(200)
    const patch = await env.call('PATCH', `/api-internal/v1/users/${u.id}`, { token: admin, body: { confidential_only: true } })
    expect(patch.status).toBe(200)
    expect(patch.body.confidential_only).toBe(true)
    expectRefused(await chat(key, 'open-chat'), 'open-chat', 'your account')
    const playground = await env.call('POST', '/api-internal/v1/llm/chat/completions', { token: u.token, body: { model: 'open-chat', messages: [{ role: 'user', content: 'x' }] } })
    expectRefused(playground, 'open-chat', 'your account')
    const models = await env.call('GET', '/api-internal/v1/llm/models', { token: u.token })
    expect(models.body.data.every((m: { confidential: boolean }) => m.confidential)).toBe(true)
    // A key cannot lift its owner's demand.
    const { key: other } = await newKey(u.token, { confidential_only: false })
    expectRefused(await chat(other, 'open-chat'), 'open-chat', 'your account')
  })

  test("documents: indexing with a non-confidential embedding model fails, and a search that would embed the query is refused", async () => {
    const u = await env.user('user')
    const col = await env.call('POST', '/api-internal/v1/rag/collections', { token: u.token, body: { name: 'c', embedding_model: 'open-embed' } })
    expect(col.status).toBe(201)
    await env.call('PATCH', `/api-internal/v1/users/${u.id}`, { token: admin, body: { confidential_only: true } })
    const before = openCalls('/v1/embeddings')
    const form = new FormData()
    form.append('files', new File(['Zebras are striped horses of Africa.'], 'zebra.txt', { type: 'text/plain' }))
    const up = await env.app.handle(
      new Request(`http://localhost/api-internal/v1/rag/collections/${col.body.id}/documents`, { method: 'POST', headers: { authorization: `Bearer ${u.token}` }, body: form }),
    )
    expect(up.status).toBe(202)
    const docId = ((await up.json()) as { accepted: { id: string }[] }).accepted[0]!.id
    let doc: { status: string; error: string | null } | undefined
    for (let i = 0; i < 200 && doc?.status !== 'failed' && doc?.status !== 'indexed'; i++) {
      await Bun.sleep(50)
      ;[doc] = await env.db.sql<{ status: string; error: string | null }[]>`SELECT status, error FROM rag_documents WHERE id = ${docId}`
    }
    expect(doc?.status).toBe('failed')
    expect(doc?.error).toContain('confidential')
    expect(openCalls('/v1/embeddings')).toBe(before)
    const search = await env.call('POST', `/api-internal/v1/rag/collections/${col.body.id}/search`, { token: u.token, body: { query: 'zebra', mode: 'hybrid' } })
    expectRefused(search, 'open-embed', 'your account')
    // Lexical search calls no model.
    expect((await env.call('POST', `/api-internal/v1/rag/collections/${col.body.id}/search`, { token: u.token, body: { query: 'zebra', mode: 'lexical' } })).status).toBe(200)
  }, 30_000)
})

describe('a chatbot', () => {
  test('confidential_only on the chatbot refuses its model on the internal and the public API, and its search embeddings', async () => {
    const u = await env.user('user')
    const bot = await env.call('POST', '/api-internal/v1/chatbots', { token: u.token, body: { name: 'Support', model: 'open-chat', confidential_only: true } })
    expect(bot.status).toBe(201)
    expect(bot.body.confidential_only).toBe(true)
    const before = openCalls()
    expectRefused(await env.call('POST', `/api-internal/v1/chatbot/${bot.body.id}/chat`, { token: u.token, body: { message: 'hi' } }), 'open-chat', 'the chatbot "Support"')
    const { key } = await newKey(u.token, { scopes: ['chatbots'] })
    expectRefused(await env.call('POST', `/api/v1/chatbot/${bot.body.id}/chat`, { apiKey: key, body: { message: 'hi' } }), 'open-chat', 'the chatbot "Support"')
    expect(openCalls()).toBe(before)
    // A confidential model answers, and the answer says who served it.
    await env.call('PATCH', `/api-internal/v1/chatbots/${bot.body.id}`, { token: u.token, body: { model: 'tee-chat' } })
    const ok = await env.call('POST', `/api-internal/v1/chatbot/${bot.body.id}/chat`, { token: u.token, body: { message: 'hi' } })
    expect(ok.status).toBe(200)
    expect(ok.body.served).toEqual({ provider: 'privatemode', confidential: true })
    // Its collections' query embeddings are held to it too.
    const col = await env.call('POST', '/api-internal/v1/rag/collections', { token: u.token, body: { name: 'kb', embedding_model: 'open-embed' } })
    await env.call('PATCH', `/api-internal/v1/chatbots/${bot.body.id}`, { token: u.token, body: { rag_collections: [col.body.id], rag_mode: 'hybrid' } })
    expectRefused(await env.call('POST', `/api-internal/v1/chatbot/${bot.body.id}/chat`, { token: u.token, body: { message: 'hi' } }), 'open-embed', 'the chatbot "Support"')
    // Without the demand, the same chatbot may use the other provider, and says so.
    await env.call('PATCH', `/api-internal/v1/chatbots/${bot.body.id}`, { token: u.token, body: { confidential_only: false, rag_collections: [], model: 'open-chat' } })
    const served = await env.call('POST', `/api-internal/v1/chatbot/${bot.body.id}/chat`, { token: u.token, body: { message: 'hi' } })
    expect(served.body.served).toEqual({ provider: 'openai-compatible', confidential: false })
  })
})

describe('fallbacks', () => {
  test('a confidential-only caller never falls back outside the TEE, even when the model settings allow it', async () => {
    await env.call('PUT', '/api-internal/v1/llm/model-settings/tee-chat', { token: admin, body: { fallback_model: 'open-chat', fallback_leaves_tee: true } })
    const u = await env.user('user')
    const strict = (await newKey(u.token, { confidential_only: true })).key
    const loose = (await newKey(u.token)).key
    tee.setBehavior('error-500')
    try {
      const before = openCalls()
      const refused = await chat(strict, 'tee-chat')
      expect(refused.status).toBe(502)
      expect(openCalls()).toBe(before)
      const fell = await chat(loose, 'tee-chat')
      expect(fell.status).toBe(200)
      expect(fell.headers.get('x-enclava-confidential')).toBe('false')
    } finally {
      tee.setBehavior('ok')
      await env.call('DELETE', '/api-internal/v1/llm/model-settings/tee-chat', { token: admin })
    }
  })
})

describe('the platform', () => {
  test("the security setting holds every caller: keys, plugins' llm calls; turned off again, they are free", async () => {
    const u = await env.user('user')
    const { key } = await newKey(u.token)
    expect((await env.call('POST', '/api-internal/v1/plugin-admin/plugins/asker/enable', { token: admin, body: {} })).status).toBe(200)
    const plugin = async (model: string) => (await (await env.app.handle(new Request(`http://localhost/api/v1/plugins/asker/ask/${model}`, { method: 'POST' }))).json()) as { ok: boolean; code?: string; message?: string }
    expect(await plugin('open-chat')).toMatchObject({ ok: true })
    expect((await setPlatform(true)).status).toBe(200)
    try {
      expectRefused(await chat(key, 'open-chat'), 'open-chat', 'this platform')
      const refused = await plugin('open-chat')
      expect(refused).toMatchObject({ ok: false, code: 'confidentiality_required' })
      expect(refused.message).toContain('this platform')
      expect(await plugin('tee-chat')).toMatchObject({ ok: true })
    } finally {
      await setPlatform(false)
    }
    expect((await chat(key, 'open-chat')).status).toBe(200)
  }, 60_000)

  test('CONFIDENTIAL_ONLY=true in the environment cannot be turned off at run time', async () => {
    const local = await createTestEnv({ PRIVATEMODE_URL: tee.url, OPENAI_COMPAT_URL: open.url, CONFIDENTIAL_ONLY: 'true' })
    try {
      const a = await local.adminToken()
      const u = await local.user('user')
      const k = (await local.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'k' } })).body.key
      const refused = await local.call('POST', '/api/v1/chat/completions', { apiKey: k, body: { model: 'open-chat', messages: [{ role: 'user', content: 'x' }] } })
      expectRefused(refused, 'open-chat', 'this platform')
      const off = await local.call('PUT', '/api-internal/v1/security/settings', { token: a, body: { confidential_only: false } })
      expect(off.status).toBe(400)
      expect(off.body.error.param).toBe('confidential_only')
    } finally {
      await local.close()
    }
  })
})

describe("a feature's own demand (agents)", () => {
  test('a Caller that demands confidential models is refused others, in its own words', async () => {
    const u = await env.user('user')
    const caller = { source: 'playground' as const, userId: u.id, apiKey: null, requestId: 'agent-test', startedAt: performance.now(), confidentialOnly: 'the agent "Researcher"' }
    const err = await env.s.gateway.chat(caller, { model: 'open-chat', messages: [{ role: 'user', content: 'x' }] } as never, new AbortController().signal).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'confidentiality_required', status: 403 })
    expect((err as Error).message).toContain('the agent "Researcher"')
    expect((await env.s.gateway.listModels(caller)).every((m) => m.confidential)).toBe(true)
    const ok = await env.s.gateway.chat({ ...caller, requestId: 'agent-test-2' }, { model: 'tee-chat', messages: [{ role: 'user', content: 'x' }] } as never, new AbortController().signal)
    expect(ok.status).toBe(200)
  })
})
