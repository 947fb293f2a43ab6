/**
 * Hostile plugins and archives against a real server process (`bun src/index.ts`) with the real sandbox, through
 * the HTTP surface only: one plugin or archive per class of attack the plugin boundary must stop. Every attack runs
 * beside a poller of /health/ready and the shipped hello plugin's route, which must keep answering within a second;
 * no plugin may obtain a secret, a caller's credential or another plugin's data; and the server process must never
 * run plugin code (a macro would leave its marker file).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { declareSizes, zip } from './fixtures/plugin-archives.ts'
import { schemaName } from './harness.ts'
import { killLeftovers, ROOT, startServer, storeEnv, type Server } from './server-process.ts'

const schema = schemaName('hostile')
const work = mkdtempSync(join(tmpdir(), 'enclava-hostile-'))
const dataDir = join(work, 'data')
const hostileDir = join(work, 'plugins')
const MARKER = join(work, 'macro-ran')
const OUTSIDE_SECRET = 'outside-the-plugin-folder-4b1d'
const ADMIN_PASSWORD = 'hostile-suite-admin-password'
/** The poller's bound: readiness and a bystander plugin answer within this while an attack runs. */
const ANSWER_WITHIN_MS = 1_000

const HEADER = `import { BasePlugin, type PluginContext } from 'enclava:plugin'\n`

