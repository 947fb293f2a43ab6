/**
 * Plugin runtime costs, measured through the real platform (embedded defaults) in one run:
 * - added latency of a plugin route against the same handler as a native Elysia route of the same app
 *   (sequential requests, interleaved, over HTTP);
 * - cold start: from the enable call to the first answered request;
 * - sandbox memory with 1, 10 and 100 idle plugins loaded;
 * - throughput with 10 plugins under concurrent load, against the native route.
 *
 *   bun bench/plugins.ts            BENCH_REQUESTS (default 2000), BENCH_SECONDS (default 5), BENCH_CONCURRENCY (32)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../src/app.ts'
import { parseConfig, type Config } from '../src/config.ts'
import { createLogger } from '../src/log.ts'
import { openPlatform } from '../src/platform.ts'
import { summarize } from './lib/stats.ts'

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32)

const root = mkdtempSync(join(tmpdir(), 'enclava-bench-plugins-'))
const pluginsDir = join(root, 'plugins')
const handlerSource = `() => Response.json({ hello: 'world' })`
for (let i = 0; i < 100; i++) {
  const name = `bench-${i}`
  mkdirSync(join(pluginsDir, name, 'src'), { recursive: true })
  writeFileSync(join(pluginsDir, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', routes: [{ method: 'GET', path: '/hello', auth: 'public' }] }))
  writeFileSync(
    join(pluginsDir, name, 'src/index.ts'),
    `import { BasePlugin } from 'enclava:plugin'\nexport default class B extends BasePlugin { override routes = { 'GET /hello': ${handlerSource} } }\n`,
  )
}

const config = {
  ...parseConfig({ DATA_DIR: join(root, 'data'), LOG_LEVEL: 'error', ADMIN_PASSWORD: 'bench-admin-password', PLUGINS_DIRS: pluginsDir, PLUGIN_RATE_LIMIT_PER_MINUTE: '100000000' }),
  JWT_SECRET: 'x'.repeat(48),
  ENCRYPTION_KEY: 'ab'.repeat(32),
} as Config
const platform = await openPlatform(config, createLogger('error'))
const s = platform.services
const adminId = (await s.users.byEmail(config.ADMIN_EMAIL))!.id
const server = createApp(s)
  // The same handler as the plugin's, as a native route of the same app (same middleware in front of it).
  .get('/bench/native', () => Response.json({ hello: 'world' }))
  .listen({ port: 0, hostname: '127.0.0.1' })
const base = `http://127.0.0.1:${server.server!.port}`
const pluginUrl = (i: number) => `${base}/api/v1/plugins/bench-${i}/hello`
const nativeUrl = `${base}/bench/native`

async function get(url: string): Promise<void> {
  const res = await fetch(url)
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`)
  await res.arrayBuffer()
}

try {
  const enable = (i: number) => s.plugins.enable(`bench-${i}`, {}, adminId)

  // Cold start: the first plugin also starts the sandbox process; the next ones only add an isolate.
  let t0 = performance.now()
  await enable(0)
  await get(pluginUrl(0))
  const firstCold = performance.now() - t0
  const rssOf = async () => {
    await Bun.sleep(500)
    return (await s.plugins.sandboxRss()) / 1024 / 1024
  }
  const rss1 = await rssOf()
  const colds: number[] = []
  for (let i = 1; i < 10; i++) {
    t0 = performance.now()
    await enable(i)
    await get(pluginUrl(i))
    colds.push(performance.now() - t0)
  }
  const rss10 = await rssOf()
  const cold = summarize(colds)
  console.log(`cold start (enable -> first response): first plugin incl. sandbox start ${firstCold.toFixed(1)} ms; next 9: p50 ${cold.p50.toFixed(1)} ms  max ${cold.max.toFixed(1)} ms`)

  // Added latency, sequential and interleaved so both see the same machine.
  for (let i = 0; i < 200; i++) await Promise.all([get(pluginUrl(0)), get(nativeUrl)])
  const plugin: number[] = []
  const native: number[] = []
  for (let i = 0; i < REQUESTS; i++) {
    t0 = performance.now()
    await get(pluginUrl(0))
    plugin.push(performance.now() - t0)
    t0 = performance.now()
    await get(nativeUrl)
    native.push(performance.now() - t0)
  }
  const p = summarize(plugin)
  const n = summarize(native)
  console.log(`latency over ${REQUESTS} sequential requests each: native p50 ${n.p50.toFixed(3)} ms p99 ${n.p99.toFixed(3)} ms; plugin p50 ${p.p50.toFixed(3)} ms p99 ${p.p99.toFixed(3)} ms`)
  console.log(`added by the plugin runtime: p50 ${(p.p50 - n.p50).toFixed(3)} ms  p99 ${(p.p99 - n.p99).toFixed(3)} ms`)

  // Throughput with 10 plugins, round-robin, against the native route.
  // A plugin refuses more than its maxConcurrent (8) invocations at once with a 503: counted, not hidden.
  async function load(url: (k: number) => string): Promise<{ rps: number; refused: number }> {
    let done = 0
    let refused = 0
    const end = performance.now() + SECONDS * 1000
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, w) => {
        for (let k = w; performance.now() < end; k += CONCURRENCY) {
          const res = await fetch(url(k))
          await res.arrayBuffer()
          if (res.status === 200) done++
          else if (res.status === 503) refused++
          else throw new Error(`${url(k)}: ${res.status}`)
        }
      }),
    )
    return { rps: done / SECONDS, refused }
  }
  const nativeLoad = await load(() => nativeUrl)
  const pluginLoad = await load((k) => pluginUrl(k % 10))
  console.log(
    `throughput, ${CONCURRENCY} concurrent clients, ${SECONDS} s: native ${nativeLoad.rps.toFixed(0)} req/s; 10 plugins ` +
      `${pluginLoad.rps.toFixed(0)} req/s (ratio ${(pluginLoad.rps / nativeLoad.rps).toFixed(2)}; ${pluginLoad.refused} refused at a plugin's concurrency limit)`,
  )

  // Memory: the sandbox's resident size with 1, 10 (measured above) and 100 idle plugins loaded.
  for (let i = 10; i < 100; i++) await enable(i)
  const rss100 = await rssOf()
  console.log(
    `sandbox RSS: 1 plugin ${rss1.toFixed(1)} MB, 10 plugins ${rss10.toFixed(1)} MB, 100 plugins ${rss100.toFixed(1)} MB; ` +
      `per idle plugin (10 -> 100) ${((rss100 - rss10) / 90).toFixed(2)} MB`,
  )
} finally {
  await server.stop(true)
  await platform.close()
  rmSync(root, { recursive: true, force: true })
}
