/**
 * Memory footprint of the server: idle RSS on embedded defaults (right after a first start, and after a restart
 * on the same DATA_DIR) and on PostgreSQL, growth over a long run through the gateway, and what holds the memory.
 *
 *   bun bench/footprint.ts                    # ~4 min: idle figures, then 120 s at 500 req/s
 *   BENCH_GROWTH_S=600 bun bench/footprint.ts # the issue's 10-minute run
 *
 * Environment: BENCH_GROWTH_S [120] (0: no run), BENCH_GROWTH_RATE [500], BENCH_IDLE_S [10] (settling time before an
 * idle reading), BENCH_DATABASE_URL [postgres://postgres@127.0.0.1:5432/test] (a fresh schema is made and dropped;
 * "none" skips PostgreSQL), BENCH_SERVER_ROOT (another checkout's server, for before/after comparisons).
 *
 * What holds the memory is measured, not guessed: the server preloads bench/lib/server-probe.ts (JS heap and its
 * objects by type); the embedded database's share is the difference between the two backends' idle RSS (the same
 * server otherwise); the tokenizer's tables and the bare runtime are measured in processes of their own; the plugin
 * sandbox is a process of its own, measured with the shipped `hello` plugin enabled.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { openLoop } from './lib/load.ts'
import { readProbe } from './lib/probe.ts'
import { codeVersion, ROOT, spawnServer, spawnUpstream, type Child } from './lib/procs.ts'
import { fmt, table } from './lib/stats.ts'
import { api } from './lib/api.ts'

const GROWTH_S = Number(process.env.BENCH_GROWTH_S ?? 120)
const GROWTH_RATE = Number(process.env.BENCH_GROWTH_RATE ?? 500)
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 10)
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const ADMIN_PASSWORD = 'bench-admin-password-0123'
const MB = 2 ** 20

const log = (msg: string) => console.error(`[footprint ${new Date().toISOString().slice(11, 19)}] ${msg}`)
const mb = (bytes: number) => fmt(bytes / MB, 0)

interface Status {
  rss: number
  anon: number
  file: number
  hwm: number
}

/** VmRSS, RssAnon, RssFile and the high-water mark of a process (bytes). */
async function status(pid: number): Promise<Status> {
  const text = await Bun.file(`/proc/${pid}/status`).text()
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), hwm: kb('VmHWM') }
}

/** The resident size of the server's child processes (the plugin sandbox), bytes. */
async function childrenRss(pid: number): Promise<{ pid: number; name: string; rss: number }[]> {
  const out: { pid: number; name: string; rss: number }[] = []
  const children = await Bun.file(`/proc/${pid}/task/${pid}/children`).text().catch(() => '')
  for (const child of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
    const cmd = (await Bun.file(`/proc/${child}/cmdline`).text().catch(() => '')).split('\0').slice(0, 3).join(' ')
    out.push({ pid: child, name: cmd.slice(0, 60), rss: (await status(child).catch(() => ({ rss: NaN }))).rss })
  }
  return out
}

/** Waits `seconds`, then reads the server's status and the probe's last line (JS heap, object types). */
async function idleReading(server: Child, probeFile: string, seconds: number) {
  await Bun.sleep(seconds * 1000)
  const s = await status(server.proc.pid)
  const last = readProbe(probeFile).at(-1)
  return { status: s, heapUsed: last?.mem.heapUsed ?? NaN, heap: last?.heap, types: last?.types }
}

