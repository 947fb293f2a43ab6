/**
 * Plugins through the platform: discovery, grants, the three kinds of routes, settings and secrets, host calls
 * checked against grants (and audited), isolation between plugins, budgets, limits and automatic disabling, and a
 * new version that asks for more.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHmac } from 'node:crypto'
import { strToU8, zipSync } from 'fflate'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'

const dir = mkdtempSync(join(tmpdir(), 'enclava-plugins-'))

function writePlugin(name: string, manifest: Record<string, unknown>, code: string) {
  mkdirSync(join(dir, name, 'src'), { recursive: true })
  writeFileSync(join(dir, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', ...manifest }, null, 2))
  writeFileSync(join(dir, name, 'src', 'index.ts'), code)
}

writePlugin(
  'notes',
  {
    permissions: { kv: { quota_kb: 4 }, secrets: ['token'] },
    routes: [
      { method: 'GET', path: '/notes/:id', auth: 'api_key' },
      { method: 'POST', path: '/notes/:id', auth: 'api_key' },
      { method: 'GET', path: '/whoami', auth: 'jwt' },
      { method: 'POST', path: '/hook', auth: 'public', signature: { header: 'X-Signature', algorithm: 'sha256', prefix: 'sha256=', secret: 'hook_secret' } },
      { method: 'GET', path: '/settings', auth: 'api_key' },
    ],
    config: {
      type: 'object',
      properties: { greeting: { type: 'string' }, token: { type: 'string', secret: true }, hook_secret: { type: 'string', secret: true } },
      required: ['greeting'],
    },
  },
  `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Notes extends BasePlugin {
  override routes = {
    'GET /notes/:id': async (_req: Request, ctx: PluginContext) => Response.json({ note: await ctx.kv.get('note:' + ctx.params.id) }),
    'POST /notes/:id': async (req: Request, ctx: PluginContext) => {
      await ctx.kv.set('note:' + ctx.params.id, await req.text())
      return new Response(null, { status: 204 })
    },
    'GET /whoami': (_req: Request, ctx: PluginContext) => Response.json(ctx.identity),
    'POST /hook': async (req: Request) => Response.json({ got: await req.json() }),
    'GET /settings': async (_req: Request, ctx: PluginContext) => Response.json(await ctx.config.get()),
  }
}
`,
)

writePlugin(
  'snoop',
  {
    permissions: { kv: { quota_kb: 4 } },
    routes: [{ method: 'GET', path: '/try/:what', auth: 'public' }],
  },
  `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Snoop extends BasePlugin {
  override routes = {
    'GET /try/:what': async (_req: Request, ctx: PluginContext) => {
      const attempts: Record<string, () => Promise<unknown>> = {
        kv: () => ctx.kv.get('note:1'),
        config: () => ctx.config.get(),
        llm: () => ctx.llm.chat({ model: 'tee-chat', messages: [{ role: 'user', content: 'hi' }] }),
        rag: () => ctx.rag.search({ collection_id: '00000000-0000-4000-8000-000000000000', query: 'x' }),
        fetch_local: () => fetch('http://127.0.0.1:1/'),
        fetch_metadata: () => fetch('http://169.254.169.254/latest/meta-data/'),
      }
      try {
        return Response.json({ ok: true, value: await attempts[ctx.params.what]!() })
      } catch (err) {
        return Response.json({ ok: false, code: (err as { code?: string }).code, message: (err as Error).message })
      }
    },
  }
}
`,
)

writePlugin(
  'spender',
  {
    // A call's worst case (prompt estimate plus max_tokens) is 415 micro-USD and it costs 16: one call fits, a second does not.
    permissions: { llm: { models: ['tee-chat'], budget_usd: 0.00042 } },
    routes: [{ method: 'POST', path: '/ask', auth: 'public' }],
  },
  `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Spender extends BasePlugin {
  override routes = {
    'POST /ask': async (_req: Request, ctx: PluginContext) => {
      try {
        const r = (await ctx.llm.chat({ model: 'tee-chat', messages: [{ role: 'user', content: 'count to one hundred please' }], max_tokens: 200 })) as any
        return Response.json({ ok: true, text: r.choices[0].message.content })
      } catch (err) {
        return Response.json({ ok: false, code: (err as { code?: string }).code })
      }
    },
  }
}
`,
)

writePlugin(
  'burst',
  {
    // Room for one call's worst case (415 micro-USD) at a time, and for a few calls' actual cost (16 each).
    permissions: { llm: { models: ['tee-chat'], budget_usd: 0.0005 } },
    routes: [{ method: 'POST', path: '/burst', auth: 'public' }],
  },
  `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Burst extends BasePlugin {
  override routes = {
    'POST /burst': async (_req: Request, ctx: PluginContext) => {
      const ask = () => ctx.llm.chat({ model: 'tee-chat', messages: [{ role: 'user', content: 'count to one hundred please' }], max_tokens: 200 })
      const results = await Promise.allSettled(Array.from({ length: 50 }, ask))
      return Response.json(results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code?: string }).code)))
    },
  }
}
`,
)

const vaultCode = `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Vault extends BasePlugin {
  override routes = { 'GET /key': async (_req: Request, ctx: PluginContext) => Response.json({ key: await ctx.config.get('api_key') }) }
}
`
const vaultManifest = (version: string, secret: boolean) => ({
  version,
  permissions: secret ? { secrets: ['api_key'] } : {},
  routes: [{ method: 'GET', path: '/key', auth: 'public' }],
  config: { type: 'object', properties: { api_key: { type: 'string', ...(secret ? { secret: true } : {}) } } },
})
writePlugin('vault', vaultManifest('1.0.0', false), vaultCode)

writePlugin(
  'looper',
  { routes: [{ method: 'GET', path: '/spin', auth: 'public' }], limits: { cpu_ms: 100 } },
  `import { BasePlugin } from 'enclava:plugin'
export default class Looper extends BasePlugin {
  override routes = { 'GET /spin': () => { for (;;) {} } }
}
`,
)

writePlugin(
  'ticker',
  {
    permissions: { kv: { quota_kb: 4 } },
    // Leap days only: the runner's own timer never runs these while the tests drive the ticks.
    cron: [{ name: 'tick', schedule: '*/5 * 29 2 *', timeout_ms: 5000 }, { name: 'broken', schedule: '*/5 * 29 2 *' }],
  },
  `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Ticker extends BasePlugin {
  override cron = {
    tick: async (ctx: PluginContext) => ctx.kv.set('ticks', Number((await ctx.kv.get('ticks')) ?? 0) + 1),
    broken: () => { throw new Error('cannot tick') },
  }
}
`,
)

