/**
 * The cluster scenario of test/cluster.test.ts, long: three replicas (the built binary when `npm run build` made
 * one) on PostgreSQL and Redis, mixed traffic for BENCH_DURATION_S (default 300), one replica SIGKILLed a third of
 * the way in and started again; prints what it measured (throughput, latency, revocation times, RSS of the
 * replicas is left to `ps`) and whether every invariant held.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379 bun bench/cluster.ts
 */
import { builtBinary, runCluster } from '../test/cluster.ts'
import { killLeftovers } from '../test/server-process.ts'

if (!process.env.DATABASE_URL || !process.env.REDIS_URL) {
  console.error('bench/cluster.ts needs DATABASE_URL and REDIS_URL (several replicas cannot share the embedded PGlite)')
  process.exit(2)
}
const seconds = Number(process.env.BENCH_DURATION_S ?? 300)
const binary = builtBinary()
console.log(`3 replicas of ${binary ?? 'bun src/index.ts'}, ${seconds} s, concurrency ${process.env.BENCH_CONCURRENCY ?? 8}`)
try {
  const r = await runCluster({
    replicas: 3,
    durationMs: seconds * 1000,
    killAtMs: (seconds * 1000) / 3,
    downMs: 3_000,
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 8),
    binary,
    log: (line) => console.log(line),
  })
  const held = {
    'no 5xx outside the killed replica': r.unexpectedFailures.length === 0,
    'usage records = answers (+ in flight at the kill)': r.records >= r.answers && r.records - r.answers <= r.inFlightAtKill,
    'hard budget not overspent': r.budget.spentMicros <= r.budget.limitMicros,
    'revoked keys refused everywhere within 1 s': Math.max(...r.revocationMs) < 1_000,
    'every document indexed exactly once':
      r.documents.notIndexed === 0 &&
      r.documents.indexed === r.documents.stored &&
      r.documents.acknowledgedIndexed === r.documents.uploaded &&
      r.documents.stored - r.documents.uploaded <= r.documents.unacknowledgedAtKill &&
      r.documents.duplicateChunks === 0,
    'each cron tick run once': r.cron.duplicates === 0,
  }
  const rev = [...r.revocationMs].sort((a, b) => a - b)
  console.log(`requests ${r.requests} (${Object.entries(r.byKind).map(([k, n]) => `${k} ${n}`).join(', ')}), ${r.throughput.toFixed(1)} req/s`)
  console.log(`latency p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms`)
  console.log(`chat answers ${r.answers}, usage records ${r.records}, in flight at the kill ${r.inFlightAtKill}`)
  console.log(`budget spent ${r.budget.spentMicros} of ${r.budget.limitMicros} micro-USD`)
  console.log(`revocations ${rev.length}: p50 ${rev[Math.floor(rev.length / 2)]?.toFixed(0)} ms, max ${rev.at(-1)?.toFixed(0)} ms`)
  console.log(
    `documents acknowledged ${r.documents.uploaded}, stored ${r.documents.stored} (uploads in flight at the kill: ${r.documents.unacknowledgedAtKill}), indexed ${r.documents.indexed}, duplicate chunks ${r.documents.duplicateChunks}`,
  )
  console.log(`cron ticks ${r.cron.ticks}, duplicates ${r.cron.duplicates}, runs ${JSON.stringify(r.cron.statuses)}`)
  console.log(`killed at ${r.killedAt?.toFixed(0)} ms, back at ${r.restartedAt?.toFixed(0)} ms; failures while it was down: ${r.allowedFailures}`)
  for (const [what, ok] of Object.entries(held)) console.log(`${ok ? 'held  ' : 'BROKEN'} ${what}`)
  if (r.unexpectedFailures.length) console.log('unexpected failures (first 10):', JSON.stringify(r.unexpectedFailures.slice(0, 10)))
  process.exitCode = Object.values(held).every(Boolean) ? 0 : 1
} finally {
  await killLeftovers()
}
