/**
 * Gateway overhead benchmark: the same OpenAI chat request sent to the mock upstream directly and through Enclava
 * (the real server process, embedded PGlite + memory cache, access logs on), in one run, so the ratios are
 * comparable even on a shared machine.
 *
 *   bun bench/gateway.ts [--profile] [--delay-ms=N]
 *
 * Phases, non-streaming and streaming, each against the upstream directly, through a bare Bun forwarder
 * (bench/lib/null-proxy.ts: the cost of the extra hop alone) and through Enclava:
 *   1. open loop at fixed rates (in-process generator, latency from the moment fetch() is called);
 *   2. closed loop at saturation (wrk with N connections when installed, else an in-process fallback);
 *   3. a long run through the gateway alone at 1,000 req/s (BENCH_STALL_S, 60 s), for the main thread's stalls.
 * Phases 1 and 2 interleave the three targets in short slices (BENCH_ROUNDS rounds), so a burst of load from the
 * rest of a shared machine falls on all three alike instead of on whichever ran then. After each gateway phase the
 * bench waits until every budget reservation is settled (the usage ledger writes off the response path), so one
 * phase's backlog does not bleed into the next. The server runs with bench/lib/server-probe.ts preloaded: its
 * event-loop delay (the longest main-thread stall) and memory are read per phase. CPU per request (all threads of
 * the server, of the forwarder) is the cost figure that load on the rest of the machine disturbs least.
 *
 * Environment (defaults in brackets):
 *   BENCH_RATES [100,500,1000,2000]   BENCH_DURATION_S [4]   BENCH_MODES [json,stream]
 *   BENCH_SAT_CONNECTIONS [64]    BENCH_SAT_S [8]         BENCH_WRK_THREADS [1]
 *   BENCH_UPSTREAM_DELAY_MS [0]   (or --delay-ms=N)       BENCH_MAX_INFLIGHT [2000]
 *   BENCH_PROFILE_INTERVAL_US [1000]  BENCH_ROUNDS [3]  BENCH_STALL_S [60] (0: no long run)
 *   BENCH_WARMUP_S [10]           gateway warm-up per mode at 500 req/s: JSC compiles for the first ~20 s of load
 *                                 (its JIT threads took 46 µs per request then, nothing after), so a short warm-up
 *                                 measures the compiler, not the server
 * Variations for finding where the time goes (defaults = what production runs):
 *   BENCH_BUDGET [1]              0: no budget on the key (no reservation/settlement SQL beyond the empty lookup)
 *   BENCH_SERVER_LOG_LEVEL [info] e.g. warn: no access log lines
 *   BENCH_DATABASE_URL            run the server on this PostgreSQL instead of embedded PGlite
 *   BENCH_SERVER_ROOT             run src/index.ts of another checkout (e.g. `git archive <rev> | tar -x -C dir`
 *                                 plus a node_modules symlink) to compare commits under the same load
 * --profile runs the server under `bun --cpu-prof`, writes bench/out/gateway-<stamp>.cpuprofile and prints its
 * summary (the numbers of a profiled run carry the profiler's overhead).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { cpuBetween, cpuSnapshot, processCpuMs, threadSnapshot, threadsBetween } from './lib/cpu.ts'
import { closedLoop, mergeResults, once, openLoop, type LoadResult, type Target } from './lib/load.ts'
import { probeBetween, type LoopSummary } from './lib/probe.ts'
import { codeVersion, ROOT, spawnNullProxy, spawnServer, spawnUpstream, tail, type Child } from './lib/procs.ts'
import { renderSummary, summarizeProfile } from './lib/profile-summary.ts'
import { fmt, summarize, table, type Summary } from './lib/stats.ts'
import { runWrk, wrkPath } from './lib/wrk.ts'
import { api } from './lib/api.ts'

// ---------------------------------------------------------------------------
// configuration

const argv = Bun.argv.slice(2)
const flag = (name: string): string | undefined => {
  const a = argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`))
  return a === undefined ? undefined : a.includes('=') ? a.slice(a.indexOf('=') + 1) : 'true'
}
for (const a of argv)
  if (!/^--(profile|delay-ms)(=|$)/.test(a)) {
    console.error(`unknown argument ${a}\nusage: bun bench/gateway.ts [--profile] [--delay-ms=N]`)
    process.exit(2)
  }

const num = (v: string | undefined, d: number): number => {
  if (v === undefined || v === '') return d
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a number: ${v}`)
  return n
}

const cfg = {
  rates: (process.env.BENCH_RATES ?? '100,500,1000,2000').split(',').map((r) => num(r.trim(), 0)).filter((r) => r > 0),
  durationS: num(process.env.BENCH_DURATION_S, 4),
  modes: (process.env.BENCH_MODES ?? 'json,stream').split(',').map((m) => m.trim()) as ('json' | 'stream')[],
  satConnections: num(process.env.BENCH_SAT_CONNECTIONS, 64),
  satS: num(process.env.BENCH_SAT_S, 8),
  wrkThreads: num(process.env.BENCH_WRK_THREADS, 1),
  upstreamDelayMs: num(flag('delay-ms') ?? process.env.BENCH_UPSTREAM_DELAY_MS, 0),
  maxInFlight: num(process.env.BENCH_MAX_INFLIGHT, 2000),
  profile: flag('profile') !== undefined,
  profileIntervalUs: num(process.env.BENCH_PROFILE_INTERVAL_US, 1000),
  rounds: Math.max(1, num(process.env.BENCH_ROUNDS, 3)),
  stallS: num(process.env.BENCH_STALL_S, 60),
  warmupS: num(process.env.BENCH_WARMUP_S, 10),
  timeoutMs: 30_000,
  budget: process.env.BENCH_BUDGET !== '0',
  serverLogLevel: process.env.BENCH_SERVER_LOG_LEVEL ?? 'info',
  databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
  serverRoot: process.env.BENCH_SERVER_ROOT || undefined,
}
for (const m of cfg.modes) if (m !== 'json' && m !== 'stream') throw new Error(`BENCH_MODES: unknown mode ${m}`)

const ADMIN_EMAIL = 'admin@enclava.local'
const ADMIN_PASSWORD = 'bench-admin-password-0123'
const MODEL = 'mock-chat'
const OUT_DIR = join(ROOT, 'bench', 'out')
const stamp = new Date().toISOString().replace(/[:.]/g, '-')

/** The one request of the benchmark; max_tokens is set so the gateway forwards the body unchanged. */
function requestBody(stream: boolean): string {
  return JSON.stringify({
    model: MODEL,
    messages: [
      { role: 'system', content: 'You are a terse assistant used for benchmarking.' },
      { role: 'user', content: 'Say hello to the benchmark in a handful of words please.' },
    ],
    max_tokens: 64,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  })
}

