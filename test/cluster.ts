/**
 * The seed's topology without containers: several replicas of Enclava (the built binary when there is one, else
 * `bun src/index.ts`) on one PostgreSQL and one Redis, driven with mixed traffic for a fixed time while one replica
 * is killed with SIGKILL and started again. Used by test/cluster.test.ts (short) and bench/cluster.ts (long, with
 * figures). Needs DATABASE_URL and REDIS_URL: the embedded PGlite serves one process only.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { sourcesHash } from '../scripts/build.ts'
import { startUpstream, type Upstream } from './fixtures/upstream.ts'
import { schemaName } from './harness.ts'
import { ROOT, startServer, storeEnv, type Server } from './server-process.ts'

export interface ClusterOptions {
  replicas: number
  durationMs: number
  /** When, after traffic starts, one replica is SIGKILLed (null: none); it is started again `downMs` later. */
  killAtMs: number | null
  downMs: number
  /** Loops sending requests at once. */
  concurrency: number
  /** The server command: the built binary if given, else `bun src/index.ts`. */
  binary?: string | null
  log?: (line: string) => void
}

interface Replica {
  index: number
  url: string
  proc: Server['proc']
  dataDir: string
}

interface Outcome {
  kind: 'chat' | 'stream' | 'upload' | 'search' | 'chatbot' | 'plugin' | 'key'
  replica: number
  startedAt: number
  endedAt: number
  status: number | 'network'
}

export interface ClusterReport {
  requests: number
  byKind: Record<string, number>
  /** Chat answers (200) the client received, and the usage records written for the key. */
  answers: number
  records: number
  /** Chat requests on the killed replica that were in flight when it died. */
  inFlightAtKill: number
  budget: { limitMicros: number; spentMicros: number }
  /** Per revoked key: how long until every replica refused it. */
  revocationMs: number[]
  /**
   * uploaded: acknowledged to the client; stored: rows; indexed: rows indexed; acknowledgedIndexed: acknowledged ones
   * among them; unacknowledgedAtKill: uploads in flight on the killed replica (stored, their answer lost).
   */
  documents: { uploaded: number; stored: number; indexed: number; acknowledgedIndexed: number; unacknowledgedAtKill: number; duplicateChunks: number; notIndexed: number }
  cron: { ticks: number; duplicates: number; statuses: Record<string, number> }
  /** 5xx or connection failures outside the killed replica's outage. */
  unexpectedFailures: Outcome[]
  allowedFailures: number
  killedAt: number | null
  restartedAt: number | null
  throughput: number
  latencyMs: { p50: number; p99: number }
}

const ADMIN_PASSWORD = 'cluster-admin-password'
const TICKER = `import { BasePlugin, type PluginContext } from 'enclava:plugin'
export default class Ticker extends BasePlugin {
  override cron = { tick: async (ctx: PluginContext) => { await ctx.kv.set('tick:' + ctx.invocationId, Date.now()) } }
}
`

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0
}

