/**
 * What every dashboard test needs: web/dist built, a real server process (`bun src/index.ts`) on the embedded
 * defaults (or DATABASE_URL/REDIS_URL) with a local OpenAI-compatible upstream, headless Chromium, and a signed-in
 * page. The server runs in its own process, as in production: with the server in the test process, Bun stalled
 * requests now and then while playwright-core waited on the same event loop (measured: about one run in three of
 * the dashboard test hung; none in 18 runs, six of them under two CPU burners, with the server apart).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import type { Browser, BrowserContext, ConsoleMessage, Page } from 'playwright-core'
import { collectErrors, launchChromium, type PageErrors } from './browser.ts'
import { startUpstream, type Upstream } from './fixtures/upstream.ts'
import { schemaName } from './harness.ts'
import { ROOT, startServer, storeEnv, type Server } from './server-process.ts'

const WEB = join(ROOT, 'web')
export const ARTIFACTS = join(ROOT, 'test-artifacts')
export const ADMIN_EMAIL = 'admin@enclava.local'
export const ADMIN_PASSWORD = 'dashboard-admin-password'

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : [join(dir, e.name)]))
    .sort()
}

/**
 * The dashboard built from the current sources, in a directory named by their hash: test files (and people
 * editing web/src while tests run) never serve each other's half-written build. Built once per source state.
 */
