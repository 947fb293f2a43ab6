/**
 * The dashboard in Chromium against the real platform (embedded defaults): bundle size, and how long the Overview
 * takes until it is interactive — from navigation start until the signed-in user's details are rendered (the page
 * has restored its session through the refresh cookie and called the API by then). Cold = a fresh browser context
 * (empty cache) that signed in through the API; warm = the same context loading again.
 *
 *   bun bench/dashboard.ts           BENCH_LOADS (default 10)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../src/app.ts'
import { parseConfig, type Config } from '../src/config.ts'
import { createLogger } from '../src/log.ts'
import { openPlatform } from '../src/platform.ts'
import { launchChromium } from '../test/browser.ts'
import { summarize } from './lib/stats.ts'

const LOADS = Number(process.env.BENCH_LOADS ?? 10)
const ROOT = join(import.meta.dir, '..')

const build = Bun.spawnSync(['bunx', 'vite', 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], {
  cwd: ROOT,
  env: { ...process.env, NODE_ENV: 'production' },
})
if (build.exitCode !== 0) throw new Error(`vite build failed: ${build.stderr.toString()}`)
let raw = 0
let gzip = 0
for (const name of readdirSync(join(ROOT, 'web/dist/assets'))) {
  if (!/\.(js|css)$/.test(name)) continue
  const bytes = readFileSync(join(ROOT, 'web/dist/assets', name))
  raw += bytes.length
  gzip += Bun.gzipSync(bytes).length
}
console.log(`bundle (JS+CSS): ${(raw / 1024).toFixed(1)} KB raw, ${(gzip / 1024).toFixed(1)} KB gzip`)

const dataDir = mkdtempSync(join(tmpdir(), 'enclava-bench-dash-'))
const password = 'bench-admin-password'
const config = {
  ...parseConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'error', ADMIN_PASSWORD: password, PLUGINS_DIRS: '' }),
  JWT_SECRET: 'x'.repeat(48),
  ENCRYPTION_KEY: 'ab'.repeat(32),
} as Config
const platform = await openPlatform(config, createLogger('error'))
const server = createApp(platform.services).listen({ port: 0, hostname: '127.0.0.1' })
const base = `http://127.0.0.1:${server.server!.port}`
const browser = await launchChromium()

/** Milliseconds from navigation start until the Overview shows the user. */
async function load(page: import('playwright-core').Page): Promise<number> {
  await page.goto(`${base}/`)
  await page.getByTestId('me').waitFor()
  return page.evaluate<number>('performance.now()')
}

try {
  const cold: number[] = []
  const warm: number[] = []
  for (let i = 0; i < LOADS; i++) {
    const context = await browser.newContext()
    const res = await context.request.post(`${base}/api-internal/v1/auth/login`, { data: { email: config.ADMIN_EMAIL, password, cookie: true } })
    if (res.status() !== 200) throw new Error(`login failed: ${res.status()}`)
    const page = await context.newPage()
    cold.push(await load(page))
    warm.push(await load(page))
    await context.close()
  }
  const c = summarize(cold)
  const w = summarize(warm)
  console.log(`Overview interactive (navigation start -> user shown), ${LOADS} loads: cold p50 ${c.p50.toFixed(0)} ms, max ${c.max.toFixed(0)} ms; warm p50 ${w.p50.toFixed(0)} ms, max ${w.max.toFixed(0)} ms`)
} finally {
  await browser.close()
  await server.stop(true)
  await platform.close()
  rmSync(dataDir, { recursive: true, force: true })
}