/** Runs the cluster scenario and reports what it saw; the caller asserts. Everything it started is stopped. */
export async function runCluster(o: ClusterOptions): Promise<ClusterReport> {
  const log = o.log ?? (() => {})
  const schema = schemaName('cluster')
  const work = mkdtempSync(join(tmpdir(), 'enclava-cluster-'))
  const files = join(work, 'files')
  const plugins = join(work, 'plugins')
  mkdirSync(join(plugins, 'ticker', 'src'), { recursive: true })
  writeFileSync(
    join(plugins, 'ticker', 'plugin.json'),
    JSON.stringify({ name: 'ticker', version: '1.0.0', permissions: { kv: { quota_kb: 1024 } }, cron: [{ name: 'tick', schedule: '* * * * *', timeout_ms: 10_000 }] }),
  )
  writeFileSync(join(plugins, 'ticker', 'src', 'index.ts'), TICKER)
  const up: Upstream = await startUpstream({ models: ['tee-chat'], streamChunkDelayMs: 1 })
  const stores = await storeEnv(schema)
  const env: Record<string, string> = {
    ...stores,
    ADMIN_PASSWORD,
    JWT_SECRET: 'c'.repeat(48),
    ENCRYPTION_KEY: 'cd'.repeat(32),
    PRIVATEMODE_URL: up.url,
    FILE_STORAGE_DIR: files,
    PLUGINS_DIRS: `${join(ROOT, 'plugins')},${plugins}`,
    RATE_LIMIT_PUBLIC_PER_MINUTE: '1000000',
    RATE_LIMIT_INTERNAL_PER_MINUTE: '1000000',
    PLUGIN_RATE_LIMIT_PER_MINUTE: '1000000',
    // A dead replica's indexing jobs are taken over within the run.
    JOB_LEASE_SECONDS: '5',
    LOG_LEVEL: 'warn',
  }
  const command = o.binary ? [o.binary] : ['bun', 'src/index.ts']

  async function start(index: number, dataDir: string): Promise<Replica> {
    const server = await startServer({ ...env, DATA_DIR: dataDir, LOG_LEVEL: 'info' }, { command })
    return { index, url: server.url, proc: server.proc, dataDir }
  }

  const replicas: Replica[] = await Promise.all(Array.from({ length: o.replicas }, (_, i) => start(i, join(work, `data-${i}`))))
  const sql = postgres(stores.DATABASE_URL ?? '', { max: 2, onnotice: () => {} })
  const one = async <T>(text: string): Promise<T> => (await sql.unsafe(text.replaceAll('$schema', schema)))[0] as unknown as T
  try {
    const first = replicas[0]!
    const call = async (replica: Replica, method: string, path: string, init: { token?: string; key?: string; body?: unknown; form?: FormData } = {}) => {
      const headers: Record<string, string> = {}
      if (init.token) headers.authorization = `Bearer ${init.token}`
      if (init.key) headers.authorization = `Bearer ${init.key}`
      if (init.body !== undefined) headers['content-type'] = 'application/json'
      const res = await fetch(`${replica.url}${path}`, {
        method,
        headers,
        ...(init.form ? { body: init.form } : init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
        signal: AbortSignal.timeout(30_000),
      })
      const text = await res.text()
      let body: any = text
      try {
        body = JSON.parse(text)
      } catch {}
      return { status: res.status, body }
    }
    const token = (await call(first, 'POST', '/api-internal/v1/auth/login', { body: { email: 'admin@enclava.local', password: ADMIN_PASSWORD } })).body.access_token as string
    const A = '/api-internal/v1/plugin-admin/plugins'
    for (const name of ['hello', 'ticker']) {
      const enabled = await call(first, 'POST', `${A}/${name}/enable`, { token, body: {} })
      if (enabled.status !== 200) throw new Error(`enable ${name}: ${JSON.stringify(enabled.body)}`)
    }
    // 10 micro-USD per output token, an output cap of 50: a request reserves 500 and costs about 30, so the hard
    // budget runs out late in a short run, with requests racing for its last room on every replica.
    await call(first, 'PUT', '/api-internal/v1/llm/model-settings/tee-chat', { token, body: { input_price_per_million: 0, output_price_per_million: 10, max_output_tokens: 50 } })
    const key = (await call(first, 'POST', '/api-internal/v1/api-keys', { token, body: { name: 'cluster' } })).body as { id: string; key: string }
    const limitMicros = 300_000
    const budget = await call(first, 'POST', '/api-internal/v1/budgets', {
      token,
      body: { name: 'cluster', scope: 'api_key', api_key_id: key.id, limit_usd: limitMicros / 1e6, period: 'monthly', is_hard: true },
    })
    if (budget.status !== 201) throw new Error(`budget: ${JSON.stringify(budget.body)}`)
    const collection = (await call(first, 'POST', '/api-internal/v1/rag/collections', { token, body: { name: 'cluster' } })).body.id as string
    const chatbot = (await call(first, 'POST', '/api-internal/v1/chatbots', { token, body: { name: 'cluster', model: 'tee-chat' } })).body.id as string

    const outcomes: Outcome[] = []
    const revocationMs: number[] = []
    const uploaded = new Set<string>()
    let killedAt: number | null = null
    let restartedAt: number | null = null
    let killedIndex = -1
    let seq = 0
    const t0 = performance.now()
    const until = t0 + o.durationMs
    const pick = () => replicas[Math.floor(Math.random() * replicas.length)]!

    async function timed(kind: Outcome['kind'], replica: Replica, work: () => Promise<number>): Promise<void> {
      const startedAt = performance.now()
      let status: Outcome['status']
      try {
        status = await work()
      } catch {
        status = 'network'
      }
      outcomes.push({ kind, replica: replica.index, startedAt, endedAt: performance.now(), status })
    }

    async function step(): Promise<void> {
      const replica = pick()
      const r = Math.random()
      const n = ++seq
      if (r < 0.35) return timed('chat', replica, async () => (await call(replica, 'POST', '/api/v1/chat/completions', { key: key.key, body: { model: 'tee-chat', messages: [{ role: 'user', content: `question ${n}` }] } })).status)
      if (r < 0.55)
        return timed('stream', replica, async () => {
          const res = await call(replica, 'POST', '/api/v1/chat/completions', { key: key.key, body: { model: 'tee-chat', stream: true, messages: [{ role: 'user', content: `stream ${n}` }] } })
          // A stream that ends without [DONE] is not an answer.
          return res.status === 200 && !String(res.body).includes('data: [DONE]') ? 599 : res.status
        })
      if (r < 0.65)
        return timed('upload', replica, async () => {
          const form = new FormData()
          form.append('files', new File([`Document ${n}: the cluster keeps every record exactly once, number ${n}.`], `doc-${n}.txt`, { type: 'text/plain' }))
          const res = await call(replica, 'POST', `/api-internal/v1/rag/collections/${collection}/documents`, { token, form })
          for (const d of (res.body?.accepted ?? []) as { id: string }[]) uploaded.add(d.id)
          return res.status
        })
      if (r < 0.75) return timed('search', replica, async () => (await call(replica, 'POST', `/api-internal/v1/rag/collections/${collection}/search`, { token, body: { query: 'cluster record' } })).status)
      if (r < 0.85) return timed('chatbot', replica, async () => (await call(replica, 'POST', `/api-internal/v1/chatbot/${chatbot}/chat`, { token, body: { message: `hello ${n}` } })).status)
      return timed('plugin', replica, async () => (await call(replica, 'GET', '/api/v1/plugins/hello/hello')).status)
    }

    /** A key is created, used on every replica, revoked on one: how long until every replica refuses it. */
    async function revocationRound(): Promise<void> {
      const up = replicas.filter((r) => r.index !== killedIndex || restartedAt !== null)
      const created = (await call(up[0]!, 'POST', '/api-internal/v1/api-keys', { token, body: { name: `revoke-${++seq}` } })).body as { id: string; key: string }
      await Promise.all(up.map((r) => call(r, 'GET', '/api/v1/me', { key: created.key })))
      const revoked = performance.now()
      await call(up[up.length - 1]!, 'DELETE', `/api-internal/v1/api-keys/${created.id}`, { token })
      const times = await Promise.all(
        up.map(async (r) => {
          for (;;) {
            const status = (await call(r, 'GET', '/api/v1/me', { key: created.key }).catch(() => ({ status: 0 }))).status
            if (status === 401) return performance.now() - revoked
            if (performance.now() - revoked > 10_000) return Infinity
            await Bun.sleep(20)
          }
        }),
      )
      revocationMs.push(Math.max(...times))
    }

    const loops = Array.from({ length: o.concurrency }, async () => {
      while (performance.now() < until) await step()
    })
    const revocations = (async () => {
      while (performance.now() < until) {
        await revocationRound().catch(() => {})
        await Bun.sleep(2_000)
      }
    })()
    const killer = (async () => {
      if (o.killAtMs === null) return
      await Bun.sleep(o.killAtMs)
      const victim = replicas[1] ?? replicas[0]!
      killedIndex = victim.index
      victim.proc.kill('SIGKILL')
      killedAt = performance.now()
      log(`replica ${victim.index} killed at ${Math.round(killedAt - t0)} ms`)
      await victim.proc.exited
      await Bun.sleep(o.downMs)
      const again = await start(victim.index, victim.dataDir)
      replicas[victim.index] = again
      restartedAt = performance.now()
      log(`replica ${victim.index} back at ${Math.round(restartedAt - t0)} ms`)
    })()
    await Promise.all([...loops, revocations, killer])
    const elapsed = performance.now() - t0

    // Let everything settle: ledgers flush, the dead replica's jobs are taken over, cron runs finish.
    const settleUntil = Date.now() + 60_000
    let notIndexed = Infinity
    while (Date.now() < settleUntil) {
      notIndexed = (await one<{ n: number }>(`SELECT count(*)::int AS n FROM $schema.rag_documents WHERE status <> 'indexed'`)).n
      if (notIndexed === 0) break
      await Bun.sleep(500)
    }
    await Bun.sleep(1_500)

    const inFlightAtKill =
      killedAt === null
        ? 0
        : outcomes.filter((x) => (x.kind === 'chat' || x.kind === 'stream') && x.replica === killedIndex && x.startedAt <= killedAt! && x.endedAt >= killedAt!).length
    const allowed = (x: Outcome) =>
      killedAt !== null && x.replica === killedIndex && x.endedAt >= killedAt && x.startedAt <= (restartedAt ?? Infinity)
    const failed = (x: Outcome) => x.status === 'network' || (typeof x.status === 'number' && x.status >= 500)
    const answers = outcomes.filter((x) => (x.kind === 'chat' || x.kind === 'stream') && x.status === 200).length
    const records = await one<{ n: number }>(`SELECT count(*)::int AS n FROM $schema.usage_records WHERE api_key_id = '${key.id}' AND status = 200`)
    const spent = await one<{ s: string }>(`SELECT spent_micros::bigint AS s FROM $schema.budgets WHERE api_key_id = '${key.id}'`)
    const docs = await one<{ n: number }>(`SELECT count(*)::int AS n FROM $schema.rag_documents WHERE status = 'indexed'`)
    const stored = await one<{ n: number }>(`SELECT count(*)::int AS n FROM $schema.rag_documents`)
    const indexedIds = new Set(((await sql.unsafe(`SELECT id::text FROM ${schema}.rag_documents WHERE status = 'indexed'`)) as unknown as { id: string }[]).map((r) => r.id))
    const acknowledgedIndexed = [...uploaded].filter((id) => indexedIds.has(id)).length
    const unacknowledgedAtKill =
      killedAt === null ? 0 : outcomes.filter((x) => x.kind === 'upload' && x.replica === killedIndex && x.startedAt <= killedAt! && x.endedAt >= killedAt!).length
    const dupes = await one<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT document_id, position FROM $schema.rag_chunks GROUP BY document_id, position HAVING count(*) > 1) d`,
    )
    const runs = (await sql.unsafe(`SELECT job, scheduled_for, status FROM ${schema}.plugin_cron_runs WHERE plugin = 'ticker'`)) as unknown as { scheduled_for: Date; status: string }[]
    const perTick = new Map<number, number>()
    for (const r of runs) if (r.status !== 'skipped') perTick.set(r.scheduled_for.getTime(), (perTick.get(r.scheduled_for.getTime()) ?? 0) + 1)
    const statuses: Record<string, number> = {}
    for (const r of runs) statuses[r.status] = (statuses[r.status] ?? 0) + 1
    const latencies = outcomes.map((x) => x.endedAt - x.startedAt).sort((a, b) => a - b)
    const byKind: Record<string, number> = {}
    for (const x of outcomes) byKind[x.kind] = (byKind[x.kind] ?? 0) + 1
    return {
      requests: outcomes.length,
      byKind,
      answers,
      records: records.n,
      inFlightAtKill,
      budget: { limitMicros, spentMicros: Number(spent.s) },
      revocationMs,
      documents: { uploaded: uploaded.size, stored: stored.n, indexed: docs.n, acknowledgedIndexed, unacknowledgedAtKill, duplicateChunks: dupes.n, notIndexed },
      cron: { ticks: perTick.size, duplicates: [...perTick.values()].filter((n) => n > 1).length, statuses },
      unexpectedFailures: outcomes.filter((x) => failed(x) && !allowed(x)),
      allowedFailures: outcomes.filter((x) => failed(x) && allowed(x)).length,
      killedAt: killedAt === null ? null : killedAt - t0,
      restartedAt: restartedAt === null ? null : restartedAt - t0,
      throughput: outcomes.length / (elapsed / 1000),
      latencyMs: { p50: pct(latencies, 0.5), p99: pct(latencies, 0.99) },
    }
  } finally {
    for (const r of replicas) r.proc.kill('SIGKILL')
    await Promise.all(replicas.map((r) => r.proc.exited))
    await up.stop()
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {})
    await sql.end()
    rmSync(work, { recursive: true, force: true })
  }
}

/**
 * The built binary, when `npm run build` made one from the current sources (dist/enclava.json); the cluster runs it,
 * as a deployment would. A binary older than the sources would test old code: the sources run instead.
 */
export function builtBinary(): string | null {
  const path = join(ROOT, 'dist', 'enclava')
  const info = join(ROOT, 'dist', 'enclava.json')
  if (!existsSync(path) || !existsSync(info)) return null
  const built = (JSON.parse(readFileSync(info, 'utf8')) as { sources_sha256?: string }).sources_sha256
  return built === sourcesHash() ? path : null
}
