/**
 * A plugin's execute(ctx) through the platform: `POST /api/v1/plugins/{name}/execute` {input} with a `plugins`-scope
 * key, and the internal twin for the dashboard, under the same limits and audit as routes: the caller's identity,
 * per-caller rate limit, CPU limit (and automatic disabling, with its notification), host calls checked against the
 * grant and audited, invocations counted; bad bodies named; plugins without execute, unknown or disabled ones are 404.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

const dir = mkdtempSync(join(tmpdir(), 'enclava-execute-'))

function writePlugin(name: string, manifest: Record<string, unknown>, code: string) {
  mkdirSync(join(dir, name, 'src'), { recursive: true })
  writeFileSync(join(dir, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', ...manifest }, null, 2))
  writeFileSync(join(dir, name, 'src', 'index.ts'), code)
}

writePlugin(
  'echo',
  { permissions: { kv: { quota_kb: 4 } } },
  `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Echo extends BasePlugin {
  override async execute(ctx: PluginContext) {
    const runs = Number((await ctx.kv.get('runs')) ?? 0) + 1
    await ctx.kv.set('runs', runs)
    return { echo: ctx.input, identity: ctx.identity, runs }
  }
}
`,
)
writePlugin(
  'spinner',
  { limits: { cpu_ms: 100 } },
  `import { BasePlugin } from 'enclava:plugin'
export default class Spinner extends BasePlugin {
  override async execute() { for (;;) {} }
}
`,
)
writePlugin(
  'routes-only',
  { routes: [{ method: 'GET', path: '/hi', auth: 'public' }] },
  `import { BasePlugin } from 'enclava:plugin'
export default class RoutesOnly extends BasePlugin { override routes = { 'GET /hi': () => Response.json({ hi: true }) } }
`,
)
writePlugin(
  'nosy',
  {},
  `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Nosy extends BasePlugin {
  override async execute(ctx: PluginContext) {
    try {
      await ctx.kv.get('anything')
      return { got: true }
    } catch (err) {
      return { denied: (err as { code?: string }).code }
    }
  }
}
`,
)

let env: TestEnv
let admin: string
let owner: Awaited<ReturnType<TestEnv['user']>>
let key: { id: string; key: string }
let noScope: string

beforeAll(async () => {
  env = await createTestEnv({ PLUGINS_DIRS: `${dir},${join(import.meta.dir, '..', '..', 'plugins')}`, PLUGIN_RATE_LIMIT_PER_MINUTE: '25', RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  admin = await env.adminToken()
  owner = await env.user('user')
  key = (await env.call('POST', '/api-internal/v1/api-keys', { token: owner.token, body: { name: 'p', scopes: ['plugins'] } })).body
  noScope = (await env.call('POST', '/api-internal/v1/api-keys', { token: owner.token, body: { name: 'llm', scopes: ['llm'] } })).body.key
  for (const name of ['echo', 'spinner', 'routes-only', 'nosy', 'hello'])
    expect((await env.call('POST', `/api-internal/v1/plugin-admin/plugins/${name}/enable`, { token: admin, body: {} })).status).toBe(200)
}, 120_000)
afterAll(async () => {
  await env?.close()
  rmSync(dir, { recursive: true, force: true })
})

const pub = (name: string, body: unknown, apiKey = key.key) => env.call('POST', `/api/v1/plugins/${name}/execute`, { apiKey, body })

describe('POST /api/v1/plugins/{name}/execute', () => {
  test('runs execute with the input and the caller’s identity (never their key); counted in the stats', async () => {
    const res = await pub('echo', { input: { a: 1, list: [1, 2] } })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      plugin: 'echo',
      result: { echo: { a: 1, list: [1, 2] }, identity: { source: 'api', user_id: owner.id, api_key_id: key.id, scopes: ['plugins'] }, runs: 1 },
    })
    expect(JSON.stringify(res.body)).not.toContain(key.key)
    expect((await pub('echo', {})).body.result).toMatchObject({ echo: null, runs: 2 })
    expect((await pub('echo', '')).body.result.runs).toBe(3)
    await env.s.plugins.records.flush()
    const [row] = await env.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM plugin_invocations WHERE plugin = 'echo' AND kind = 'execute' AND status = 'ok'`
    expect(row!.n).toBe(3)
    // The shipped hello plugin's execute.
    expect((await pub('hello', { input: { name: 'Ada' } })).body.result).toMatchObject({ message: 'Hello, Ada!' })
  })

  test('the dashboard’s twin runs it as the signed-in user', async () => {
    const res = await env.call('POST', '/api-internal/v1/plugins/echo/execute', { token: owner.token, body: { input: 'from the dashboard' } })
    expect(res.status).toBe(200)
    expect(res.body.result).toMatchObject({ echo: 'from the dashboard', identity: { source: 'internal', user_id: owner.id, role: 'user' } })
    expect((await env.call('POST', '/api-internal/v1/plugins/echo/execute', { body: { input: 1 } })).status).toBe(401)
  })

  test('who may call, and what is not there', async () => {
    expect((await env.call('POST', '/api/v1/plugins/echo/execute', { body: { input: 1 } })).status).toBe(401)
    const scope = await pub('echo', { input: 1 }, noScope)
    expect(scope.status).toBe(403)
    expect(scope.body.error.message).toContain('plugins')
    const none = await pub('routes-only', { input: 1 })
    expect(none.status).toBe(404)
    expect(none.body.error.message).toContain('has no execute method')
    expect((await pub('nowhere', { input: 1 })).status).toBe(404)
    // The plugin's own routes are where they were.
    expect((await env.call('GET', '/api/v1/plugins/routes-only/hi')).body).toEqual({ hi: true })
  })

  test('bad bodies are a 400 naming the field', async () => {
    const extra = await pub('echo', { input: 1, inputs: 2 })
    expect(extra.status).toBe(400)
    expect(extra.body.error.param).toBe('inputs')
    expect((await pub('echo', [1, 2])).status).toBe(400)
    const json = await env.call('POST', '/api/v1/plugins/echo/execute', { apiKey: key.key, body: '{"input": ', headers: { 'content-type': 'application/json' } })
    expect(json.status).toBe(400)
    expect(json.body.error.code).toBe('invalid_json')
  })

  test('host calls are checked against the grant and audited, as for routes', async () => {
    const res = await pub('nosy', { input: null })
    expect(res.body.result).toEqual({ denied: 'permission_denied' })
    await env.s.plugins.records.flush()
    const audit = await env.call('GET', '/api-internal/v1/plugin-admin/plugins/nosy/audit', { token: admin })
    expect(audit.body.data.some((a: { call: string; allowed: boolean }) => a.call === 'kv.get' && a.allowed === false)).toBe(true)
  })

  test('a runaway execute hits the CPU limit (5xx naming it); repeated, the plugin is disabled and the administrators told', async () => {
    const res = await pub('spinner', { input: 1 })
    expect(res.status).toBe(500)
    expect(res.body.error.code).toBe('plugin_limit_exceeded')
    expect(res.body.error.message).toContain('cpu')
    for (let i = 0; i < 4; i++) await pub('spinner', { input: 1 })
    const row = (await env.call('GET', '/api-internal/v1/plugin-admin/plugins/spinner', { token: admin })).body
    expect(row.enabled).toBe(false)
    expect((await pub('spinner', { input: 1 })).status).toBe(404)
    // The notification is raised after the plugin is disabled, off the request's path.
    let titles: string[] = []
    for (let i = 0; i < 100 && titles.length === 0; i++) {
      titles = (await env.db.sql<{ title: string }[]>`SELECT title FROM notification_events WHERE type = 'plugin.disabled'`).map((r) => r.title)
      if (titles.length === 0) await Bun.sleep(30)
    }
    expect(titles).toEqual(['Plugin spinner was disabled'])
  }, 60_000)

  test('the per-caller rate limit of plugin routes applies', async () => {
    const other = await env.user('user')
    const k = (await env.call('POST', '/api-internal/v1/api-keys', { token: other.token, body: { name: 'p', scopes: ['plugins'] } })).body.key
    const statuses: number[] = []
    for (let i = 0; i < 26; i++) statuses.push((await pub('echo', { input: i }, k)).status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(25)
    expect(statuses.at(-1)).toBe(429)
  })

  test('a disabled plugins module answers 503', async () => {
    expect((await env.call('POST', '/api-internal/v1/modules/plugins/disable', { token: admin })).status).toBe(200)
    expect((await pub('echo', { input: 1 })).body.error.code).toBe('module_disabled')
    expect((await env.call('POST', '/api-internal/v1/modules/plugins/enable', { token: admin })).status).toBe(200)
    expect((await pub('echo', { input: 1 })).status).toBe(200)
  })
})