let env: TestEnv
let up: Upstream
let admin: string
let key: string

beforeAll(async () => {
  up = await startUpstream({ models: ['tee-chat'] })
  env = await createTestEnv({ PLUGINS_DIRS: dir, PRIVATEMODE_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  admin = await env.adminToken()
  key = (await env.call('POST', '/api-internal/v1/api-keys', { token: admin, body: { name: 'p', scopes: ['plugins'] } })).body.key
})
afterAll(async () => {
  await env.close()
  await up.stop()
  rmSync(dir, { recursive: true, force: true })
})

const A = '/api-internal/v1/plugin-admin/plugins'
const enable = (name: string, grant?: unknown) => env.call('POST', `${A}/${name}/enable`, { token: admin, body: grant === undefined ? {} : { grant } })
const pub = (path: string, init: RequestInit = {}) => env.app.handle(new Request(`http://localhost/api/v1/plugins${path}`, init))

describe('discovery and grants', () => {
  test('discovered plugins are listed with what they ask for, and stay off until granted', async () => {
    const list = await env.call('GET', A, { token: admin })
    expect(list.status).toBe(200)
    const notes = list.body.data.find((p: any) => p.name === 'notes')
    expect(notes).toMatchObject({ enabled: false, granted_permissions: null, requested_permissions: { kv: { quota_kb: 4 }, secrets: ['token'] } })
    expect(notes.code_hash).toMatch(/^[0-9a-f]{64}$/)
    expect((await pub('/notes/notes/1', { headers: { authorization: `Bearer ${key}` } })).status).toBe(404)
    const user = await env.user('user')
    expect((await env.call('GET', A, { token: user.token })).status).toBe(403)
  })

  test('a grant smaller than the request is refused; the requested grant enables', async () => {
    const short = await enable('notes', { kv: { quota_kb: 4 } })
    expect(short.status).toBe(400)
    expect(short.body.error.param).toBe('grant')
    const ok = await enable('notes')
    expect(ok.status).toBe(200)
    expect(ok.body).toMatchObject({ enabled: true, loaded: true, granted_permissions: { kv: { quota_kb: 4 }, secrets: ['token'] } })
  })
})

describe('routes', () => {
  test('API-key routes need a key with the plugins scope', async () => {
    const auth = { authorization: `Bearer ${key}` }
    expect((await pub('/notes/notes/7', { method: 'POST', headers: auth, body: 'remember the milk' })).status).toBe(204)
    expect(await (await pub('/notes/notes/7', { headers: auth })).json()).toEqual({ note: 'remember the milk' })
    expect((await pub('/notes/notes/7')).status).toBe(401)
    const llmOnly = (await env.call('POST', '/api-internal/v1/api-keys', { token: admin, body: { name: 'l', scopes: ['llm'] } })).body.key
    expect((await pub('/notes/notes/7', { headers: { authorization: `Bearer ${llmOnly}` } })).status).toBe(403)
    expect((await pub('/notes/unknown-route', { headers: auth })).status).toBe(404)
  })

  test('JWT routes answer on the internal API only, with the caller identity', async () => {
    const res = await env.call('GET', '/api-internal/v1/plugins/notes/whoami', { token: admin })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ source: 'internal' })
    expect(res.body.user_id).toBeString()
    expect((await env.call('GET', '/api-internal/v1/plugins/notes/whoami')).status).toBe(401)
    expect((await pub('/notes/whoami', { headers: { authorization: `Bearer ${key}` } })).status).toBe(404)
  })

  test('settings: validated, secrets write-only; a webhook signature is checked before the plugin runs', async () => {
    const bad = await env.call('PUT', `${A}/notes/config`, { token: admin, body: { values: { greeting: 42 } } })
    expect(bad.status).toBe(400)
    const saved = await env.call('PUT', `${A}/notes/config`, { token: admin, body: { values: { greeting: 'hi', token: 's3cret-token', hook_secret: 'whsec' } } })
    expect(saved.status).toBe(200)
    expect(saved.body).toMatchObject({ values: { greeting: 'hi' }, secrets: { token: true, hook_secret: true } })
    expect(JSON.stringify(saved.body)).not.toContain('s3cret-token')
    const [row] = await env.s.sql<{ secrets: Record<string, string> }[]>`SELECT secrets FROM plugins WHERE name = 'notes'`
    expect(JSON.stringify(row!.secrets)).not.toContain('s3cret-token')
    // Audited with before and after for the plain field, the secrets as changed without their values.
    const [audited] = (await env.call('GET', '/api-internal/v1/audit?action=plugin.config&limit=1', { token: admin })).body.data
    expect(audited.details.changes).toEqual({ greeting: { from: null, to: 'hi' }, token: { changed: true }, hook_secret: { changed: true } })
    expect(JSON.stringify(audited)).not.toContain('s3cret')
    expect(JSON.stringify(audited)).not.toContain('whsec')
    // The plugin reads the secret it was granted (token) but not the one it was not (hook_secret).
    const seen = await (await pub('/notes/settings', { headers: { authorization: `Bearer ${key}` } })).json()
    expect(seen).toEqual({ greeting: 'hi', token: 's3cret-token' })

    const body = JSON.stringify({ event: 'ping' })
    const sign = (secret: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
    expect((await pub('/notes/hook', { method: 'POST', body, headers: { 'x-signature': sign('wrong') } })).status).toBe(400)
    expect((await pub('/notes/hook', { method: 'POST', body })).status).toBe(400)
    const good = await pub('/notes/hook', { method: 'POST', body, headers: { 'x-signature': sign('whsec'), 'content-type': 'application/json' } })
    expect(good.status).toBe(200)
    expect(await good.json()).toEqual({ got: { event: 'ping' } })
  })

  test('a chunked body without a length is refused once it passes the cap, without waiting for its end', async () => {
    const chunk = new Uint8Array(1024 * 1024).fill(97)
    let sent = 0
    // Six megabytes, then it stalls, as a slow or hostile client may.
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 6) c.enqueue(chunk)
        else return new Promise<void>(() => {})
      },
    })
    const res = await pub('/notes/hook', { method: 'POST', body, duplex: 'half' } as RequestInit)
    expect(res.status).toBe(413)
  })
})