/** RSS of a bare Bun process, and of one that warmed the tokenizer (its tables alone). */
async function isolated(): Promise<{ bare: number; tokenizer: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'enclava-footprint-'))
  try {
    const script = (body: string) => {
      const path = join(dir, `s${Math.random().toString(36).slice(2)}.ts`)
      writeFileSync(path, `${body}\nBun.gc(true)\nawait Bun.sleep(300)\nconsole.log(process.memoryUsage.rss())\n`)
      return path
    }
    const run = async (path: string) => {
      const p = Bun.spawn(['bun', path], { cwd: ROOT, stdout: 'pipe', stderr: 'inherit' })
      return Number((await new Response(p.stdout).text()).trim())
    }
    const bare = await run(script(''))
    const loaded = await run(script(`await import(${JSON.stringify(join(ROOT, 'src/gateway/token-count.ts'))})`))
    const warmed = await run(script(`const m = await import(${JSON.stringify(join(ROOT, 'src/gateway/token-count.ts'))}); m.countTokens('warm up')`))
    return { bare, tokenizer: warmed - loaded }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

interface Backend {
  name: string
  firstStart?: { atReady: Status; idle: Awaited<ReturnType<typeof idleReading>> }
  restart: { atReady: Status; idle: Awaited<ReturnType<typeof idleReading>> }
  sandbox?: { rss: number; serverRss: number }
  growth?: { samples: { t: number; rss: number; heap: number }[]; requests: number; errors: number; rate: number }
}

async function measureBackend(name: 'embedded' | 'postgres', upstreamUrl: string): Promise<Backend> {
  const dataDir = mkdtempSync(join(tmpdir(), 'enclava-footprint-'))
  const probeFile = join(dataDir, 'probe.jsonl')
  let admin: postgres.Sql | undefined
  const schema = `bench_footprint_${Date.now()}`
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    ADMIN_PASSWORD,
    PRIVATEMODE_URL: upstreamUrl,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PUBLIC_PER_MINUTE: '100000000',
    BENCH_PROBE_HEAP: '1',
    BENCH_PROBE_INTERVAL_MS: '5000',
  }
  if (name === 'postgres') {
    admin = postgres(PG_URL, { max: 1, onnotice: () => {} })
    await admin.unsafe(`CREATE SCHEMA ${schema}`)
    const u = new URL(PG_URL)
    u.searchParams.set('search_path', schema)
    env.DATABASE_URL = u.toString()
  }
  const start = () => spawnServer({ env, logPath: join(dataDir, 'server.log'), probeFile, root: process.env.BENCH_SERVER_ROOT || undefined })
  const out: Backend = { name, restart: undefined as unknown as Backend['restart'] }
  try {
    log(`${name}: first start`)
    let server = await start()
    const firstAtReady = await status(server.proc.pid)
    const firstIdle = await idleReading(server, probeFile, IDLE_S)
    out.firstStart = { atReady: firstAtReady, idle: firstIdle }
    await server.stop()
    log(`${name}: restart on the same data`)
    server = await start()
    try {
      const atReady = await status(server.proc.pid)
      out.restart = { atReady, idle: await idleReading(server, probeFile, IDLE_S) }

      // The plugin sandbox (a Node process of its own): the shipped hello plugin, enabled and called once.
      const { access_token } = await api<{ access_token: string }>(server.url, 'POST', '/api-internal/v1/auth/login', {
        email: 'admin@enclava.local',
        password: ADMIN_PASSWORD,
      })
      const enabled = await fetch(`${server.url}/api-internal/v1/plugin-admin/plugins/hello/enable`, {
        method: 'POST',
        headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
        body: '{}',
      })
      if (enabled.ok) {
        // the first call starts the sandbox
        await fetch(`${server.url}/api/v1/plugins/hello/hello`).then((r) => r.arrayBuffer())
        await Bun.sleep(2000)
        const kids = await childrenRss(server.proc.pid)
        out.sandbox = { rss: kids.reduce((a, k) => a + k.rss, 0), serverRss: (await status(server.proc.pid)).rss }
      } else log(`${name}: hello plugin not enabled (${enabled.status}): sandbox not measured`)

      if (GROWTH_S > 0) {
        log(`${name}: ${GROWTH_S} s at ${GROWTH_RATE} req/s through the gateway`)
        const key = await api<{ id: string; key: string }>(server.url, 'POST', '/api-internal/v1/api-keys', { name: 'footprint' }, access_token)
        await api(server.url, 'POST', '/api-internal/v1/budgets', { name: 'fp', scope: 'api_key', api_key_id: key.id, limit_usd: 1_000_000, period: 'monthly' }, access_token)
        const target = {
          url: `${server.url}/api/v1/chat/completions`,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key.key}` },
          body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'Say hello in a handful of words.' }], max_tokens: 32 }),
          stream: false,
        }
        const t0 = Date.now()
        const r = await openLoop(target, { rate: GROWTH_RATE, durationS: GROWTH_S, maxInFlight: 2000, timeoutMs: 30_000 })
        const samples = readProbe(probeFile)
          .filter((l) => l.t >= t0)
          .map((l) => ({ t: (l.t - t0) / 1000, rss: l.mem.rss, heap: l.mem.heapUsed }))
        out.growth = { samples, requests: r.ok, errors: r.sent - r.ok, rate: r.ok / Math.max(1e-9, r.wallS) }
      }
    } finally {
      await server.stop()
    }
    return out
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
    if (admin) {
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`).catch(() => {})
      await admin.end({ timeout: 5 })
    }
  }
}

/** Least-squares slope of RSS over time, MB per minute, over the second half of the run (after warm-up). */
function slope(samples: { t: number; rss: number }[]): number {
  const half = samples.slice(Math.floor(samples.length / 2))
  if (half.length < 3) return Number.NaN
  const n = half.length
  const mt = half.reduce((a, s) => a + s.t, 0) / n
  const mr = half.reduce((a, s) => a + s.rss, 0) / n
  const num = half.reduce((a, s) => a + (s.t - mt) * (s.rss - mr), 0)
  const den = half.reduce((a, s) => a + (s.t - mt) ** 2, 0)
  return ((num / den) * 60) / MB
}

