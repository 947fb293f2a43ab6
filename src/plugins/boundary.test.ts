/**
 * The plugin boundary in-process: which request headers a plugin never sees and which response headers it cannot
 * set; rate limits per caller; and one name, one plugin (a second folder holding a plugin of the same name takes
 * over nothing: row, grant, kv data, settings; both are reported, and on a fresh platform neither gets the name).
 * The same boundary through a real server, attack by attack: test/plugin-hostile.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { PLUGIN_CSP, pluginRequestHeaders, pluginResponse } from './boundary.ts'

const root = mkdtempSync(join(tmpdir(), 'enclava-collide-'))
const first = join(root, 'first')
const second = join(root, 'second')

function twin(dir: string, which: string) {
  mkdirSync(join(dir, 'twin', 'src'), { recursive: true })
  writeFileSync(
    join(dir, 'twin', 'plugin.json'),
    JSON.stringify({
      name: 'twin',
      version: '1.0.0',
      permissions: { kv: { quota_kb: 16 } },
      routes: [{ method: 'GET', path: '/who', auth: 'public' }],
      config: { type: 'object', properties: { motto: { type: 'string' } } },
    }),
  )
  writeFileSync(
    join(dir, 'twin', 'src', 'index.ts'),
    `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Twin extends BasePlugin {
  override routes = {
    'GET /who': async (_req: Request, ctx: PluginContext) => {
      const seen = await ctx.kv.get('seen')
      await ctx.kv.set('seen', ${JSON.stringify(which)})
      return { which: ${JSON.stringify(which)}, seen, motto: await ctx.config.get('motto') }
    },
  }
}
`,
  )
}
twin(first, 'first')
twin(second, 'second')

const A = '/api-internal/v1/plugin-admin/plugins'
let env: TestEnv
let admin: string

beforeAll(async () => {
  env = await createTestEnv({ PLUGINS_DIRS: first, PLUGIN_RATE_LIMIT_PER_MINUTE: '3' })
  admin = await env.adminToken()
})
afterAll(async () => {
  await env.close()
  rmSync(root, { recursive: true, force: true })
})

const who = async (e: TestEnv) => (await e.app.handle(new Request('http://localhost/api/v1/plugins/twin/who'))).json() as Promise<Record<string, unknown>>

test("a second folder with a plugin's name is reported with the first, and takes none of its row, grant, data or settings", async () => {
  expect((await env.call('POST', `${A}/twin/enable`, { token: admin, body: {} })).status).toBe(200)
  expect((await env.call('PUT', `${A}/twin/config`, { token: admin, body: { values: { motto: 'the first' } } })).status).toBe(200)
  expect(await who(env)).toEqual({ which: 'first', seen: null, motto: 'the first' })

  // An operator adds a folder that also holds a "twin", and scans again.
  env.s.config.PLUGINS_DIRS = `${first},${second}`
  const scan = await env.call('POST', `${A}/discover`, { token: admin })
  const failed = scan.body.failed as { path: string; error: string }[]
  expect(failed.map((f) => f.path).sort()).toEqual([join(first, 'twin'), join(second, 'twin')])
  for (const f of failed) expect(f.error).toContain('"twin" is also the name of the plugin in')

  const row = (await env.call('GET', `${A}/twin`, { token: admin })).body
  expect(row).toMatchObject({ enabled: true, loaded: true })
  const [stored] = await env.s.sql<{ path: string }[]>`SELECT path FROM plugins WHERE name = 'twin'`
  expect(stored?.path).toBe(join(first, 'twin'))
  expect(await who(env)).toEqual({ which: 'first', seen: 'first', motto: 'the first' })
  env.s.config.PLUGINS_DIRS = first
})

test('on a fresh platform, two folders with one name: neither gets it', async () => {
  const fresh = await createTestEnv({ PLUGINS_DIRS: `${first},${second}` })
  try {
    const token = await fresh.adminToken()
    const list = (await fresh.call('GET', A, { token })).body.data as { name: string }[]
    expect(list.map((p) => p.name)).not.toContain('twin')
    expect((await fresh.app.handle(new Request('http://localhost/api/v1/plugins/twin/who'))).status).toBe(404)
  } finally {
    await fresh.close()
  }
})

describe('headers across the boundary', () => {
  test.each([
    ['authorization', false],
    ['Cookie', false],
    ['x-api-key', false],
    ['X-CSRF-Token', false],
    ['proxy-authorization', false],
    ['proxy-connection', false],
    ['forwarded', false],
    ['x-forwarded-for', false],
    ['X-Forwarded-Host', false],
    ['x-real-ip', false],
    ['x-enclava-conversation-id', false],
    ['content-type', true],
    ['accept', true],
    ['user-agent', true],
    ['x-hub-signature', true],
    ['x-custom', true],
  ])('request header %s reaches the plugin: %p', (name, passes) => {
    const headers = pluginRequestHeaders(new Headers({ [name]: 'v' }))
    expect(headers.has(name)).toBe(passes)
  })

  test('a response keeps its own headers, loses cookies and storage wiping, and is sandboxed unless on its own origin', () => {
    const result = {
      status: 200,
      statusText: 'OK',
      headers: [
        ['content-type', 'text/html'],
        ['Set-Cookie', 'a=b'],
        ['set-cookie2', 'a=b'],
        ['clear-site-data', '"*"'],
        ['strict-transport-security', 'max-age=1'],
        ['access-control-allow-credentials', 'true'],
        ['access-control-allow-origin', '*'],
        ['x-plugin', 'kept'],
      ] as [string, string][],
      body: Buffer.from('<p>hi</p>').toString('base64'),
      bodyEncoding: 'base64' as const,
    }
    const sandboxed = pluginResponse(result, false)
    expect([...sandboxed.headers.keys()].sort()).toEqual(
      ['access-control-allow-origin', 'content-security-policy', 'content-type', 'cross-origin-opener-policy', 'x-content-type-options', 'x-plugin'].sort(),
    )
    expect(sandboxed.headers.get('content-security-policy')).toBe(PLUGIN_CSP)
    expect(PLUGIN_CSP.startsWith('sandbox')).toBe(true)
    expect(PLUGIN_CSP).not.toContain('allow-same-origin')
    const own = pluginResponse(result, true)
    expect(own.headers.get('content-security-policy')).toBeNull()
    expect(own.headers.get('x-content-type-options')).toBe('nosniff')
    expect(own.headers.get('set-cookie')).toBeNull()
  })
})

test('rate limits are per caller: one key using up its calls leaves another its own', async () => {
  const key = async (name: string) =>
    (await env.call('POST', '/api-internal/v1/api-keys', { token: admin, body: { name, scopes: ['plugins'] } })).body.key as string
  mkdirSync(join(first, 'keyed', 'src'), { recursive: true })
  writeFileSync(join(first, 'keyed', 'plugin.json'), JSON.stringify({ name: 'keyed', version: '1.0.0', routes: [{ method: 'GET', path: '/k', auth: 'api_key' }] }))
  writeFileSync(join(first, 'keyed', 'src', 'index.ts'), `import { BasePlugin } from 'enclava:plugin'\nexport default class K extends BasePlugin { override routes = { 'GET /k': () => ({ ok: true }) } }\n`)
  await env.call('POST', `${A}/discover`, { token: admin })
  expect((await env.call('POST', `${A}/keyed/enable`, { token: admin, body: {} })).status).toBe(200)
  const [a, b] = [await key('a'), await key('b')]
  const get = (k: string) => env.call('GET', '/api/v1/plugins/keyed/k', { apiKey: k })
  expect([(await get(a)).status, (await get(a)).status, (await get(a)).status, (await get(a)).status]).toEqual([200, 200, 200, 429])
  expect((await get(b)).status).toBe(200)
})