describe('capabilities', () => {
  beforeAll(async () => {
    expect((await enable('snoop')).status).toBe(200)
  })
  const attempt = async (what: string) => (await pub(`/snoop/try/${what}`)).json() as Promise<{ ok: boolean; code?: string; value?: unknown }>

  test("a plugin cannot read another plugin's kv or settings", async () => {
    expect(await attempt('kv')).toEqual({ ok: true, value: null })
    expect(await attempt('config')).toEqual({ ok: true, value: {} })
  })

  test('llm and rag without a grant, and fetch to loopback or the metadata address, are refused and audited', async () => {
    expect(await attempt('llm')).toMatchObject({ ok: false, code: 'permission_denied' })
    expect(await attempt('rag')).toMatchObject({ ok: false, code: 'permission_denied' })
    expect((await attempt('fetch_local')).ok).toBe(false)
    expect((await attempt('fetch_metadata')).ok).toBe(false)
    const audit = await env.call('GET', `${A}/snoop/audit`, { token: admin })
    const refused = audit.body.data.filter((a: any) => !a.allowed).map((a: any) => a.call)
    expect(refused).toEqual(expect.arrayContaining(['llm.chat', 'rag.search']))
  })

  test("an llm grant is charged to the plugin's budget, and refused once it is spent", async () => {
    expect((await enable('spender')).status).toBe(200)
    const results: { ok: boolean; code?: string }[] = []
    for (let i = 0; i < 20 && !results.some((r) => !r.ok); i++) results.push((await (await pub('/spender/ask', { method: 'POST' })).json()) as { ok: boolean; code?: string })
    expect(results[0]).toMatchObject({ ok: true })
    expect(results.at(-1)).toMatchObject({ ok: false, code: 'budget_exceeded' })
    expect(results.filter((r) => r.ok)).toHaveLength(1)
    const [spent] = await env.s.sql<{ micros: string }[]>`SELECT micros FROM plugin_spend WHERE plugin = 'spender'`
    expect(Number(spent!.micros)).toBeGreaterThan(0)
  })

  test('concurrent llm calls of a plugin never spend more than its budget together', async () => {
    expect((await enable('burst')).status).toBe(200)
    // A busy server's pool has its connections open, so the calls really run side by side.
    await Promise.all(Array.from({ length: 5 }, () => env.s.sql`SELECT pg_sleep(0.05)`))
    const res = await pub('/burst/burst', { method: 'POST' })
    expect(res.status).toBe(200)
    const results = (await res.json()) as string[]
    expect(results).toHaveLength(50)
    expect(results).toContain('ok')
    expect(results.filter((r) => r !== 'ok').every((r) => r === 'budget_exceeded')).toBe(true)
    const [spent] = await env.s.sql<{ micros: string }[]>`SELECT micros FROM plugin_spend WHERE plugin = 'burst'`
    expect(Number(spent!.micros)).toBeGreaterThan(0)
    expect(Number(spent!.micros)).toBeLessThanOrEqual(500)
    // Every call settled or released what it held.
    expect(await env.s.sql`SELECT 1 FROM plugin_spend_reservations WHERE plugin = 'burst'`).toHaveLength(0)
  })
})