// ---------------------------------------------------------------------------
// helpers

const log = (msg: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`)
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ')

/**
 * Waits until the server wrote every request off the response path. With the budget: nothing reserved any more
 * (every request settled). Without: as many usage records as gateway requests sent (`expected`), or no progress
 * for 5 s (a request that never reached the server leaves no record).
 */
async function waitSettled(base: string, key: string, expected: number, timeoutMs = 120_000): Promise<{ seconds: number; spentUsd: number }> {
  const t0 = performance.now()
  if (!cfg.budget) {
    let last = -1
    let lastChange = t0
    for (;;) {
      const { data } = await api<{ data: { requests: number; cost_usd: number }[] }>(base, 'GET', '/api/v1/llm/usage?days=2', undefined, key)
      const records = data.reduce((n, d) => n + d.requests, 0)
      const spentUsd = data.reduce((n, d) => n + d.cost_usd, 0)
      const now = performance.now()
      if (records >= expected) return { seconds: (now - t0) / 1000, spentUsd }
      if (records !== last) [last, lastChange] = [records, now]
      else if (now - lastChange > 5000) {
        log(`usage records stalled at ${records} of ${expected} sent`)
        return { seconds: (lastChange - t0) / 1000, spentUsd }
      }
      if (now - t0 > timeoutMs) throw new Error(`usage not written after ${timeoutMs} ms`)
      await Bun.sleep(100)
    }
  }
  for (;;) {
    const { data } = await api<{ data: { name: string; reserved_usd: number; spent_usd: number }[] }>(
      base,
      'GET',
      '/api/v1/llm/budget/status',
      undefined,
      key,
    )
    const b = data.find((x) => x.name === 'bench')
    if (!b) throw new Error('bench budget not found')
    if (b.reserved_usd <= 0) return { seconds: (performance.now() - t0) / 1000, spentUsd: b.spent_usd }
    if (performance.now() - t0 > timeoutMs) throw new Error(`reservations not settled after ${timeoutMs} ms`)
    await Bun.sleep(100)
  }
}

const errorText = (errors: Record<string, number>): string => {
  const parts = Object.entries(errors).map(([k, v]) => `${k}:${v}`)
  return parts.length ? parts.join(',') : '0'
}

// ---------------------------------------------------------------------------
// results

type Mode = 'json' | 'stream'
interface Trio<T> {
  direct: T
  /** The bare forwarder: what any extra hop costs on this machine. */
  nullProxy: T
  gateway: T
}
interface OpenRow extends Trio<LoadResult> {
  mode: Mode
  rate: number
  drainS: number
  /** Cores used by other processes on the machine during the phase. */
  others: number
  /** CPU ms per request: the server (all threads, settling included) and the forwarder. */
  cpuPerReq: { gateway: number; nullProxy: number }
  loop: LoopSummary
}
interface SatResult {
  rps: number
  p50: number
  p99: number
  errors: string
  requests: number
}
interface SatRow extends Trio<SatResult> {
  mode: Mode
  tool: 'wrk' | 'bun'
  drainS: number
  others: number
  cpuPerReq: { gateway: number; nullProxy: number }
  /** Cores used by each thread of the server process during the gateway runs. */
  serverThreads: { name: string; cores: number }[]
  loop: LoopSummary
}
interface StallRun {
  result: LoadResult
  others: number
  loop: LoopSummary
  drainS: number
}

const lat = (r: LoadResult, stream: boolean): Summary => summarize(r.samples.map((s) => (stream ? s.ttftMs : s.totalMs)))
const total = (r: LoadResult): Summary => summarize(r.samples.map((s) => s.totalMs))
const gwDur = (r: LoadResult): Summary => summarize(r.samples.map((s) => s.gatewayMs).filter((x) => Number.isFinite(x)))
/** What the client saw minus what Server-Timing accounts for (gateway + upstream): the hop, queueing before the first hook, stalls. */
const outside = (r: LoadResult, stream: boolean): Summary =>
  summarize(
    r.samples
      .filter((s) => Number.isFinite(s.gatewayMs) && Number.isFinite(s.upstreamMs))
      .map((s) => (stream ? s.ttftMs : s.totalMs) - s.gatewayMs - s.upstreamMs),
  )
const achieved = (r: LoadResult): number => (r.wallS > 0 ? r.ok / r.wallS : NaN)
const pass = (ok: boolean) => (ok ? 'PASS' : 'FAIL')

function renderOpen(rows: OpenRow[], mode: Mode): string {
  const stream = mode === 'stream'
  const what = stream ? 'TTFT' : 'latency'
  const head = [
    'rate',
    'achieved d/n/g',
    `direct ${what} p50/p99`,
    `gateway added p50/p99`,
    `forwarder added p50/p99`,
    'Server-Timing gw p50/p99',
    'outside S-T p50/p99',
    ...(stream ? ['stream total d/g p50'] : []),
    'CPU ms/req g/n',
    'stall max/busy',
    'sched lag p99',
    'errors d/n/g',
    'settle s',
    'others',
  ]
  const body = rows
    .filter((r) => r.mode === mode)
    .map((r) => {
      const d = lat(r.direct, stream)
      const g = lat(r.gateway, stream)
      const n = lat(r.nullProxy, stream)
      const st = gwDur(r.gateway)
      const out = outside(r.gateway, stream)
      const lag = summarize([...r.direct.lag, ...r.nullProxy.lag, ...r.gateway.lag])
      return [
        String(r.rate),
        `${fmt(achieved(r.direct), 0)}/${fmt(achieved(r.nullProxy), 0)}/${fmt(achieved(r.gateway), 0)}`,
        `${fmt(d.p50)}/${fmt(d.p99)}`,
        `${fmt(g.p50 - d.p50)}/${fmt(g.p99 - d.p99)}`,
        `${fmt(n.p50 - d.p50)}/${fmt(n.p99 - d.p99)}`,
        `${fmt(st.p50)}/${fmt(st.p99)}`,
        `${fmt(out.p50)}/${fmt(out.p99)}`,
        ...(stream ? [`${fmt(total(r.direct).p50)}/${fmt(total(r.gateway).p50)}`] : []),
        `${fmt(r.cpuPerReq.gateway, 3)}/${fmt(r.cpuPerReq.nullProxy, 3)}`,
        `${fmt(r.loop.longest, 1)}/${fmt(r.loop.longestBusy, 1)}`,
        fmt(lag.p99),
        `${errorText(r.direct.errors)}/${errorText(r.nullProxy.errors)}/${errorText(r.gateway.errors)}`,
        fmt(r.drainS, 1),
        fmt(r.others),
      ]
    })
  return table([head, ...body])
}

function renderSat(rows: SatRow[]): string {
  const head = [
    'mode',
    'tool',
    'req/s direct',
    'req/s forwarder',
    'req/s gateway',
    'g/forwarder',
    'g/direct',
    'CPU ms/req g/n',
    'p50/p99 direct',
    'p50/p99 forwarder',
    'p50/p99 gateway',
    'stall max/busy',
    'errors d/n/g',
    'settle s',
    'others',
  ]
  const body = rows.map((r) => [
    r.mode,
    r.tool,
    fmt(r.direct.rps, 0),
    fmt(r.nullProxy.rps, 0),
    fmt(r.gateway.rps, 0),
    fmt(r.gateway.rps / r.nullProxy.rps, 3),
    fmt(r.gateway.rps / r.direct.rps, 3),
    `${fmt(r.cpuPerReq.gateway, 3)}/${fmt(r.cpuPerReq.nullProxy, 3)}`,
    `${fmt(r.direct.p50)}/${fmt(r.direct.p99)}`,
    `${fmt(r.nullProxy.p50)}/${fmt(r.nullProxy.p99)}`,
    `${fmt(r.gateway.p50)}/${fmt(r.gateway.p99)}`,
    `${fmt(r.loop.longest, 1)}/${fmt(r.loop.longestBusy, 1)}`,
    `${r.direct.errors}/${r.nullProxy.errors}/${r.gateway.errors}`,
    fmt(r.drainS, 1),
    fmt(r.others),
  ])
  return table([head, ...body])
}

// ---------------------------------------------------------------------------
// main

const cleanups: (() => Promise<unknown>)[] = []
let cleaned: Promise<void> | null = null
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn()
      } catch (err) {
        log(`cleanup: ${(err as Error).message}`)
      }
    }
  })()
  return cleaned
}
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    log(`${sig}: stopping children`)
    void cleanup().finally(() => process.exit(130))
  })

async function main(): Promise<void> {
  const loadBefore = load()
  const runStarted = performance.now()
  const serverRoot = cfg.serverRoot ?? ROOT
  const versionAtStart = codeVersion(serverRoot)
  mkdirSync(OUT_DIR, { recursive: true })
  const dataDir = mkdtempSync(join(tmpdir(), 'enclava-bench-'))
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }))
  const logPath = join(dataDir, 'server.log')
  const probeFile = join(dataDir, 'probe.jsonl')

  log(`starting upstream (delay ${cfg.upstreamDelayMs} ms)`)
  const upstream: Child = await spawnUpstream({ delayMs: cfg.upstreamDelayMs, chunkDelayMs: 0 })
  cleanups.push(() => upstream.stop())
  const nullProxy: Child = await spawnNullProxy(upstream.url)
  cleanups.push(() => nullProxy.stop())

  const profileName = `gateway-${stamp}.cpuprofile`
  log(`starting enclava${cfg.profile ? ' under bun --cpu-prof' : ''}`)
  const server: Child = await spawnServer({
    env: {
      DATA_DIR: dataDir,
      ADMIN_EMAIL,
      ADMIN_PASSWORD,
      PRIVATEMODE_URL: upstream.url,
      RATE_LIMIT_PUBLIC_PER_MINUTE: '100000000',
      RATE_LIMIT_INTERNAL_PER_MINUTE: '1000000',
      LOG_LEVEL: cfg.serverLogLevel,
      ...(cfg.databaseUrl ? { DATABASE_URL: cfg.databaseUrl } : {}),
    },
    logPath,
    probeFile,
    root: cfg.serverRoot,
    ...(cfg.profile ? { cpuProfile: { dir: OUT_DIR, name: profileName, intervalUs: cfg.profileIntervalUs } } : {}),
  })
  let serverStopped = false
  const stopServer = async (): Promise<void> => {
    if (serverStopped) return
    serverStopped = true
    const code = await server.stop()
    if (code !== 0) {
      // keep the evidence: the data dir (and the logs in it) is removed at the end
      const kept = join(OUT_DIR, `server-${stamp}.log`)
      writeFileSync(kept, `${tail(`${logPath}.stderr`, 500)}\n--- stdout tail ---\n${tail(logPath, 300)}\n`)
      log(`server exited with ${code}; stderr and log tail kept in ${kept.slice(ROOT.length + 1)}\n${tail(`${logPath}.stderr`, 30)}`)
    }
  }
  cleanups.push(stopServer)
  log(`upstream ${upstream.url}, enclava ${server.url}`)
  const pids = [upstream.proc.pid, nullProxy.proc.pid, server.proc.pid]
  const serverCpu = () => processCpuMs(server.proc.pid)
  const proxyCpu = () => processCpuMs(nullProxy.proc.pid)

  // ---- credentials: admin session -> API key -> large hard budget on the key
  const { access_token } = await api<{ access_token: string }>(server.url, 'POST', '/api-internal/v1/auth/login', {
    email: ADMIN_EMAIL,
    password: ADMIN_PASSWORD,
  })
  const created = await api<{ id: string; key: string }>(server.url, 'POST', '/api-internal/v1/api-keys', { name: 'bench' }, access_token)
  if (cfg.budget)
    await api(
      server.url,
      'POST',
      '/api-internal/v1/budgets',
      { name: 'bench', scope: 'api_key', api_key_id: created.id, limit_usd: 1_000_000, period: 'monthly' },
      access_token,
    )
  /** Requests sent to the gateway so far, for waitSettled without a budget. */
  let gatewaySent = 0
  const settle = () => waitSettled(server.url, created.key, gatewaySent)

  const targets = (stream: boolean): Trio<Target> => {
    const body = requestBody(stream)
    return {
      direct: { url: `${upstream.url}/chat/completions`, headers: { 'content-type': 'application/json' }, body, stream },
      nullProxy: { url: `${nullProxy.url}/api/v1/chat/completions`, headers: { 'content-type': 'application/json' }, body, stream },
      gateway: {
        url: `${server.url}/api/v1/chat/completions`,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${created.key}` },
        body,
        stream,
      },
    }
  }
  const names = ['direct', 'nullProxy', 'gateway'] as const

  // ---- sanity + warm-up (JIT, key cache, tokenizer, connection pools)
  for (const mode of cfg.modes) {
    const t = targets(mode === 'stream')
    for (const name of names) {
      const r = await once(t[name], cfg.timeoutMs)
      if (name === 'gateway') gatewaySent++
      if (typeof r === 'string') throw new Error(`sanity check failed: ${mode} ${name}: ${r}\n${tail(logPath, 10)}`)
    }
    log(`warm-up ${mode}`)
    for (const name of names) {
      const durationS = name === 'gateway' ? cfg.warmupS : 1.5
      const r = await openLoop(t[name], { rate: name === 'gateway' ? 500 : 300, durationS, maxInFlight: cfg.maxInFlight, timeoutMs: cfg.timeoutMs })
      if (name === 'gateway') gatewaySent += r.sent
    }
  }
  await settle()
  const measuredFrom = Date.now()

  // ---- open loop at fixed rates, the three targets interleaved in slices
  const openRows: OpenRow[] = []
  for (const rate of cfg.rates)
    for (const mode of cfg.modes) {
      const t = targets(mode === 'stream')
      const slice = { rate, durationS: cfg.durationS / cfg.rounds, maxInFlight: cfg.maxInFlight, timeoutMs: cfg.timeoutMs }
      log(`open loop ${rate} req/s ${mode}: ${cfg.rounds} rounds of direct, forwarder, gateway`)
      const parts: Record<(typeof names)[number], LoadResult[]> = { direct: [], nullProxy: [], gateway: [] }
      const c0 = cpuSnapshot(pids)
      const [s0, p0, t0] = [serverCpu(), proxyCpu(), Date.now()]
      for (let round = 0; round < cfg.rounds; round++)
        for (const name of names) {
          const r = await openLoop(t[name], slice)
          parts[name].push(r)
          if (name === 'gateway') gatewaySent += r.sent
          await Bun.sleep(100)
        }
      const t1 = Date.now()
      const { seconds } = await settle()
      const others = cpuBetween(c0, cpuSnapshot(pids)).others
      const [direct, nullRes, gateway] = names.map((n) => mergeResults(parts[n])) as [LoadResult, LoadResult, LoadResult]
      openRows.push({
        mode,
        rate,
        direct,
        nullProxy: nullRes,
        gateway,
        drainS: seconds,
        others,
        cpuPerReq: { gateway: (serverCpu() - s0) / Math.max(1, gateway.ok), nullProxy: (proxyCpu() - p0) / Math.max(1, nullRes.ok) },
        loop: probeBetween(probeFile, t0, t1),
      })
      await Bun.sleep(300)
    }

  // ---- closed loop at saturation, interleaved likewise
  const satRows: SatRow[] = []
  const haveWrk = wrkPath() !== null
  if (!haveWrk) log('wrk not found: saturation uses the in-process generator (it competes with the server for CPU)')
  for (const mode of cfg.modes) {
    if (cfg.satS <= 0) break
    const t = targets(mode === 'stream')
    const sliceS = Math.max(1, Math.round(cfg.satS / cfg.rounds))
    const run = async (target: Target): Promise<SatResult> => {
      if (haveWrk) {
        const w = await runWrk(target, { connections: cfg.satConnections, durationS: sliceS, threads: cfg.wrkThreads, timeoutS: 10 })
        const e = w.errors
        const errs = { connect: e.connect, read: e.read, write: e.write, non2xx: e.status, timeout: e.timeout }
        return {
          rps: w.okRps,
          p50: w.p50Ms,
          p99: w.p99Ms,
          errors: errorText(Object.fromEntries(Object.entries(errs).filter(([, v]) => v > 0))),
          requests: w.requests,
        }
      }
      const r = await closedLoop(target, cfg.satConnections, sliceS, cfg.timeoutMs)
      const s = total(r)
      return { rps: achieved(r), p50: s.p50, p99: s.p99, errors: errorText(r.errors), requests: r.sent }
    }
    log(`saturation ${cfg.satConnections} connections ${mode}: ${cfg.rounds} rounds of ${sliceS} s per target`)
    const parts: Record<(typeof names)[number], SatResult[]> = { direct: [], nullProxy: [], gateway: [] }
    const c0 = cpuSnapshot(pids)
    const [p0, t0] = [proxyCpu(), Date.now()]
    let gatewayCpu = 0
    let threads: { name: string; cores: number }[] = []
    for (let round = 0; round < cfg.rounds; round++)
      for (const name of names) {
        const s0 = serverCpu()
        const th0 = threadSnapshot(server.proc.pid)
        const r = await run(t[name])
        parts[name].push(r)
        if (name === 'gateway') {
          gatewaySent += r.requests
          threads = threadsBetween(th0, threadSnapshot(server.proc.pid))
          await settle()
          gatewayCpu += serverCpu() - s0
        }
        await Bun.sleep(300)
      }
    const t1 = Date.now()
    const { seconds } = await settle()
    const others = cpuBetween(c0, cpuSnapshot(pids)).others
    const merge = (xs: SatResult[]): SatResult => ({
      rps: xs.reduce((a, x) => a + x.rps, 0) / xs.length,
      // the median slice's percentiles: percentiles of separate runs do not add up
      p50: summarize(xs.map((x) => x.p50)).p50,
      p99: summarize(xs.map((x) => x.p99)).p50,
      errors: xs.map((x) => x.errors).join('+'),
      requests: xs.reduce((a, x) => a + x.requests, 0),
    })
    const [direct, nullRes, gateway] = names.map((n) => merge(parts[n])) as [SatResult, SatResult, SatResult]
    satRows.push({
      mode,
      tool: haveWrk ? 'wrk' : 'bun',
      direct,
      nullProxy: nullRes,
      gateway,
      drainS: seconds,
      others,
      cpuPerReq: { gateway: gatewayCpu / Math.max(1, gateway.requests), nullProxy: (proxyCpu() - p0) / Math.max(1, nullRes.requests) },
      serverThreads: threads,
      loop: probeBetween(probeFile, t0, t1),
    })
    await Bun.sleep(300)
  }

  // ---- the long run: the gateway alone at 1,000 req/s, for the main thread's longest stall
  let stall: StallRun | null = null
  if (cfg.stallS > 0) {
    log(`long run: gateway alone at 1000 req/s json for ${cfg.stallS} s`)
    const c0 = cpuSnapshot(pids)
    const t0 = Date.now()
    const result = await openLoop(targets(false).gateway, { rate: 1000, durationS: cfg.stallS, maxInFlight: cfg.maxInFlight, timeoutMs: cfg.timeoutMs })
    const t1 = Date.now()
    gatewaySent += result.sent
    const others = cpuBetween(c0, cpuSnapshot(pids)).others
    const { seconds } = await settle()
    stall = { result, others, loop: probeBetween(probeFile, t0, t1), drainS: seconds }
  }

  const settled = await settle()
  const measuredTo = Date.now()
  const idle = probeBetween(probeFile, measuredTo - 100, Date.now() + 1500)
  log('stopping enclava')
  await stopServer()
  const loadAfter = load()

  // ---- report
  const out: string[] = []
  out.push('')
  out.push(`Enclava gateway benchmark  ${new Date().toISOString()}`)
  out.push(
    `bun ${Bun.version}, ${cpus().length} CPUs, loadavg before ${loadBefore} / after ${loadAfter}, run ${fmt((performance.now() - runStarted) / 1000, 0)} s` +
      (cfg.profile ? '  ** server under --cpu-prof: numbers include profiler overhead **' : ''),
  )
  const versionAtEnd = codeVersion(serverRoot)
  out.push(
    `server code: ${serverRoot} @ ${versionAtStart ?? '(not a git checkout)'}` +
      (versionAtEnd !== versionAtStart ? `  ** changed during the run: now ${versionAtEnd} **` : ''),
  )
  const backend = cfg.databaseUrl ? 'PostgreSQL (BENCH_DATABASE_URL)' : 'embedded PGlite'
  out.push(
    `upstream: mock (bench/lib/upstream-proc.ts, own process), fixed delay ${cfg.upstreamDelayMs} ms; enclava: ${backend} + memory cache, ` +
      `LOG_LEVEL ${cfg.serverLogLevel}${cfg.serverLogLevel === 'info' ? ' (access log on)' : ''}, ${cfg.budget ? 'hard budget on the key' : 'NO budget'}` +
      `; open loop ${cfg.durationS} s per rate and target in ${cfg.rounds} interleaved slices; saturation ${cfg.satConnections} connections × ${cfg.satS} s per target`,
  )
  out.push(`ms throughout; d/n/g = direct/forwarder/gateway; added = percentile through the hop − direct percentile (same run, interleaved)`)
  out.push(`Server-Timing gw = the gateway's own gateway;dur; outside S-T = what the client saw − (gateway;dur + upstream;dur): the hop, queueing and stalls`)
  out.push(`CPU ms/req = CPU of the whole server process (every thread, settling included) / forwarder per request`)
  out.push(
    `stall max/busy = the server's longest main-thread event-loop delay / the longest one its main thread spent computing (its CPU time in the gap; ` +
      `the rest of a delay is the process waiting for a core on this shared machine)`,
  )
  out.push(`others = cores busy with processes outside this benchmark during the phase (from /proc; ${cpus().length} cores in total)`)
  out.push(`settle s = time after the phase until the usage ledger had written (and settled) every request; spent in total: $${fmt(settled.spentUsd, 4)}`)
  for (const mode of cfg.modes) {
    out.push('', `Open loop, ${mode === 'json' ? 'non-streaming (latency = full response)' : 'streaming (TTFT = first data: event with content)'}:`)
    out.push(renderOpen(openRows, mode))
  }
  if (satRows.length) {
    out.push('', `Saturation (closed loop, ${cfg.satConnections} connections; req/s counts 2xx responses only, mean of the slices):`)
    out.push(renderSat(satRows))
    for (const r of satRows)
      out.push(`  server threads during gateway saturation (${r.mode}), cores: ` + (r.serverThreads.map((t) => `${t.name} ${fmt(t.cores)}`).join(', ') || 'n/a'))
  }
  if (stall) {
    const l = total(stall.result)
    out.push(
      '',
      `Long run, gateway alone, json at 1000 req/s for ${cfg.stallS} s: achieved ${fmt(achieved(stall.result), 0)} req/s, latency p50/p99/max ` +
        `${fmt(l.p50)}/${fmt(l.p99)}/${fmt(l.max)}, Server-Timing gw p50/p99 ${fmt(gwDur(stall.result).p50)}/${fmt(gwDur(stall.result).p99)}, ` +
        `errors ${errorText(stall.result.errors)}, others ${fmt(stall.others)}`,
    )
    out.push(
      `  main-thread event-loop delay: longest ${fmt(stall.loop.longest, 1)} ms (longest spent computing: ${fmt(stall.loop.longestBusy, 1)} ms), ` +
        `worst 1-s window p99 ${fmt(stall.loop.p99, 1)} / p99.9 ${fmt(stall.loop.p999, 1)} ms; ${stall.loop.stallsSeen} stalls over ${stall.loop.overMs} ms, ` +
        `${stall.loop.busyStalls} of them mostly the thread's own work; RSS at the end ${fmt(stall.loop.rssEnd / 2 ** 20, 0)} MB (max ${fmt(stall.loop.rssMax / 2 ** 20, 0)})`,
    )
  }
  if (Number.isFinite(idle.rssEnd)) out.push(`server RSS after the run: ${fmt(idle.rssEnd / 2 ** 20, 0)} MB`)

  // targets (issue 20)
  out.push('', `Targets (issue 20; ${backend}), each beside the figure measured in this run:`)
  const at1000 = openRows.filter((r) => r.rate === 1000)
  for (const r of at1000) {
    const stream = r.mode === 'stream'
    const d = lat(r.direct, stream)
    const g = lat(r.gateway, stream)
    const n = lat(r.nullProxy, stream)
    const [g50, g99, n50, n99] = [g.p50 - d.p50, g.p99 - d.p99, n.p50 - d.p50, n.p99 - d.p99]
    const what = stream ? 'TTFT' : 'latency'
    out.push(`  added ${what} p99 at 1000 req/s (${r.mode}) <= forwarder's + 0.5 ms: gateway ${fmt(g99)}, forwarder ${fmt(n99)} ms -> ${pass(g99 <= n99 + 0.5)}`)
    out.push(`  added ${what} p50 at 1000 req/s (${r.mode}) <= forwarder's + 0.15 ms: gateway ${fmt(g50)}, forwarder ${fmt(n50)} ms -> ${pass(g50 <= n50 + 0.15)}`)
  }
  if (!at1000.length) out.push('  added latency at 1000 req/s: not measured (1000 not in BENCH_RATES)')
  for (const r of satRows) {
    const ratio = r.gateway.rps / r.nullProxy.rps
    out.push(
      `  saturation (${r.mode}) >= 0.6 x forwarder: ${fmt(ratio, 3)} (${fmt(r.gateway.rps, 0)} vs ${fmt(r.nullProxy.rps, 0)} req/s) -> ${pass(ratio >= 0.6)}` +
        `; CPU per request ${fmt(r.cpuPerReq.gateway / r.cpuPerReq.nullProxy, 2)} x the forwarder's (${fmt(r.cpuPerReq.gateway * 1000, 0)} vs ${fmt(r.cpuPerReq.nullProxy * 1000, 0)} µs)`,
    )
  }
  if (stall)
    out.push(
      `  no main-thread stall over 5 ms in ${cfg.stallS} s at 1000 req/s: longest the thread spent computing ${fmt(stall.loop.longestBusy, 1)} ms ` +
        `-> ${pass(stall.loop.longestBusy <= 5)} (longest event-loop delay, waiting for a core included: ${fmt(stall.loop.longest, 1)} ms)`,
    )
  for (const r of at1000) {
    const stream = r.mode === 'stream'
    const o = outside(r.gateway, stream)
    const n = lat(r.nullProxy, stream)
    const d = lat(r.direct, stream)
    out.push(
      `  Server-Timing covers the time in Enclava (${r.mode}): outside it p50 ${fmt(o.p50)} ms, the forwarder's whole added p50 ${fmt(n.p50 - d.p50)} ms` +
        ` -> ${pass(o.p50 <= n.p50 - d.p50 + 0.15)} (outside <= a bare hop + 0.15 ms)`,
    )
  }
  console.log(out.join('\n'))

  const raw = {
    at: new Date().toISOString(),
    cfg,
    code: { root: serverRoot, atStart: versionAtStart, atEnd: versionAtEnd },
    loadBefore,
    loadAfter,
    open: openRows.map((r) => {
      const stream = r.mode === 'stream'
      const side = (x: LoadResult) => ({ ok: x.ok, sent: x.sent, errors: x.errors, achieved: achieved(x), latency: lat(x, stream), total: total(x) })
      return {
        mode: r.mode,
        rate: r.rate,
        drainS: r.drainS,
        others: r.others,
        cpuPerReq: r.cpuPerReq,
        loop: r.loop,
        direct: side(r.direct),
        nullProxy: side(r.nullProxy),
        gateway: { ...side(r.gateway), serverTiming: gwDur(r.gateway), outside: outside(r.gateway, stream), peakInFlight: r.gateway.peakInFlight },
      }
    }),
    saturation: satRows,
    stall: stall ? { latency: total(stall.result), serverTiming: gwDur(stall.result), loop: stall.loop, others: stall.others, errors: stall.result.errors } : null,
    measuredWindowMs: { from: measuredFrom, to: measuredTo },
  }
  const rawPath = join(OUT_DIR, `gateway-${stamp}.json`)
  writeFileSync(rawPath, JSON.stringify(raw, null, 2))
  console.log(`\nraw results: ${rawPath.slice(ROOT.length + 1)}`)

  if (cfg.profile) {
    const profilePath = join(OUT_DIR, profileName)
    console.log(`\nCPU profile of the server: ${profilePath.slice(ROOT.length + 1)}`)
    console.log(
      `Summary of the measured phases only (start-up, warm-up and shutdown left out):\n` +
        `  bun bench/lib/profile-summary.ts ${profilePath.slice(ROOT.length + 1)} --from=${measuredFrom} --to=${measuredTo}\n`,
    )
    const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as Parameters<typeof summarizeProfile>[0]
    console.log(renderSummary(summarizeProfile(profile, { from: measuredFrom, to: measuredTo }), 20))
    if (stall?.loop.worst.length) {
      // Each stall ended when the probe's 1 ms timer fired again: the samples of the gap are what held the thread.
      // A stall with few samples was mostly a garbage collection: the sampler takes none during its pause, and charges
      // what it does take to the allocation that started it. BUN_JSC_logGC=true logs each collection with its pause.
      console.log(
        "\nThe long run's longest stalls the main thread spent computing, and its top functions by self time in each (few samples: a " +
          'garbage collection, which the sampler does not see; BUN_JSC_logGC=true BENCH_SERVER_STDERR=<file> logs each one with its pause):',
      )
      for (const w of stall.loop.worst) {
        const s = summarizeProfile(profile, { from: w.at - w.ms - 1, to: w.at })
        const top = [...s.functions]
          .sort((a, b) => b.selfSamples - a.selfSamples)
          .slice(0, 6)
          .map((f) => `${f.name} (${f.area === '(native / builtin)' ? `native <- ${f.via}` : f.area}) ${f.selfSamples}`)
        console.log(`  ${new Date(w.at).toISOString().slice(11, 23)} ${fmt(w.ms, 1)} ms, ${fmt(w.cpuMs, 1)} computing, ${s.samples} samples: ${top.join(', ')}`)
      }
    }
  }
}

try {
  await main()
} catch (err) {
  console.error(err)
  process.exitCode = 1
} finally {
  await cleanup()
}