export function ensureBuilt(): string {
  const hash = new Bun.CryptoHasher('sha256')
  for (const file of [join(WEB, 'index.html'), join(WEB, 'vite.config.ts'), join(ROOT, 'bun.lock'), ...sourceFiles(join(WEB, 'src'))]) {
    hash.update(file)
    hash.update(readFileSync(file))
  }
  const dist = join(tmpdir(), `enclava-web-${hash.digest('hex').slice(0, 16)}`)
  if (existsSync(join(dist, 'index.html'))) return dist
  const partial = `${dist}.${process.pid}`
  const build = Bun.spawnSync(['bunx', 'vite', 'build', '--config', 'web/vite.config.ts', '--outDir', partial, '--emptyOutDir'], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production' },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  if (build.exitCode !== 0) throw new Error(`vite build failed:\n${build.stdout.toString()}\n${build.stderr.toString()}`)
  try {
    renameSync(partial, dist)
  } catch {
    // Another test file finished the same build first; theirs is identical.
    rmSync(partial, { recursive: true, force: true })
  }
  return dist
}

/**
 * Gzip sizes of a build's JS and CSS: all of it, and the files index.html names (what the first load fetches; each
 * section's chunk loads on its first visit).
 */
export function bundleSizes(dist: string): { raw: number; gzip: number; initialGzip: number; largestLazy: { name: string; gzip: number } } {
  const html = readFileSync(join(dist, 'index.html'), 'utf8')
  const sizes = { raw: 0, gzip: 0, initialGzip: 0, largestLazy: { name: '', gzip: 0 } }
  for (const name of readdirSync(join(dist, 'assets'))) {
    if (!/\.(js|css)$/.test(name)) continue
    const bytes = readFileSync(join(dist, 'assets', name))
    const gz = Bun.gzipSync(bytes).length
    sizes.raw += bytes.length
    sizes.gzip += gz
    if (html.includes(`/assets/${name}`)) sizes.initialGzip += gz
    else if (gz > sizes.largestLazy.gzip) sizes.largestLazy = { name, gzip: gz }
  }
  return sizes
}

export interface Reply {
  status: number
  body: any
}

export interface Dashboard {
  base: string
  /** The built dashboard this server serves. */
  dist: string
  browser: Browser
  upstream: Upstream
  server: Server
  /** A JSON call to the server, as `token`'s user (or none). */
  call(method: string, path: string, opts?: { token?: string; body?: unknown }): Promise<Reply>
  adminToken(): Promise<string>
  /** A user created through the admin API (no forced password change unless asked). */
  user(opts?: { role?: string; forcePasswordChange?: boolean }): Promise<{ email: string; username: string; password: string }>
  /** A page in a fresh context whose console errors are collected; `expected` names deliberate ones. */
  page(opts?: { width?: number; height?: number; expected?: (m: ConsoleMessage) => boolean }): Promise<{ page: Page; context: BrowserContext; errors: PageErrors }>
  /** Signs `page` in through the sign-in form and waits for the overview. */
  signIn(page: Page, email?: string, password?: string): Promise<void>
  screenshot(page: Page, name: string): Promise<void>
  close(): Promise<void>
}

/**
 * When a step fails (no Chromium, say), stops what it had started before rethrowing. The test file registers
 * `afterAll(killLeftovers)` (server-process.ts) all the same: a beforeAll that timed out leaves this call running.
 */
export async function startDashboard(env: Record<string, string> = {}): Promise<Dashboard> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const dist = ensureBuilt()
  const schema = schemaName('dash')
  const upstream = await startUpstream({ models: ['mock-chat', 'mock-embed'], streamChunkDelayMs: 5 })
  let server: Server | undefined
  let browser: Browser
  try {
    server = await startServer({
      DATA_DIR: mkdtempSync(join(tmpdir(), 'enclava-dash-')),
      ADMIN_PASSWORD,
      PRIVATEMODE_URL: upstream.url,
      RATE_LIMIT_INTERNAL_PER_MINUTE: '5000',
      PLUGINS_DIRS: '',
      WEB_DIST_DIR: dist,
      ...(await storeEnv(schema)),
      ...env,
    })
    browser = await launchChromium()
  } catch (err) {
    // The step's own error is the one worth reading.
    await stopStack(server, upstream, schema).catch(() => {})
    throw err
  }
  const base = server.url
  const contexts: BrowserContext[] = []
  let admin: string | undefined
  let counter = 0

  async function call(method: string, path: string, opts: { token?: string; body?: unknown } = {}): Promise<Reply> {
    const headers: Record<string, string> = {}
    if (opts.token) headers.authorization = `Bearer ${opts.token}`
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(`${base}${path}`, { method, headers, body: opts.body === undefined ? null : JSON.stringify(opts.body) })
    const text = await res.text()
    let body: any = text
    try {
      body = text ? JSON.parse(text) : null
    } catch {}
    return { status: res.status, body }
  }

  const dashboard: Dashboard = {
    base,
    dist,
    browser,
    upstream,
    server,
    call,
    async adminToken() {
      if (admin) return admin
      const res = await call('POST', '/api-internal/v1/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })
      if (res.status !== 200) throw new Error(`admin login failed: ${res.status} ${JSON.stringify(res.body)}`)
      admin = res.body.access_token as string
      return admin
    },
    async user(opts = {}) {
      const username = `dash${++counter}${Date.now().toString(36)}`
      const user = { email: `${username}@test.local`, username, password: `pw-${username}-secret` }
      const res = await call('POST', '/api-internal/v1/users', {
        token: await dashboard.adminToken(),
        body: { ...user, role: opts.role ?? 'user', force_password_change: opts.forcePasswordChange ?? false },
      })
      if (res.status !== 201) throw new Error(`create user failed: ${res.status} ${JSON.stringify(res.body)}`)
      return user
    },
    async page(opts = {}) {
      const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 860 } })
      contexts.push(context)
      const page = await context.newPage()
      page.setDefaultTimeout(15_000)
      return { page, context, errors: collectErrors(page, opts.expected) }
    },
    async signIn(page, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
      await page.goto(`${base}/sign-in`)
      await page.getByLabel('Email').fill(email)
      await page.getByLabel('Password').fill(password)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByTestId('me').waitFor()
    },
    async screenshot(page, name) {
      await page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true })
    },
    async close() {
      try {
        for (const c of contexts) await c.close().catch(() => {})
        await browser.close()
      } finally {
        await stopStack(server, upstream, schema)
      }
    },
  }
  return dashboard
}

/** Stops the server (gracefully) and the upstream, and drops the schema. */
async function stopStack(server: Server | undefined, upstream: Upstream, schema: string): Promise<void> {
  if (server) {
    server.proc.kill('SIGTERM')
    await server.exited
  }
  await upstream.stop()
  if (process.env.DATABASE_URL) {
    const sql = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} })
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await sql.end()
  }
}