describe('limits', () => {
  test('a runaway route ends with a 5xx naming the limit; others keep answering; repeated violations disable it', async () => {
    expect((await enable('looper')).status).toBe(200)
    const res = await pub('/looper/spin')
    expect(res.status).toBe(500)
    const body = (await res.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('plugin_limit_exceeded')
    expect(body.error.message).toContain('cpu')
    expect((await pub('/notes/notes/7', { headers: { authorization: `Bearer ${key}` } })).status).toBe(200)
    for (let i = 0; i < 4; i++) await pub('/looper/spin')
    const row = (await env.call('GET', `${A}/looper`, { token: admin })).body
    expect(row.enabled).toBe(false)
    expect(row.disabled_reason).toContain('limit violations')
    expect((await pub('/looper/spin')).status).toBe(404)
    const stats = (await env.call('GET', `${A}/looper/stats`, { token: admin })).body
    expect(stats).toMatchObject({ invocations: 5, limit_violations: 5, errors: 0 })
    expect(stats.p99_ms).toBeGreaterThan(0)
  })

  test('a new version that asks for more is disabled until granted again', async () => {
    writePlugin(
      'snoop',
      { version: '1.1.0', permissions: { kv: { quota_kb: 4 }, net: ['api.example.com'] }, routes: [{ method: 'GET', path: '/try/:what', auth: 'public' }] },
      `import { BasePlugin } from 'enclava:plugin'
export default class Snoop extends BasePlugin { override routes = { 'GET /try/:what': () => Response.json({ v: 2 }) } }
`,
    )
    const reloaded = await env.call('POST', `${A}/snoop/reload`, { token: admin })
    expect(reloaded.body).toMatchObject({ version: '1.1.0', enabled: false })
    expect(reloaded.body.disabled_reason).toContain('not granted')
    expect((await pub('/snoop/try/kv')).status).toBe(404)
    expect((await enable('snoop')).body.enabled).toBe(true)
    expect(await (await pub('/snoop/try/kv')).json()).toEqual({ v: 2 })
  })
})

describe('settings after a manifest change', () => {
  test('a field a new version marks secret is sealed at once, hidden from the API, and read only by the plugin it is granted to', async () => {
    expect((await enable('vault')).status).toBe(200)
    const plain = 'vault-key-3f9a1c'
    expect((await env.call('PUT', `${A}/vault/config`, { token: admin, body: { values: { api_key: plain } } })).status).toBe(200)
    const stored = async () => (await env.s.sql<{ raw: string }[]>`SELECT config::text || secrets::text AS raw FROM plugins WHERE name = 'vault'`)[0]!.raw
    const read = async () => ((await (await pub('/vault/key')).json()) as { key: unknown }).key

    writePlugin('vault', vaultManifest('1.1.0', true), vaultCode)
    const reloaded = await env.call('POST', `${A}/vault/reload`, { token: admin })
    expect(reloaded.status).toBe(200)
    expect(await stored()).not.toContain(plain)
    const settings = await env.call('GET', `${A}/vault/config`, { token: admin })
    expect(JSON.stringify(settings.body)).not.toContain(plain)
    expect(settings.body.secrets).toEqual({ api_key: true })
    // Reading a secret is a new permission: granted again, the plugin reads the value it had.
    expect((await enable('vault')).status).toBe(200)
    expect(await read()).toBe(plain)

    // No longer secret: it stays sealed and is withheld from the plugin (a new version cannot unlock a secret by
    // unmarking it), until an administrator enters the field again as a plain setting.
    writePlugin('vault', vaultManifest('1.2.0', false), vaultCode)
    expect((await env.call('POST', `${A}/vault/reload`, { token: admin })).body).toMatchObject({ version: '1.2.0', enabled: true })
    expect(await stored()).not.toContain(plain)
    expect(await read()).toBeNull()
    expect(JSON.stringify((await env.call('GET', `${A}/vault/config`, { token: admin })).body)).not.toContain(plain)
    expect((await env.call('PUT', `${A}/vault/config`, { token: admin, body: { values: { api_key: 'now-plain' } } })).status).toBe(200)
    expect(await read()).toBe('now-plain')
  })
})

describe('cron', () => {
  test('each tick runs on exactly one of two replicas, with its history', async () => {
    expect((await enable('ticker')).status).toBe(200)
    const replica = await createTestEnv({ PLUGINS_DIRS: dir }, env)
    try {
      const at = new Date('2028-02-29T10:05:03Z')
      await Promise.all([env.s.plugins.cron.tick(at), replica.s.plugins.cron.tick(at), env.s.plugins.cron.tick(at)])
      const [ticks] = await env.s.sql<{ value: number }[]>`SELECT value FROM plugin_kv WHERE plugin = 'ticker' AND key = 'ticks'`
      expect(ticks!.value).toBe(1)
      // The next scheduled minute is a new tick; a moment later within the same minute is not.
      await env.s.plugins.cron.tick(new Date('2028-02-29T10:05:20Z'))
      await replica.s.plugins.cron.tick(new Date('2028-02-29T10:10:01Z'))
      const history = (await env.call('GET', `${A}/ticker/cron`, { token: admin })).body.data as any[]
      expect(history.filter((r) => r.job === 'tick').map((r) => r.status)).toEqual(['ok', 'ok'])
      const broken = history.filter((r) => r.job === 'broken')
      expect(broken.map((r) => r.status)).toEqual(['error', 'error'])
      expect(broken[0].error).toContain('cannot tick')
      expect(broken[0].duration_ms).toBeGreaterThan(0)
    } finally {
      await replica.close()
    }
  })

  test('a replica that missed the message that a plugin was disabled runs neither its cron jobs nor its routes', async () => {
    expect((await enable('ticker')).status).toBe(200)
    expect((await enable('notes')).status).toBe(200)
    const replica = await createTestEnv({ PLUGINS_DIRS: dir }, env)
    try {
      const auth = { authorization: `Bearer ${key}` }
      const onReplica = (path: string) => replica.app.handle(new Request(`http://localhost/api/v1/plugins${path}`, { headers: auth }))
      expect((await onReplica('/notes/notes/7')).status).toBe(200)
      // Disabled while the replica's pub/sub connection was down (a Redis restart): the message never reaches it.
      await env.s.sql`UPDATE plugins SET enabled = false, updated_at = now() WHERE name IN ('ticker', 'notes')`
      await replica.s.plugins.cron.tick(new Date('2028-02-29T11:05:03Z'))
      const runs = await env.s.sql`SELECT 1 FROM plugin_cron_runs WHERE plugin = 'ticker' AND scheduled_for = '2028-02-29T11:05:00Z'`
      expect(runs).toHaveLength(0)
      await replica.s.plugins.resync()
      expect((await onReplica('/notes/notes/7')).status).toBe(404)
    } finally {
      await replica.close()
      await env.s.plugins.resync()
    }
  })
})

describe('install by upload', () => {
  const install = (files: Record<string, string | Uint8Array>) => {
    const form = new FormData()
    const zip = zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? strToU8(v) : v])))
    form.append('archive', new File([zip], 'plugin.zip'))
    return env.app.handle(new Request(`http://localhost${A}/install`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: form }))
  }
  const uploaded = {
    'uploaded/plugin.json': JSON.stringify({ name: 'uploaded', version: '0.1.0', routes: [{ method: 'GET', path: '/ping', auth: 'public' }] }),
    'uploaded/src/index.ts': `import { BasePlugin } from 'enclava:plugin'\nexport default class U extends BasePlugin { override routes = { 'GET /ping': () => new Response('pong') } }\n`,
  }

  test('a valid archive installs disabled, then runs once granted; uninstall removes it', async () => {
    const res = await install(uploaded)
    expect(res.status).toBe(201)
    expect(await res.json()).toMatchObject({ name: 'uploaded', source: 'uploaded', enabled: false })
    expect((await enable('uploaded')).status).toBe(200)
    expect(await (await pub('/uploaded/ping')).text()).toBe('pong')
    expect((await env.call('DELETE', `${A}/uploaded`, { token: admin })).status).toBe(204)
    expect((await pub('/uploaded/ping')).status).toBe(404)
    expect((await env.call('GET', `${A}/uploaded`, { token: admin })).status).toBe(404)
  })

  test('path traversal, a missing manifest, a bad manifest, and replacing a shipped plugin are refused', async () => {
    const traversal = await install({ ...uploaded, 'uploaded/../../escape.ts': 'x' })
    expect(traversal.status).toBe(400)
    expect(((await traversal.json()) as any).error.message).toContain('outside the plugin folder')
    expect((await install({ 'x/readme.md': 'no manifest' })).status).toBe(400)
    const bad = await install({ ...uploaded, 'uploaded/plugin.json': JSON.stringify({ name: 'Bad Name', version: '1' }) })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as any).error.message).toContain('plugin.json.name')
    const shipped = await install({ ...uploaded, 'uploaded/plugin.json': JSON.stringify({ name: 'notes', version: '9.0.0' }) })
    expect(shipped.status).toBe(409)
    const notZip = new FormData()
    notZip.append('archive', new File(['not a zip'], 'x.zip'))
    expect((await env.app.handle(new Request(`http://localhost${A}/install`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: notZip }))).status).toBe(400)
  })
})

