/**
 * Measures the sandbox against its targets: cold load < 50 ms, p50 added latency per invocation < 1 ms,
 * < 4 MB RSS per idle plugin. Run: `bun src/plugins/sandbox/measure.ts` (about 30 s; numbers vary with load on
 * the machine, so compare runs made back to back).
 */
import { DEFAULT_LIMITS } from '../../../sandbox/protocol.ts'
import { SandboxClient } from './client.ts'

const SMALL_PLUGIN = `import { BasePlugin } from 'enclava:plugin'
export default class Small extends BasePlugin {
  name = 'small'
  routes = {
    'GET /hi': () => new Response('hi'),
    'GET /calls': async (req, ctx) => ({ a: await ctx.config.get('a'), b: await ctx.kv.get('b'), c: await ctx.kv.set('b', 1) }),
  }
  async execute(ctx) { return { echo: ctx.input } }
}`

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

const fmt = (ms: number) => `${ms.toFixed(3)} ms`

async function withSandbox<T>(fn: (client: SandboxClient) => Promise<T>): Promise<T> {
  const client = new SandboxClient({ onHostCall: async () => null, onLog: () => {} })
  await client.start()
  try {
    return await fn(client)
  } finally {
    await client.stop()
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

const processStart = await timed(() => withSandbox(async () => {}))
console.log(`sandbox process start (spawn to ready, and stop): ${fmt(processStart)}`)

await withSandbox(async (client) => {
  // Cold load: a new isolate, context, runtime bootstrap, module compile and instantiation, per plugin.
  const loads: number[] = []
  for (let i = 0; i < 50; i++) loads.push(await timed(() => client.load(`cold-${i}`, SMALL_PLUGIN, DEFAULT_LIMITS)))
  loads.sort((a, b) => a - b)
  console.log(`cold load (50 plugins): p50 ${fmt(percentile(loads, 0.5))}, p99 ${fmt(percentile(loads, 0.99))}, max ${fmt(loads.at(-1) ?? NaN)}`)
  for (let i = 0; i < 50; i++) await client.unload(`cold-${i}`)

  await client.load('small', SMALL_PLUGIN, DEFAULT_LIMITS)
  const N = 2_000
  for (let i = 0; i < 200; i++) await client.invoke('small', 'execute', { input: i })
  const series = async (label: string, fn: () => Promise<unknown>) => {
    const times: number[] = []
    for (let i = 0; i < N; i++) times.push(await timed(fn))
    times.sort((a, b) => a - b)
    console.log(`${label} (${N} sequential): p50 ${fmt(percentile(times, 0.5))}, p99 ${fmt(percentile(times, 0.99))}`)
  }
  await series('health() round trip (IPC + stats, no plugin code)', () => client.health())
  // A process serving one plugin runs its code on its main thread; with a second plugin loaded, on isolated-vm's
  // thread pool (sandbox/plugin-slot.ts, #enter): the same calls both ways, in this run.
  const request = { method: 'GET', url: 'http://localhost/hi', headers: [] as [string, string][] }
  const calls = { method: 'GET', url: 'http://localhost/calls', headers: [] as [string, string][] }
  for (const where of ['one plugin in the process: main thread', 'two plugins in the process: thread pool']) {
    if (where.startsWith('two')) await client.load('other', SMALL_PLUGIN, DEFAULT_LIMITS)
    await series(`invoke execute round trip (${where})`, () => client.invoke('small', 'execute', { input: { n: 1 } }))
    await series(`invoke route round trip (${where})`, () => client.invoke('small', 'route', { request, path: '/hi' }))
    await series(`invoke route with three host calls (${where})`, () => client.invoke('small', 'route', { request: calls, path: '/calls' }))
  }
})

for (const count of [1, 10, 100]) {
  await withSandbox(async (client) => {
    await Bun.sleep(200)
    const before = (await client.stats()).rss
    for (let i = 0; i < count; i++) {
      await client.load(`idle-${i}`, SMALL_PLUGIN, DEFAULT_LIMITS)
      await client.invoke(`idle-${i}`, 'execute', { input: i })
    }
    await Bun.sleep(500)
    const stats = await client.stats()
    const perPlugin = (stats.rss - before) / count / 1024 / 1024
    const heap = stats.plugins.reduce((sum, p) => sum + (p.heapUsed ?? 0), 0) / count / 1024 / 1024
    console.log(
      `${String(count).padStart(3)} idle plugins: sandbox RSS ${(stats.rss / 1024 / 1024).toFixed(1)} MB ` +
        `(empty ${(before / 1024 / 1024).toFixed(1)} MB), ${perPlugin.toFixed(2)} MB RSS per plugin, ${heap.toFixed(2)} MB isolate heap per plugin`,
    )
  })
}
