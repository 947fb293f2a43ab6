/**
 * MCP servers Enclava calls: registration (owner-scoped, shared by admins), sealed headers, the private-network rule,
 * test and tool listing, allow-lists, and the tools engine calling a real MCP server (Streamable HTTP, and HTTP+SSE).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startMcpServer, type McpFixture } from '../../test/fixtures/mcp-server.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { createGuardedStream } from '../plugins/net-guard.ts'
import { ToolEngine } from '../tools/engine.ts'
import { mcpTools, modelToolName } from '../tools/kinds/mcp.ts'
import type { Tool } from '../tools/types.ts'
import { McpServerService } from './service.ts'

const S = '/api-internal/v1/mcp-servers'
const SECRET = 'Bearer top-secret-token-7f3a'

let env: TestEnv
let mcp: McpFixture
let sse: McpFixture
let admin: string
let alice: Awaited<ReturnType<TestEnv['user']>>
let bob: Awaited<ReturnType<TestEnv['user']>>

beforeAll(async () => {
  ;[mcp, sse] = await Promise.all([startMcpServer(), startMcpServer({ transport: 'sse' })])
  env = await createTestEnv({ RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  admin = await env.adminToken()
  alice = await env.user('user')
  bob = await env.user('user')
})
afterAll(async () => {
  await env.close()
  await Promise.all([mcp.stop(), sse.stop()])
})

const register = async (body: Record<string, unknown>, token = admin) => {
  const res = await env.call('POST', S, { token, body })
  expect(res.status).toBe(201)
  return res.body as { id: string; name: string; header_names: string[]; private_network: boolean; shared: boolean }
}
const adminId = async () => (await env.call('GET', '/api-internal/v1/auth/me', { token: admin })).body.id as string
const caller = (userId: string) => ({ source: 'api' as const, userId, apiKey: null, requestId: `test-${crypto.randomUUID()}`, startedAt: performance.now() })
const ctx = (userId: string) => ({ caller: caller(userId), signal: AbortSignal.timeout(20_000) })

function engineWith(service: McpServerService): ToolEngine {
  const engine = new ToolEngine({ audit: env.s.audit, log: env.s.log })
  engine.register(mcpTools(service))
  return engine
}

describe('registration', () => {
  test("an admin's server on the loopback is allowed; header values are sealed, never returned, and sent to the server", async () => {
    const server = await register({ name: 'fixture', url: mcp.url, headers: { Authorization: SECRET }, shared: true })
    expect(server).toMatchObject({ header_names: ['Authorization'], private_network: true, shared: true })
    const [row] = await env.db.sql<{ headers_encrypted: string }[]>`SELECT headers_encrypted FROM mcp_servers WHERE id = ${server.id}`
    expect(row!.headers_encrypted.startsWith('v1:')).toBe(true)
    expect(row!.headers_encrypted).not.toContain('top-secret')
    for (const res of [await env.call('GET', `${S}/${server.id}`, { token: admin }), await env.call('GET', S, { token: admin }), await env.call('GET', S, { token: bob.token })])
      expect(JSON.stringify(res.body)).not.toContain('top-secret')

    mcp.requests.length = 0
    const tested = await env.call('POST', `${S}/${server.id}/test`, { token: admin })
    expect(tested.status).toBe(200)
    expect(tested.body).toMatchObject({ ok: true, transport: 'streamable_http', server: { name: 'fixture', version: '1.2.3' }, tools: 6 })
    expect(tested.body.latency_ms).toBeGreaterThanOrEqual(0)
    expect(mcp.requests.length).toBeGreaterThan(0)
    for (const r of mcp.requests) expect(r.headers.authorization).toBe(SECRET)
    // The session the test opened was ended, not left on the server.
    expect(mcp.openSessions()).toBe(0)
  })

  test("a user's server must be public: a loopback address or a name that resolves to one is refused", async () => {
    for (const url of [mcp.url, mcp.url.replace('127.0.0.1', 'localhost'), 'http://10.1.2.3/mcp', 'http://[::1]:9/mcp']) {
      const res = await env.call('POST', S, { token: alice.token, body: { name: 'mine', url } })
      expect({ url, status: res.status, param: res.body.error?.param }).toEqual({ url, status: 400, param: 'url' })
      expect(res.body.error.message).toContain('only an administrator may register a server on the private network')
    }
    const shared = await env.call('POST', S, { token: alice.token, body: { name: 'mine', url: 'https://mcp.example.com/mcp', shared: true } })
    expect(shared.status).toBe(403)
  })

  test('a name that resolved to a public address when registered is still refused when it points inside at connection time', async () => {
    // DNS rebinding: public at registration, loopback when connecting. The guard checks every connection.
    const rebinding = new McpServerService(env.db.sql, env.s.box, { guard: createGuardedStream({ lookup: async () => [{ address: '127.0.0.1', family: 4 }] }) }, async () => [
      { address: '93.184.215.14' },
    ])
    const row = await rebinding.create({ userId: alice.id, isAdmin: false }, { name: 'rebind', url: `http://mcp.example.com:${mcp.port}/mcp` })
    expect(row.private_network).toBe(false)
    const tested = await rebinding.test(row, AbortSignal.timeout(10_000))
    expect(tested.ok).toBe(false)
    expect(tested.error).toContain('non-public address')
    const engine = engineWith(rebinding)
    const resolved = await engine.resolve([{ type: 'mcp', server_id: row.id }], caller(alice.id)).catch((e: Error) => e)
    expect((resolved as Error).message).toContain('non-public address')
  })

  test("another user's server is a 404; a shared one is visible to all but changed only by administrators", async () => {
    const own = await register({ name: 'alices', url: 'https://mcp.example.com/mcp' }, alice.token)
    for (const [method, path] of [
      ['GET', `${S}/${own.id}`],
      ['PATCH', `${S}/${own.id}`],
      ['DELETE', `${S}/${own.id}`],
      ['POST', `${S}/${own.id}/test`],
      ['GET', `${S}/${own.id}/tools`],
    ] as const) {
      const res = await env.call(method, path, { token: bob.token, ...(method === 'PATCH' ? { body: { name: 'x' } } : {}) })
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 })
    }
    expect((await env.call('GET', S, { token: bob.token })).body.data.map((s: any) => s.name)).not.toContain('alices')
    expect((await env.call('GET', `${S}/${own.id}`, { token: admin })).status).toBe(200)

    const shared = await register({ name: 'shared-one', url: 'https://mcp.example.com/mcp', shared: true })
    expect((await env.call('GET', `${S}/${shared.id}`, { token: bob.token })).status).toBe(200)
    expect((await env.call('PATCH', `${S}/${shared.id}`, { token: bob.token, body: { allowed_tools: [] } })).status).toBe(403)
    expect((await env.call('DELETE', `${S}/${shared.id}`, { token: bob.token })).status).toBe(403)
    expect((await env.call('PATCH', `${S}/${own.id}`, { token: alice.token, body: { shared: true } })).status).toBe(403)
    expect((await env.call('POST', S, { token: alice.token, body: { name: 'ALICES', url: 'https://mcp.example.com/x' } })).status).toBe(409)
  })

  test('headers are merged on change (null removes one) and the transport\'s own are refused', async () => {
    const server = await register({ name: 'hdrs', url: mcp.url, headers: { Authorization: SECRET } })
    const changed = await env.call('PATCH', `${S}/${server.id}`, { token: admin, body: { headers: { authorization: null, 'X-Team': 'blue' } } })
    expect(changed.status).toBe(200)
    expect(changed.body.header_names).toEqual(['X-Team'])
    mcp.requests.length = 0
    expect((await env.call('POST', `${S}/${server.id}/test`, { token: admin })).body.ok).toBe(true)
    expect(mcp.requests.every((r) => r.headers['x-team'] === 'blue' && r.headers.authorization === undefined)).toBe(true)
    for (const name of ['Host', 'Mcp-Session-Id', 'content-type']) {
      const res = await env.call('PATCH', `${S}/${server.id}`, { token: admin, body: { headers: { [name]: 'x' } } })
      expect({ name, status: res.status }).toEqual({ name, status: 400 })
    }
    expect((await env.call('PATCH', `${S}/${server.id}`, { token: admin, body: { headers: { 'X-Bad': 'a\r\nb' } } })).status).toBe(400)
  })
})

describe('tools', () => {
  let fixtureId: string
  beforeAll(async () => {
    fixtureId = (await register({ name: 'fx', url: mcp.url, shared: true })).id
  })

  test("the server's allow-list narrows its tools: listed with `allowed`, and only those reach the engine", async () => {
    const all = await env.call('GET', `${S}/${fixtureId}/tools`, { token: bob.token })
    expect(all.status).toBe(200)
    expect(all.body.data.map((t: any) => t.name)).toEqual(['echo', 'add', 'fail', 'search.pages', 'image', 'big'])
    expect(all.body.data.every((t: any) => t.allowed)).toBe(true)
    expect(all.body.data[0].input_schema).toMatchObject({ type: 'object', required: ['text'] })

    expect((await env.call('PATCH', `${S}/${fixtureId}`, { token: admin, body: { allowed_tools: ['echo', 'fail', 'search.pages', 'image', 'big'] } })).status).toBe(200)
    const narrowed = await env.call('GET', `${S}/${fixtureId}/tools`, { token: bob.token })
    expect(narrowed.body.data.filter((t: any) => !t.allowed).map((t: any) => t.name)).toEqual(['add'])

    const tools = await engineWith(env.s.mcp).resolve([{ type: 'mcp', server_id: fixtureId }], caller(bob.id))
    expect(tools.map((t) => t.name)).toEqual(['fx__echo', 'fx__fail', modelToolName('fx', 'search.pages'), 'fx__image', 'fx__big'])
    expect(modelToolName('fx', 'search.pages')).toMatch(/^fx__search_pages_[0-9a-f]{6}$/)
    expect(tools[0]!.parameters).toMatchObject({ type: 'object', properties: { text: { type: 'string' } } })
  })

  test("a spec's allow-list narrows further, and cannot name a tool the server does not allow", async () => {
    const engine = engineWith(env.s.mcp)
    const tools = await engine.resolve([{ type: 'mcp', server_id: fixtureId, allowed_tools: ['echo'] }], caller(bob.id))
    expect(tools.map((t) => t.name)).toEqual(['fx__echo'])
    const refused = await engine.resolve([{ type: 'mcp', server_id: fixtureId, allowed_tools: ['echo', 'add'] }], caller(bob.id)).catch((e) => e)
    expect(refused).toMatchObject({ status: 400 })
    expect(refused.message).toContain('add')
  })

  test('the engine calls the tools: text back, a failing tool as an error result, other content named, every call audited', async () => {
    const engine = engineWith(env.s.mcp)
    const tools: Tool[] = await engine.resolve([{ type: 'mcp', server_id: fixtureId }], caller(bob.id))
    const echo = await engine.call(tools, 'fx__echo', JSON.stringify({ text: 'hello' }), ctx(bob.id))
    expect(echo.result).toEqual({ content: 'echo: hello', isError: false })
    const failed = await engine.call(tools, 'fx__fail', '{}', ctx(bob.id))
    expect(failed.result).toMatchObject({ content: 'the tool broke on purpose', isError: true })
    expect(failed.record.outcome).toBe('error')
    const image = await engine.call(tools, 'fx__image', '{}', ctx(bob.id))
    expect(image.result.content).toMatch(/^\[image: image\/png, \d+ bytes, not shown\]\n\na caption$/)
    const pages = await engine.call(tools, modelToolName('fx', 'search.pages'), JSON.stringify({ q: 'mcp' }), ctx(bob.id))
    expect(pages.result.content).toBe('pages about mcp')
    const audited = await env.db.sql<{ resource_id: string; outcome: string }[]>`
      SELECT resource_id, outcome FROM audit_log WHERE action = 'tool.call' AND actor_user_id = ${bob.id} ORDER BY id`
    expect(audited.map((a) => `${a.resource_id}:${a.outcome}`)).toEqual(
      expect.arrayContaining(['fx__echo:success', 'fx__fail:failure', 'fx__image:success']),
    )
  })

  test("another user's personal server cannot be named in a spec", async () => {
    const own = await register({ name: 'private-ish', url: 'https://mcp.example.com/mcp' }, alice.token)
    const refused = await engineWith(env.s.mcp).resolve([{ type: 'mcp', server_id: own.id }], caller(bob.id)).catch((e) => e)
    expect(refused).toMatchObject({ status: 404 })
    // Not even an administrator's role widens it: the engine acts for a caller, who may use their own or shared ones.
    expect(await engineWith(env.s.mcp).resolve([{ type: 'mcp', server_id: own.id }], caller(await adminId())).catch((e) => e)).toMatchObject({ status: 404 })
  })

  test('a server that only speaks HTTP+SSE is reached through the older transport', async () => {
    const old = await register({ name: 'legacy', url: sse.url })
    const tested = await env.call('POST', `${S}/${old.id}/test`, { token: admin })
    expect(tested.body).toMatchObject({ ok: true, transport: 'sse', tools: 6 })
    const engine = engineWith(env.s.mcp)
    const tools = await engine.resolve([{ type: 'mcp', server_id: old.id, allowed_tools: ['add'] }], caller(await adminId()))
    expect((await engine.call(tools, 'legacy__add', JSON.stringify({ a: 2, b: 40 }), ctx(await adminId()))).result.content).toBe('42')
  })
})

describe('limits', () => {
  test('a response over the size cap is cut off, and the call is an error result', async () => {
    const small = new McpServerService(env.db.sql, env.s.box, { maxResponseBytes: 64 * 1024 })
    const row = await small.create({ userId: await adminId(), isAdmin: true }, { name: 'big', url: mcp.url })
    const result = await small.call(row, 'big', { bytes: 200_000 }, AbortSignal.timeout(10_000))
    expect(result.isError).toBe(true)
    expect(result.content).toContain('over 65536 bytes')
    expect((await small.call(row, 'big', { bytes: 1000 }, AbortSignal.timeout(10_000))).content).toBe('x'.repeat(1000))
  })

  test('a server that accepts connections and never answers fails the test within the time cap; a closed port says so', async () => {
    const silent = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
    try {
      const quick = new McpServerService(env.db.sql, env.s.box, { timeoutMs: 500 })
      const row = await quick.create({ userId: await adminId(), isAdmin: true }, {
        name: 'silent',
        url: `http://127.0.0.1:${silent.port}/mcp`,
      })
      const started = performance.now()
      const tested = await quick.test(row, AbortSignal.timeout(10_000))
      expect(performance.now() - started).toBeLessThan(3000)
      expect(tested).toMatchObject({ ok: false, error: 'the server did not answer in time' })
    } finally {
      silent.stop(true)
    }
    const closed = await register({ name: 'closed', url: `http://127.0.0.1:${silent.port}/mcp` })
    const tested = await env.call('POST', `${S}/${closed.id}/test`, { token: admin })
    expect(tested.body.ok).toBe(false)
    expect(tested.body.error).toContain('refused')
    expect((await env.call('GET', `${S}/${closed.id}/tools`, { token: admin })).status).toBe(502)
  })
})