describe('chatbots.invoke', () => {
  test('a plugin talks to the chatbot it was granted, and is refused any other', async () => {
    const bot = (await env.call('POST', '/api-internal/v1/chatbots', { token: admin, body: { name: 'helper', model: 'tee-chat' } })).body
    const otherBot = (await env.call('POST', '/api-internal/v1/chatbots', { token: admin, body: { name: 'secret', model: 'tee-chat' } })).body
    writePlugin(
      'asker',
      { permissions: { chatbots: { invoke: [bot.id] } }, routes: [{ method: 'POST', path: '/ask/:which', auth: 'public' }] },
      `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Asker extends BasePlugin {
  override routes = {
    'POST /ask/:which': async (_req: Request, ctx: PluginContext) => {
      const id = ctx.params.which === 'granted' ? '${bot.id}' : '${otherBot.id}'
      try {
        return Response.json({ ok: true, answer: await ctx.chatbots.invoke({ chatbot_id: id, message: 'hello bot' }) })
      } catch (err) {
        return Response.json({ ok: false, code: (err as { code?: string }).code })
      }
    },
  }
}
`,
    )
    expect((await env.call('POST', `${A}/discover`, { token: admin })).status).toBe(200)
    expect((await enable('asker')).status).toBe(200)
    const granted = (await (await pub('/asker/ask/granted', { method: 'POST' })).json()) as any
    expect(granted.ok).toBe(true)
    expect(granted.answer.response).toContain('hello bot')
    expect(granted.answer.conversation_id).toBeString()
    expect(await (await pub('/asker/ask/other', { method: 'POST' })).json()).toMatchObject({ ok: false, code: 'permission_denied' })
  })
})