const started = performance.now()
const loadBefore = loadavg().map((l) => l.toFixed(2)).join(' ')
const upstream = await spawnUpstream({ delayMs: 0, chunkDelayMs: 0 })
const results: Backend[] = []
try {
  const iso = await isolated()
  results.push(await measureBackend('embedded', upstream.url))
  if (PG_URL !== 'none') {
    try {
      results.push(await measureBackend('postgres', upstream.url))
    } catch (err) {
      log(`postgres not measured: ${(err as Error).message}`)
    }
  }

  const out: string[] = []
  out.push('', `Enclava footprint  ${new Date().toISOString()}  (server code ${codeVersion(ROOT) ?? '?'})`)
  out.push(`loadavg before ${loadBefore} / after ${loadavg().map((l) => l.toFixed(2)).join(' ')}, run ${fmt((performance.now() - started) / 1000, 0)} s; MB = MiB of resident memory (VmRSS)`)
  const rows = [['backend', 'first start: at ready / idle', 'peak (HWM)', 'restart: at ready / idle', 'anon / file', 'JS heap used']]
  for (const r of results)
    rows.push([
      r.name,
      r.firstStart ? `${mb(r.firstStart.atReady.rss)} / ${mb(r.firstStart.idle.status.rss)}` : '—',
      r.firstStart ? mb(r.firstStart.idle.status.hwm) : '—',
      `${mb(r.restart.atReady.rss)} / ${mb(r.restart.idle.status.rss)}`,
      `${mb(r.restart.idle.status.anon)} / ${mb(r.restart.idle.status.file)}`,
      mb(r.restart.idle.heapUsed),
    ])
  out.push('', `Idle RSS (after ${IDLE_S} s of quiet):`, table(rows))

  const emb = results.find((r) => r.name === 'embedded')
  const pg = results.find((r) => r.name === 'postgres')
  out.push('', 'What holds the memory (idle, after a restart):')
  out.push(`  Bun runtime alone (an empty script): ${mb(iso.bare)} MB`)
  out.push(`  tokenizer tables (o200k ranks, measured alone): ${mb(iso.tokenizer)} MB`)
  for (const r of results) {
    const h = r.restart.idle.heap
    out.push(
      `  ${r.name}: JS heap ${mb(r.restart.idle.heapUsed)} MB` +
        (h ? ` (${fmt(h.objects / 1000, 0)}k objects; by type: ${Object.entries(r.restart.idle.types ?? {}).slice(0, 6).map(([k, v]) => `${k} ${fmt(v / 1000, 0)}k`).join(', ')})` : ''),
    )
  }
  if (emb && pg)
    out.push(
      `  embedded database (PGlite on its worker thread: WebAssembly memory and code, its JS): ${mb(emb.restart.idle.status.rss - pg.restart.idle.status.rss)} MB ` +
        `(embedded idle − PostgreSQL idle)`,
    )
  for (const r of results)
    if (r.sandbox) out.push(`  plugin sandbox (${r.name}; Node process of its own, hello plugin enabled): ${mb(r.sandbox.rss)} MB, not in the server's RSS`)

  for (const r of results) {
    if (!r.growth || r.growth.samples.length < 2) continue
    const s = r.growth.samples
    const first = s[Math.min(2, s.length - 1)] as { rss: number }
    const last = s.at(-1) as { rss: number; heap: number }
    const max = s.reduce((m, x) => Math.max(m, x.rss), 0)
    out.push(
      '',
      `Growth, ${r.name}: ${GROWTH_S} s at ${fmt(r.growth.rate, 0)} req/s (${r.growth.requests} answered, ${r.growth.errors} errors): RSS ${mb(first.rss)} MB at 10 s -> ${mb(last.rss)} MB at the end ` +
        `(max ${mb(max)}); trend over the second half ${fmt(slope(s), 2)} MB/min; JS heap at the end ${mb(last.heap)} MB`,
    )
  }

  out.push('', 'Targets (issue 20), beside the figures:')
  if (emb) {
    const idle = emb.restart.idle.status.rss
    out.push(`  idle RSS on embedded defaults <= 200 MB: ${mb(idle)} MB after a restart, ${emb.firstStart ? mb(emb.firstStart.idle.status.rss) : '—'} MB after the first start -> ${idle <= 200 * MB ? 'PASS' : 'FAIL'}`)
  }
  if (pg) {
    const idle = pg.restart.idle.status.rss
    out.push(`  idle RSS on PostgreSQL <= 100 MB: ${mb(idle)} MB -> ${idle <= 100 * MB ? 'PASS' : 'FAIL'}`)
  }
  for (const r of results)
    if (r.growth && r.growth.samples.length > 4) {
      const trend = slope(r.growth.samples)
      // Growth is what the target forbids: memory handed back over the run (a falling trend) is not a leak.
      out.push(`  no growth over the run (${r.name}, ${GROWTH_S} s): trend ${fmt(trend, 2)} MB/min over the second half -> ${trend < 1 ? 'PASS' : 'FAIL'} (trend < +1 MB/min)`)
    }
  console.log(out.join('\n'))
} finally {
  await upstream.stop()
}