function writePlugin(name: string, manifest: Record<string, unknown>, files: Record<string, string>) {
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(hostileDir, name, file, '..'), { recursive: true })
    writeFileSync(join(hostileDir, name, file), text)
  }
  writeFileSync(join(hostileDir, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', ...manifest }))
}

const route = (method: string, path: string, auth = 'public') => ({ method, path, auth })

// ---- the plugins (folder plugins, found by discovery)

writePlugin('echo', { routes: [route('GET', '/h'), route('GET', '/i', 'jwt'), route('GET', '/k', 'api_key'), route('GET', '/page')] }, {
  'src/index.ts': `${HEADER}
const echo = (req: Request, ctx: PluginContext) => Response.json({ headers: [...req.headers], identity: ctx.identity })
export default class Echo extends BasePlugin {
  override routes = {
    'GET /h': echo, 'GET /i': echo, 'GET /k': echo,
    'GET /page': () => new Response('<!doctype html><title>plugin page</title><p id="p">plugin page</p>', {
      headers: { 'content-type': 'text/html', 'set-cookie': 'enclava_refresh=planted; Path=/', 'clear-site-data': '"cookies", "storage"' },
    }),
  }
}
`,
})

// A macro runs at bundle time in whatever process bundles: it must never be the server, nor run at all.
writePlugin('macro', { routes: [route('GET', '/m')] }, {
  'src/m.ts': `export function mark() { require('node:fs').writeFileSync(${JSON.stringify(MARKER)}, 'ran'); return 1 }\n`,
  'src/index.ts': `${HEADER}import { mark } from './m.ts' with { type: 'macro' }
const value = mark()
export default class Macro extends BasePlugin { override routes = { 'GET /m': () => ({ value }) } }
`,
})

writePlugin('outside', { routes: [route('GET', '/s')] }, {
  'src/index.ts': `${HEADER}import secret from '../../../outside-secret.json'
export default class Outside extends BasePlugin { override routes = { 'GET /s': () => secret } }
`,
})
writeFileSync(join(work, 'outside-secret.json'), JSON.stringify({ secret: OUTSIDE_SECRET }))

writePlugin('rab', { routes: [route('GET', '/grow')] }, {
  'src/index.ts': `${HEADER}export default class Rab extends BasePlugin {
  override routes = {
    'GET /grow': () => {
      const keep: ArrayBuffer[] = []
      for (let i = 0; i < 3; i++) {
        const b = new ArrayBuffer(0, { maxByteLength: 512 * 1024 * 1024 })
        ;(b as unknown as { resize(n: number): void }).resize(512 * 1024 * 1024)
        new Uint8Array(b).fill(1)
        keep.push(b)
      }
      return { kept: keep.length }
    },
  }
}
`,
})

writePlugin('crasher', { routes: [route('GET', '/crash')] }, {
  'src/index.ts': `${HEADER}export default class Crasher extends BasePlugin {
  override routes = { 'GET /crash': () => ({ n: 'xy'.repeat(2 ** 27).split('').length }) }
}
`,
})

writePlugin('slow', { routes: [route('GET', '/slow')] }, {
  'src/index.ts': `${HEADER}export default class Slow extends BasePlugin {
  override routes = { 'GET /slow': async () => { await new Promise((r) => setTimeout(r, 1500)); return { ok: true } } }
}
`,
})

writePlugin('kvflood', { permissions: { kv: { quota_kb: 102400 } }, routes: [route('POST', '/flood')] }, {
  'src/index.ts': `${HEADER}export default class KvFlood extends BasePlugin {
  override routes = {
    'POST /flood': async (_req: Request, ctx: PluginContext) => {
      let n = 0
      try {
        for (; n < 95; n++) await ctx.kv.set(ctx.invocationId + ':' + n, 'x'.repeat(100))
      } catch (err) {
        return { n, code: (err as { code?: string }).code }
      }
      return { n, code: null }
    },
  }
}
`,
})

writePlugin('logflood', { routes: [route('POST', '/log')] }, {
  'src/index.ts': `${HEADER}export default class LogFlood extends BasePlugin {
  override routes = { 'POST /log': () => { const line = 'x'.repeat(8000); for (let i = 0; i < 990; i++) console.log(line); return { ok: true } } }
}
`,
})

writePlugin(
  'redos',
  {
    routes: [route('GET', '/r')],
    config: { type: 'object', properties: { words: { type: 'array', items: { type: 'string', pattern: '^(a+)+$' } } } },
  },
  { 'src/index.ts': `${HEADER}export default class Redos extends BasePlugin { override routes = { 'GET /r': () => ({}) } }\n` },
)

writePlugin('deep', { permissions: { kv: { quota_kb: 64 } }, routes: [route('GET', '/deep')] }, {
  'src/index.ts': `${HEADER}export default class Deep extends BasePlugin {
  override routes = {
    'GET /deep': async (_req: Request, ctx: PluginContext) => {
      let v: unknown = 1
      for (let i = 0; i < 5000; i++) v = [v]
      const t0 = Date.now()
      try {
        await ctx.kv.set('deep', v)
        return { stored: true }
      } catch (err) {
        return { code: (err as { code?: string }).code, message: (err as Error).message, ms: Date.now() - t0 }
      }
    },
  }
}
`,
})

writePlugin('loopy', { routes: [route('GET', '/x')] }, {
  'src/index.ts': `${HEADER}while (true) {}\nexport default class Loopy extends BasePlugin { override routes = { 'GET /x': () => ({}) } }\n`,
})
writePlugin('nodefault', { routes: [route('GET', '/x')] }, { 'src/index.ts': `export const x = 1\n` })

// Asks for 20 s per call (above the 30 s default? no: wall 20 s is below it) and for CPU above the default.
writePlugin('greedy', { limits: { cpu_ms: 5000, wall_ms: 20_000 }, routes: [route('GET', '/wait')] }, {
  'src/index.ts': `${HEADER}export default class Greedy extends BasePlugin {
  override routes = { 'GET /wait': async (req: Request) => { const ms = Number(new URL(req.url).searchParams.get('ms') ?? 0); await new Promise((r) => setTimeout(r, ms)); return { waited: ms } } }
}
`,
})

writePlugin('spin', { limits: { cpu_ms: 300 }, routes: [route('GET', '/spin')] }, {
  'src/index.ts': `${HEADER}export default class Spin extends BasePlugin {
  override routes = { 'GET /spin': (req: Request) => { const ms = Number(new URL(req.url).searchParams.get('ms') ?? 0); const end = Date.now() + ms; while (Date.now() < end) {} return { spun: ms } } }
}
`,
})

writePlugin('hang', { limits: { wall_ms: 120_000 }, routes: [route('GET', '/hang')] }, {
  'src/index.ts': `${HEADER}export default class Hang extends BasePlugin {
  override routes = { 'GET /hang': async () => { for (;;) await new Promise((r) => setTimeout(r, 1000)) } }
}
`,
})

// ---- the server

// First: it runs even if a later hook throws, so no server outlives this file.
afterAll(killLeftovers)

let server: Server
let secrets: { JWT_SECRET: string; ENCRYPTION_KEY: string }
let adminToken = ''
let apiKey = ''

async function call(method: string, path: string, opts: { token?: string; key?: string; body?: unknown; raw?: FormData; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`
  if (opts.key) headers.authorization = `Bearer ${opts.key}`
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : opts.raw !== undefined ? { body: opts.raw } : {}),
  })
  const text = await res.text()
  let body: any = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body, text, headers: res.headers }
}

const admin = (method: string, path: string, body?: unknown) => call(method, `/api-internal/v1/plugin-admin/plugins${path}`, { token: adminToken, body })

async function enable(name: string, grant?: unknown) {
  const res = await admin('POST', `/${name}/enable`, grant === undefined ? {} : { grant })
  return res
}

/**
 * Runs `attack` while readiness and hello's public route are polled; resolves with the attack's result and what
 * the poller saw (the slowest answer, and anything but a 200).
 */
async function watched<T>(attack: () => Promise<T>): Promise<{ result: T; slowestMs: number; failures: string[] }> {
  let stop = false
  let slowestMs = 0
  const failures: string[] = []
  const poll = (async () => {
    while (!stop) {
      for (const path of ['/health/ready', '/api/v1/plugins/hello/hello']) {
        const started = performance.now()
        try {
          const res = await fetch(`${server.url}${path}`, { signal: AbortSignal.timeout(10_000) })
          await res.arrayBuffer()
          if (res.status !== 200) failures.push(`${path}: ${res.status}`)
        } catch (err) {
          failures.push(`${path}: ${(err as Error).message}`)
        }
        slowestMs = Math.max(slowestMs, performance.now() - started)
      }
      await Bun.sleep(150)
    }
  })()
  try {
    return { result: await attack(), slowestMs, failures }
  } finally {
    stop = true
    await poll
  }
}

function expectUnharmed(w: { slowestMs: number; failures: string[] }) {
  expect(w.failures).toEqual([])
  expect(w.slowestMs).toBeLessThan(ANSWER_WITHIN_MS)
}

/** No secret of the server's and no foreign file's content in anything a plugin-related call answered. */
function expectNoSecrets(text: string) {
  expect(text).not.toContain(secrets.JWT_SECRET)
  expect(text).not.toContain(secrets.ENCRYPTION_KEY)
  expect(text).not.toContain(ADMIN_PASSWORD)
  expect(text).not.toContain(OUTSIDE_SECRET)
}

beforeAll(async () => {
  mkdirSync(dataDir, { recursive: true })
  server = await startServer({
    DATA_DIR: dataDir,
    ADMIN_PASSWORD,
    PLUGINS_DIRS: `${join(ROOT, 'plugins')},${hostileDir}`,
    // The poller and the attacks come from one address; per-caller limiting has its own test.
    PLUGIN_RATE_LIMIT_PER_MINUTE: '1000000',
    PLUGIN_LOG_MAX_MB: '2',
    ...(await storeEnv(schema)),
  })
  secrets = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8'))
  const login = await call('POST', '/api-internal/v1/auth/login', { body: { email: 'admin@enclava.local', password: ADMIN_PASSWORD } })
  adminToken = login.body.access_token
  const key = await call('POST', '/api-internal/v1/api-keys', { token: adminToken, body: { name: 'hostile suite', scopes: ['plugins'] } })
  apiKey = key.body.key
  expect((await enable('hello')).status).toBe(200)
}, 120_000)

afterAll(async () => {
  server?.proc.kill('SIGKILL')
  await server?.exited
  rmSync(work, { recursive: true, force: true })
  if (process.env.DATABASE_URL) {
    const sql = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} })
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await sql.end()
  }
})

// ---- escapes

describe('bundling runs no plugin code and reads nothing outside the plugin folder', () => {
  test('a macro import is refused at discovery, and never runs', async () => {
    const list = await admin('GET', '')
    expect(list.body.data.map((p: { name: string }) => p.name)).not.toContain('macro')
    const again = await admin('POST', '/discover')
    const failure = again.body.failed.find((f: { path: string }) => f.path.endsWith('/macro'))
    expect(failure.error).toContain('macro')
    expect(existsSync(MARKER)).toBe(false)
  })

  test('an import from outside the folder is refused naming it; the file is never read', async () => {
    const again = await admin('POST', '/discover')
    const failure = again.body.failed.find((f: { path: string }) => f.path.endsWith('/outside'))
    expect(failure.error).toContain('outside-secret.json')
    expectNoSecrets(again.text)
  })

  test('uploaded archives: secrets.json from DATA_DIR, /proc/self/environ and a macro are refused, and no staging is left', async () => {
    const attempts = {
      secrets: `${HEADER}import s from '../../../secrets.json'\nexport default class A extends BasePlugin { override routes = { 'GET /s': () => s } }\n`,
      environ: `${HEADER}import e from '/proc/self/environ'\nexport default class A extends BasePlugin { override routes = { 'GET /s': () => ({ e }) } }\n`,
      macro: `${HEADER}import { mark } from './m.ts' with { type: 'macro' }\nmark()\nexport default class A extends BasePlugin { override routes = { 'GET /s': () => ({}) } }\n`,
    }
    for (const [name, code] of Object.entries(attempts)) {
      const archive = zip({
        'plugin.json': JSON.stringify({ name: `up-${name}`, version: '1.0.0', routes: [route('GET', '/s')] }),
        'src/index.ts': code,
        'src/m.ts': `export function mark() { require('node:fs').writeFileSync(${JSON.stringify(MARKER)}, 'ran') }\n`,
      })
      const form = new FormData()
      form.append('archive', new File([archive], `${name}.zip`))
      const install = () => call('POST', '/api-internal/v1/plugin-admin/plugins/install', { token: adminToken, raw: form })
      let res = await watched(install)
      expect(res.failures).toEqual([])
      if (res.slowestMs >= ANSWER_WITHIN_MS) {
        // Bundling runs on a worker thread, which on this machine's two cores competes with everything else: one
        // slow answer (1.55 s once in a CI run, under 1 s in every rerun) can be the machine's. A server blocked by
        // the bundle is blocked every time, so the refused install (it changes nothing) is watched once more.
        console.log(`install of ${name}: slowest answer ${res.slowestMs.toFixed(0)} ms; watched again`)
        res = await watched(install)
      }
      expectUnharmed(res)
      expect(res.result.status).toBe(400)
      expect(res.result.body.error.message).toMatch(name === 'macro' ? /macro/ : name === 'environ' ? /\/proc\/self\/environ/ : /secrets\.json/)
      expectNoSecrets(res.result.text)
    }
    expect(existsSync(MARKER)).toBe(false)
    expect(readdirSync(join(dataDir, 'plugins')).filter((f) => f.startsWith('.'))).toEqual([])
  })
})

describe('credentials never cross to a plugin', () => {
  beforeAll(async () => {
    expect((await enable('echo')).status).toBe(200)
  })

  const credentialHeaders = {
    cookie: 'enclava_refresh=the-refresh-token; enclava_csrf=the-csrf-token',
    'x-api-key': 'en_not-for-plugins',
    'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
    'x-forwarded-for': '203.0.113.9',
    forwarded: 'for=203.0.113.9',
    'x-csrf-token': 'the-csrf-token',
  }
  const leaked = (headers: [string, string][]) =>
    headers.filter(([n]) => ['authorization', 'cookie', 'x-api-key', 'proxy-authorization', 'x-forwarded-for', 'forwarded', 'x-csrf-token'].includes(n))

  test('jwt route: no Authorization or Cookie; identity says who, as data', async () => {
    const res = await call('GET', '/api-internal/v1/plugins/echo/i', { token: adminToken, headers: credentialHeaders })
    expect(res.status).toBe(200)
    expect(leaked(res.body.headers)).toEqual([])
    expect(res.body.identity).toMatchObject({ source: 'internal', role: 'super_admin' })
    expect(res.body.identity.user_id).toBeString()
    expect(res.text).not.toContain(adminToken)
  })

  test('api_key route: the key reaches the platform, not the plugin', async () => {
    const res = await call('GET', '/api/v1/plugins/echo/k', { key: apiKey, headers: credentialHeaders })
    expect(res.status).toBe(200)
    expect(leaked(res.body.headers)).toEqual([])
    expect(res.body.identity).toMatchObject({ source: 'api', scopes: ['plugins'] })
    expect(res.body.identity.api_key_id).toBeString()
    expect(res.text).not.toContain(apiKey)
  })

  test('public route: cookies and forwarding headers are withheld too', async () => {
    const res = await call('GET', '/api/v1/plugins/echo/h', { headers: { ...credentialHeaders, authorization: 'Bearer whatever' } })
    expect(res.status).toBe(200)
    expect(leaked(res.body.headers)).toEqual([])
    expect(res.body.identity).toEqual({ source: 'public', user_id: null })
  })

  test("a plugin page is sandboxed (opaque origin), cannot set cookies or clear the dashboard's storage", async () => {
    const res = await call('GET', '/api/v1/plugins/echo/page')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-security-policy')).toContain('sandbox')
    expect(res.headers.get('content-security-policy')).not.toContain('allow-same-origin')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('set-cookie')).toBeNull()
    expect(res.headers.get('clear-site-data')).toBeNull()
  })
})

describe('memory, limits and faults stay with their author', () => {
  test('a resizable ArrayBuffer is refused; nothing grows outside the limit, bystanders keep answering', async () => {
    expect((await enable('rab')).status).toBe(200)
    const w = await watched(() => call('GET', '/api/v1/plugins/rab/grow'))
    expectUnharmed(w)
    expect(w.result.status).toBe(500)
    expect(w.result.body.error.code).toBe('plugin_error')
    const ready = await call('GET', '/health/ready')
    expect(ready.body.plugin_sandbox).toMatchObject({ up: true, restarts: 0 })
  })

  test('a manifest cannot grant itself limits: an explicit grant without them is refused, the default grant shows them', async () => {
    const before = await admin('GET', '/greedy')
    expect(before.body.requested_limits).toEqual({ cpu_ms: 5000 })
    const refused = await enable('greedy', {})
    expect(refused.status).toBe(400)
    expect(refused.body.error.message).toContain('limit')
    const granted = await enable('greedy', { limits: { cpu_ms: 5000 } })
    expect(granted.status).toBe(200)
    expect(granted.body.effective_limits).toMatchObject({ cpu_ms: 5000, wall_ms: 20_000 })
    expect(granted.body.granted_permissions.limits).toEqual({ cpu_ms: 5000 })
  })

  test('reload applies a manifest-only change of limits; asking for more than granted disables until granted', async () => {
    expect((await enable('spin')).status).toBe(200)
    expect((await call('GET', '/api/v1/plugins/spin/spin?ms=500')).body.error.code).toBe('plugin_limit_exceeded')
    const file = join(hostileDir, 'spin', 'plugin.json')
    const manifest = JSON.parse(readFileSync(file, 'utf8'))
    writeFileSync(file, JSON.stringify({ ...manifest, limits: { cpu_ms: 900 } }))
    expect((await admin('POST', '/spin/reload')).body.effective_limits.cpu_ms).toBe(900)
    expect((await call('GET', '/api/v1/plugins/spin/spin?ms=500')).status).toBe(200)
    writeFileSync(file, JSON.stringify({ ...manifest, limits: { cpu_ms: 4000 } }))
    const reloaded = await admin('POST', '/spin/reload')
    expect(reloaded.body).toMatchObject({ enabled: false })
    expect(reloaded.body.disabled_reason).toContain('not granted')
    expect((await call('GET', '/api/v1/plugins/spin/spin?ms=10')).status).toBe(404)
  })

  test('a route may run past the server idle timeout up to its own wall limit', async () => {
    const res = await call('GET', '/api/v1/plugins/greedy/wait?ms=11500')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ waited: 11500 })
  }, 30_000)

  test('a crash of the sandbox process costs only its author: bystanders in flight finish, and only the crasher is quarantined', async () => {
    expect((await enable('crasher')).status).toBe(200)
    expect((await enable('slow')).status).toBe(200)
    const w = await watched(async () => {
      const bystanders = Array.from({ length: 3 }, () => call('GET', '/api/v1/plugins/slow/slow'))
      const crashes: number[] = []
      for (let i = 0; i < 3; i++) {
        crashes.push((await call('GET', '/api/v1/plugins/crasher/crash')).status)
        await Bun.sleep(300)
      }
      return { crashes, bystanders: (await Promise.all(bystanders)).map((r) => r.status) }
    })
    expectUnharmed(w)
    expect(w.result.bystanders).toEqual([200, 200, 200])
    expect(w.result.crashes.every((s) => s === 503)).toBe(true)
    // Quarantine is written down: the list, the plugin and its routes agree.
    let crasher = (await admin('GET', '/crasher')).body
    for (let i = 0; i < 50 && crasher.enabled; i++) {
      await Bun.sleep(100)
      crasher = (await admin('GET', '/crasher')).body
    }
    expect(crasher).toMatchObject({ enabled: false, loaded: false })
    expect(crasher.disabled_reason).toContain('quarantined')
    expect((await admin('GET', '/slow')).body).toMatchObject({ enabled: true, loaded: true })
    expect((await admin('GET', '/hello')).body).toMatchObject({ enabled: true, loaded: true })
    // Enable brings it back.
    const back = await enable('crasher')
    expect(back.body).toMatchObject({ enabled: true, loaded: true, disabled_reason: null })
  }, 60_000)
})

describe('nobody can switch a plugin off', () => {
  test('60 concurrent anonymous calls are refused for load (503, Retry-After), never counted against the plugin', async () => {
    for (let round = 0; round < 3; round++) {
      const statuses = await Promise.all(
        Array.from({ length: 60 }, () =>
          fetch(`${server.url}/api/v1/plugins/slow/slow`).then(async (r) => {
            await r.arrayBuffer()
            return { status: r.status, retryAfter: r.headers.get('retry-after') }
          }),
        ),
      )
      expect(statuses.filter((s) => s.status === 200).length).toBeGreaterThan(0)
      for (const s of statuses.filter((s) => s.status !== 200)) expect(s).toEqual({ status: 503, retryAfter: '1' })
    }
    const slow = (await admin('GET', '/slow')).body
    expect(slow).toMatchObject({ enabled: true, loaded: true, disabled_reason: null })
    const stats = (await admin('GET', '/slow/stats')).body
    expect(stats.limit_violations).toBe(0)
  }, 60_000)
})

describe('quotas hold without slowing anyone', () => {
  test('a kv write flood is rate limited; readiness and other plugins keep answering', async () => {
    expect((await enable('kvflood')).status).toBe(200)
    const w = await watched(async () => {
      const codes = new Set<string | null>()
      let written = 0
      const until = Date.now() + 4_000
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          while (Date.now() < until) {
            const res = await call('POST', '/api/v1/plugins/kvflood/flood')
            if (res.status === 200) {
              written += res.body.n
              codes.add(res.body.code)
            }
          }
        }),
      )
      return { codes, written }
    })
    expectUnharmed(w)
    expect(w.result.codes.has('kv_rate_limited')).toBe(true)
    // About 100 writes a second per plugin (and a second's burst): 4 s cannot hold much more than 500.
    expect(w.result.written).toBeLessThan(1_000)
  }, 30_000)

  test('a log flood keeps at most the cap, and takes nobody down', async () => {
    expect((await enable('logflood')).status).toBe(200)
    const w = await watched(async () => {
      for (let i = 0; i < 12; i++) await call('POST', '/api/v1/plugins/logflood/log')
    })
    expectUnharmed(w)
    const logs = await admin('GET', '/logflood/logs?limit=1000')
    // 12 calls tried to write 95 MB; what is kept is within the 2 MB cap (and the 1 MB a minute admitted).
    expect(logs.body.retention.max_bytes).toBe(2 * 1024 * 1024)
    expect(logs.body.retention.stored_bytes).toBeLessThanOrEqual(logs.body.retention.max_bytes)
  }, 60_000)
})

describe('plugin-controlled input is bounded off the server thread', () => {
  test('a backtracking pattern in the settings schema answers a clear 400 while the server keeps answering', async () => {
    const words = Array.from({ length: 20 }, () => `${'a'.repeat(40)}b`)
    const w = await watched(() => admin('PUT', '/redos/config', { values: { words } }))
    expectUnharmed(w)
    expect(w.result.status).toBe(400)
    expect(w.result.body.error.message).toMatch(/pattern|took longer/)
  })

  test('an archive whose entries lie about their size is refused at the cap without stalling the server', async () => {
    const big = new Uint8Array(60 * 1024 * 1024)
    const bomb = declareSizes(zip({ 'plugin.json': JSON.stringify({ name: 'bomb', version: '1.0.0' }), 'src/index.ts': big }), 1000)
    const form = new FormData()
    form.append('archive', new File([bomb], 'bomb.zip'))
    const w = await watched(() => call('POST', '/api-internal/v1/plugin-admin/plugins/install', { token: adminToken, raw: form }))
    expectUnharmed(w)
    expect(w.result.status).toBe(413)
  }, 30_000)

  test('a NUL in an entry name is a 400 and leaves no staging behind', async () => {
    const archive = zip({ 'plugin.json': JSON.stringify({ name: 'nul', version: '1.0.0' }), 'src/in\u0000dex.ts': 'x' })
    const form = new FormData()
    form.append('archive', new File([archive], 'nul.zip'))
    const res = await call('POST', '/api-internal/v1/plugin-admin/plugins/install', { token: adminToken, raw: form })
    expect(res.status).toBe(400)
    expect(readdirSync(join(dataDir, 'plugins')).filter((f) => f.startsWith('.'))).toEqual([])
  })

  test('host-call arguments nested 5,000 deep are refused at once with a clear error', async () => {
    expect((await enable('deep')).status).toBe(200)
    const res = await call('GET', '/api/v1/plugins/deep/deep')
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ code: 'bad_request' })
    expect(res.body.message).toContain('nested')
  })
})

describe('clear answers', () => {
  test('enabling a plugin whose top level loops, or that has no default export, is a 422 naming the cause', async () => {
    const loopy = await enable('loopy')
    expect(loopy.status).toBe(422)
    expect(loopy.body.error).toMatchObject({ code: 'plugin_invalid' })
    expect(loopy.body.error.message).toContain('cpu')
    const nodefault = await enable('nodefault')
    expect(nodefault.status).toBe(422)
    expect(nodefault.body.error.message).toContain('export default')
    expect((await admin('GET', '/loopy')).body).toMatchObject({ enabled: false, loaded: false })
  })
})

describe('shutdown', () => {
  test('SIGTERM while a plugin call hangs: the server exits within SHUTDOWN_TIMEOUT_MS', async () => {
    expect((await enable('hang')).status).toBe(200)
    const hanging = fetch(`${server.url}/api/v1/plugins/hang/hang`).catch(() => null)
    await Bun.sleep(300)
    const started = performance.now()
    server.proc.kill('SIGTERM')
    await server.exited
    const took = performance.now() - started
    await hanging
    // The server was started with the default SHUTDOWN_TIMEOUT_MS of 10 s.
    expect(took).toBeLessThan(10_000 + 1_000)
    expect(existsSync(MARKER)).toBe(false)
  }, 30_000)
})
