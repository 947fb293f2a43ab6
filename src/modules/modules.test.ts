/**
 * Modules on two replicas over one database and cache: a module an administrator disables answers 503
 * module_disabled on every replica within a second (internal and public routes), its background work pauses on every
 * replica (documents stay queued) and resumes when it is enabled again, agents' tools of that module are refused,
 * other modules are untouched; status and stats, audit, and bad input.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { within } from '../../test/fixtures/within.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

let A: TestEnv
let B: TestEnv
let admin: string
let user: Awaited<ReturnType<TestEnv['user']>>
let ragKey: string
beforeAll(async () => {
  A = await createTestEnv()
  B = await createTestEnv({}, A)
  admin = await A.adminToken()
  user = await A.user('user')
  ragKey = (await A.call('POST', '/api-internal/v1/api-keys', { token: user.token, body: { name: 'rag', scopes: ['rag:read', 'rag:write', 'plugins'] } })).body.key
})
afterAll(async () => {
  // Every module on again, for whatever runs next on this schema.
  for (const m of ['chatbots', 'rag', 'agents', 'plugins', 'playground']) await A?.call('POST', `/api-internal/v1/modules/${m}/enable`, { token: admin })
  await B?.close()
  await A?.close()
})

const MODULES = '/api-internal/v1/modules'

describe('modules', () => {
  test('everyone signed in reads their status; only administrators see stats', async () => {
    const mine = await A.call('GET', MODULES, { token: user.token })
    expect(mine.status).toBe(200)
    expect(mine.body.data.map((m: { name: string }) => m.name)).toEqual(['chatbots', 'rag', 'agents', 'plugins', 'playground'])
    for (const m of mine.body.data) expect(m).toMatchObject({ enabled: true, stats: null })
    const theirs = await A.call('GET', MODULES, { token: admin })
    const rag = theirs.body.data.find((m: { name: string }) => m.name === 'rag')
    expect(rag).toMatchObject({ enabled: true, background: 'running', background_work: 'document indexing queue' })
    expect(Object.keys(rag.stats).sort()).toEqual(['chunks', 'collections', 'documents', 'failed', 'indexing'])
    expect(theirs.body.data.find((m: { name: string }) => m.name === 'agents').background).toBe('none')
    // The navigation's frequent read skips the counts.
    for (const m of (await A.call('GET', `${MODULES}?stats=false`, { token: admin })).body.data) expect(m.stats).toBeNull()
    expect((await A.call('POST', `${MODULES}/rag/disable`, { token: user.token })).status).toBe(403)
    const unknown = await A.call('POST', `${MODULES}/telepathy/disable`, { token: admin })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error).toMatchObject({ param: 'name' })
    expect(unknown.body.error.message).toContain('chatbots, rag, agents, plugins, playground')
  })

  test('a disabled module answers 503 module_disabled on every replica within a second; its background work pauses and resumes', async () => {
    const coll = await A.call('POST', '/api-internal/v1/rag/collections', { token: user.token, body: { name: 'paused' } })
    expect(coll.status).toBe(201)
    const res = await A.call('POST', `${MODULES}/rag/disable`, { token: admin, body: { reason: 'maintenance' } })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ name: 'rag', enabled: false, reason: 'maintenance', background: 'paused' })
    const ms = await within(1000, async () => (await B.call('GET', '/api-internal/v1/rag/collections', { token: user.token })).status === 503)
    expect(ms).toBeLessThan(1000)
    const refused = await B.call('GET', `/api-internal/v1/rag/collections/${coll.body.id}/documents?x=1`, { token: user.token })
    expect(refused.status).toBe(503)
    expect(refused.body.error.code).toBe('module_disabled')
    expect(refused.headers.get('retry-after')).toBe('60')
    expect((await A.call('GET', '/api/v1/rag/collections', { apiKey: ragKey })).status).toBe(503)
    // Other modules and the rest of the platform are untouched.
    expect((await B.call('GET', '/api-internal/v1/chatbots', { token: user.token })).status).toBe(200)
    expect((await B.call('GET', '/api-internal/v1/auth/me', { token: user.token })).status).toBe(200)
    // Background work: paused on both replicas; a document queued meanwhile (by a service, not a route) waits.
    await within(1000, () => !A.s.modules.backgroundRunning('rag') && !B.s.modules.backgroundRunning('rag'))
    const { accepted } = await A.s.rag.documents.upload({ userId: user.id, isAdmin: false }, coll.body.id, [
      { filename: 'notes.txt', contentType: 'text/plain', bytes: new TextEncoder().encode('The cafeteria opens at noon.') },
    ])
    expect(accepted).toHaveLength(1)
    await Bun.sleep(1500)
    const [queued] = await A.db.sql<{ status: string }[]>`SELECT status FROM rag_documents WHERE id = ${accepted[0]!.id}`
    expect(queued!.status).toBe('queued')
    // Agents' tools of a disabled module are refused when resolved.
    const caller = { source: 'api' as const, userId: user.id, apiKey: null, requestId: 'modules-test', startedAt: performance.now() }
    expect(await B.s.tools.resolve([{ type: 'rag_search' }], caller).catch((e: { code?: string }) => e.code)).toBe('module_disabled')
    const audit = await A.call('GET', '/api-internal/v1/audit?action=module.disable', { token: admin })
    expect(audit.body.data[0]).toMatchObject({ resource_type: 'module', resource_id: 'rag', details: { from: 'enabled', to: 'disabled', reason: 'maintenance' } })

    expect((await A.call('POST', `${MODULES}/rag/enable`, { token: admin })).body).toMatchObject({ enabled: true, background: 'running' })
    await within(1000, async () => (await B.call('GET', '/api-internal/v1/rag/collections', { token: user.token })).status === 200)
    await within(15_000, async () => {
      const [row] = await A.db.sql<{ status: string }[]>`SELECT status FROM rag_documents WHERE id = ${accepted[0]!.id}`
      return row!.status === 'indexed'
    })
    expect((await B.s.tools.resolve([{ type: 'rag_search' }], caller)).length).toBeGreaterThan(0)
  }, 30_000)

  test('plugins, chatbots, agents and the playground each close their own routes only', async () => {
    const routes: Record<string, [method: string, path: string][]> = {
      plugins: [['GET', '/api-internal/v1/plugin-admin/plugins'], ['POST', '/api-internal/v1/plugins/hello/execute']],
      chatbots: [['GET', '/api-internal/v1/chatbots'], ['GET', '/api-internal/v1/chatbots/templates']],
      agents: [['GET', '/api-internal/v1/agents']],
      playground: [['POST', '/api-internal/v1/llm/chat/completions'], ['POST', '/api-internal/v1/llm/embeddings']],
    }
    for (const [name, paths] of Object.entries(routes)) {
      expect((await A.call('POST', `${MODULES}/${name}/disable`, { token: admin })).status).toBe(200)
      for (const [method, path] of paths)
        await within(1000, async () => (await B.call(method, path, { token: admin, body: method === 'POST' ? {} : undefined })).body?.error?.code === 'module_disabled')
      // The gateway's model list and the providers stay: other pages need them.
      expect((await B.call('GET', '/api-internal/v1/llm/providers', { token: admin })).status).toBe(200)
      expect((await B.call('GET', '/api-internal/v1/rag/collections', { token: admin })).status).toBe(200)
      expect((await A.call('POST', `${MODULES}/${name}/enable`, { token: admin })).status).toBe(200)
    }
    // Plugin cron is this module's background work: paused while it is off.
    expect((await A.call('POST', `${MODULES}/plugins/disable`, { token: admin })).body.background).toBe('paused')
    await within(1000, () => !B.s.modules.backgroundRunning('plugins'))
    expect((await A.call('POST', `${MODULES}/plugins/enable`, { token: admin })).body.background).toBe('running')
    await within(1000, () => B.s.modules.backgroundRunning('plugins'))
    await within(1000, async () => (await B.call('GET', '/api-internal/v1/plugin-admin/plugins', { token: admin })).status === 200)
  }, 30_000)
})
