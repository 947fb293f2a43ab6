/** The PostgreSQL job queue: claims, retries with backoff, permanent failures, leases that resume a dead worker's job. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { testDatabase, type TestDatabase } from '../../test/harness.ts'
import { migrate } from '../db/migrate.ts'
import { createLogger } from '../log.ts'
import { claimStatement, JobQueue, PermanentJobError, type Job } from './queue.ts'

let db: TestDatabase
const log = createLogger('silent')
const queues: JobQueue[] = []

beforeAll(async () => {
  db = await testDatabase()
  await migrate(db.sql)
})
afterAll(async () => {
  await Promise.all(queues.map((q) => q.stop(100)))
  await db.drop()
})

function queue(workerId: string, opts: Partial<ConstructorParameters<typeof JobQueue>[2]> = {}) {
  const q = new JobQueue(db.sql, log, { workerId, pollMs: 20, retryBaseMs: 30, ...opts })
  queues.push(q)
  return q
}

async function until<T>(check: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > end) throw new Error('timed out waiting')
    await Bun.sleep(20)
  }
}

const jobRow = async (id: string) =>
  (await db.sql<{ status: string; attempts: number; error: string | null; progress: number }[]>`
    SELECT status, attempts, error, progress FROM jobs WHERE id = ${id}`)[0]!

test('a job runs once, with its payload, and ends done with progress 1', async () => {
  const seen: Job[] = []
  const q = queue('w-basic')
  q.register('basic', { run: async (job, ctl) => void (seen.push(job), await ctl.progress(0.5)) })
  q.start()
  const id = await q.enqueue('basic', { n: 7 })
  await until(async () => (await jobRow(id)).status === 'done')
  expect(seen.map((j) => j.payload)).toEqual([{ n: 7 }])
  expect(await jobRow(id)).toMatchObject({ status: 'done', attempts: 1, progress: 1, error: null })
  await q.stop()
})

test('failures are retried with backoff, then given up with the last error', async () => {
  const attempts: number[] = []
  const gaveUp: string[] = []
  const retried: number[] = []
  const q = queue('w-retry')
  q.register('flaky', {
    run: async (job) => {
      attempts.push(Date.now())
      throw new Error(`boom ${job.attempts}`)
    },
    onRetry: async (job) => void retried.push(job.attempts),
    onGiveUp: async (_job, error) => void gaveUp.push(error),
  })
  q.start()
  const id = await q.enqueue('flaky', {}, { maxAttempts: 3 })
  await until(async () => (await jobRow(id)).status === 'failed')
  expect(attempts).toHaveLength(3)
  expect(retried).toEqual([1, 2])
  expect(gaveUp).toEqual(['boom 3'])
  // The second wait (60 ms) is twice the first (30 ms).
  expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(25)
  expect(attempts[2]! - attempts[1]!).toBeGreaterThanOrEqual(55)
  await q.stop()
})

test('a permanent error fails at once', async () => {
  let runs = 0
  const q = queue('w-perm')
  q.register('perm', {
    run: async () => {
      runs++
      throw new PermanentJobError('corrupt input')
    },
  })
  q.start()
  const id = await q.enqueue('perm', {})
  await until(async () => (await jobRow(id)).status === 'failed')
  expect(runs).toBe(1)
  expect((await jobRow(id)).error).toBe('corrupt input')
  await q.stop()
})

test("a dead worker's job is taken up again when its lease runs out", async () => {
  // A worker claims the job and then "dies": it never renews or finishes.
  const dead = new JobQueue(db.sql, log, { workerId: 'w-dead', pollMs: 20, leaseMs: 300 })
  let claimed!: () => void
  const claimedP = new Promise<void>((r) => (claimed = r))
  dead.register('resume', {
    run: () => {
      claimed()
      return new Promise(() => {})
    },
  })
  dead.start()
  const id = await dead.enqueue('resume', { doc: 1 })
  await claimedP
  // Stop claiming (the stuck handler is simply abandoned, as in a crash), and stop renewing by faking the lease out.
  void dead.stop(0)
  await db.sql`UPDATE jobs SET locked_by = 'w-dead-crashed' WHERE id = ${id}`

  const ran: string[] = []
  const survivor = queue('w-survivor', { leaseMs: 300 })
  survivor.register('resume', { run: async (job) => void ran.push(job.id) })
  survivor.start()
  await until(async () => (await jobRow(id)).status === 'done')
  expect(ran).toEqual([id])
  expect((await jobRow(id)).attempts).toBe(2)
  await survivor.stop()
})

test('two workers never run the same job', async () => {
  const runs = new Map<string, number>()
  const handler = { run: async (job: Job) => void runs.set(job.id, (runs.get(job.id) ?? 0) + 1) }
  const a = queue('w-a', { concurrency: 3 })
  const b = queue('w-b', { concurrency: 3 })
  a.register('many', handler)
  b.register('many', handler)
  const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => a.enqueue('many', { i })))
  a.start()
  b.start()
  await until(async () => {
    const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM jobs WHERE kind = 'many' AND status = 'done'`
    return row!.n === 40
  })
  expect(ids.every((id) => runs.get(id) === 1)).toBe(true)
  await Promise.all([a.stop(), b.stop()])
})

test.each([
  ['an interrupted job', 1],
  ['a running batch', 5],
])('stopping hands %s back without counting the attempts', async (_, n) => {
  const q = queue(`w-stop-${n}`)
  let started!: () => void
  const startedP = new Promise<void>((r) => (started = r))
  const hang = (signal: AbortSignal) =>
    new Promise<never>((_, reject) => {
      started()
      signal.addEventListener('abort', () => reject(signal.reason))
    })
  const kind = `long-${n}`
  q.register(kind, { run: (_job, ctl) => hang(ctl.signal), batch: { size: 5, when: { small: true }, run: (jobs, control) => hang(control(jobs[0]!).signal) } })
  const ids = n === 1 ? [await q.enqueue(kind, {})] : await q.enqueueMany(kind, Array.from({ length: n }, () => ({ small: true })))
  q.start()
  await startedP
  await q.stop(50)
  for (const id of ids) expect(await jobRow(id)).toMatchObject({ status: 'queued', attempts: 0 })
})

describe('batches', () => {
  /** A handler that records the batches it is given and fails the jobs the test names, each its own way. */
  function batching(size: number, fail: (job: Job) => unknown = () => undefined) {
    const batches: string[][] = []
    const alone: string[] = []
    const handler = {
      run: async (job: Job) => {
        alone.push(job.id)
        const err = fail(job)
        if (err) throw err
      },
      batch: {
        size,
        when: { small: true },
        run: async (jobs: Job[]) => {
          batches.push(jobs.map((j) => j.id))
          const failures = new Map<string, unknown>()
          for (const j of jobs) {
            const err = fail(j)
            if (err) failures.set(j.id, err)
          }
          return failures
        },
      },
    }
    return { handler, batches, alone }
  }

  test('enqueueMany keeps each payload with its id; jobs marked for batching are claimed together, up to the size, others alone', async () => {
    const { handler, batches, alone } = batching(8)
    const q = queue('w-batch')
    q.register('batched', handler)
    const ids = await q.enqueueMany('batched', Array.from({ length: 20 }, (_, i) => ({ i, small: true })))
    const big = await q.enqueue('batched', { i: 20 })
    const rows = await db.sql<{ id: string; payload: { i: number } }[]>`SELECT id, payload FROM jobs WHERE id IN ${db.sql(ids)}`
    expect(new Map(rows.map((r) => [r.id, r.payload.i]))).toEqual(new Map(ids.map((id, i) => [id, i])))
    q.start()
    await until(async () => (await Promise.all([...ids, big].map(jobRow))).every((r) => r.status === 'done'))
    expect(batches.flat().sort()).toEqual([...ids].sort())
    expect(Math.max(...batches.map((b) => b.length))).toBe(8)
    expect(batches.length).toBeLessThanOrEqual(4)
    expect(alone).toEqual([big])
    for (const id of ids) expect(await jobRow(id)).toMatchObject({ status: 'done', attempts: 1, progress: 1 })
    await q.stop()
  })

  test("each job of a batch has its own outcome: one given up, one retried, the rest done; a batch that throws fails every job", async () => {
    let flakyRuns = 0
    const gaveUp: string[] = []
    const retried: string[] = []
    const { handler } = batching(10, (job) => {
      if (job.payload.kind === 'corrupt') return new PermanentJobError('corrupt input')
      if (job.payload.kind === 'flaky' && flakyRuns++ === 0) return new Error('blip')
      return undefined
    })
    const q = queue('w-batch-outcomes')
    q.register('outcomes', { ...handler, onGiveUp: async (job) => void gaveUp.push(job.id), onRetry: async (job) => void retried.push(job.id) })
    const [corrupt, flaky, ...fine] = await q.enqueueMany('outcomes', [
      { kind: 'corrupt', small: true },
      { kind: 'flaky', small: true },
      ...Array.from({ length: 5 }, () => ({ kind: 'fine', small: true })),
    ])
    q.start()
    await until(async () => (await jobRow(flaky!)).status === 'done' && (await jobRow(corrupt!)).status === 'failed')
    expect(await jobRow(corrupt!)).toMatchObject({ status: 'failed', attempts: 1, error: 'corrupt input' })
    expect(await jobRow(flaky!)).toMatchObject({ status: 'done', attempts: 2 })
    for (const id of fine) expect(await jobRow(id)).toMatchObject({ status: 'done', attempts: 1 })
    expect(gaveUp).toEqual([corrupt!])
    expect(retried).toEqual([flaky!])
    await q.stop()

    const thrower = queue('w-batch-throws')
    thrower.register('throws', {
      run: async () => {},
      batch: { size: 4, when: { small: true }, run: async () => Promise.reject(new Error('database gone')) },
    })
    const all = await thrower.enqueueMany('throws', Array.from({ length: 4 }, () => ({ small: true })), { maxAttempts: 1 })
    thrower.start()
    await until(async () => (await Promise.all(all.map(jobRow))).every((r) => r.status === 'failed'))
    for (const id of all) expect((await jobRow(id)).error).toBe('database gone')
    await thrower.stop()
  })

  test('a running batch keeps every lease; a job taken over meanwhile is aborted alone and not marked done by this worker', async () => {
    const q = queue('w-batch-lease', { leaseMs: 300 })
    const aborted: string[] = []
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    let started!: (jobs: Job[]) => void
    const startedP = new Promise<Job[]>((r) => (started = r))
    q.register('leased', {
      run: async () => {},
      batch: {
        size: 3,
        when: { small: true },
        run: async (jobs, control) => {
          for (const j of jobs) control(j).signal.addEventListener('abort', () => aborted.push(j.id))
          started(jobs)
          await held
          return new Map()
        },
      },
    })
    const ids = await q.enqueueMany('leased', Array.from({ length: 3 }, () => ({ small: true })))
    const rival = queue('w-batch-rival', { leaseMs: 300 })
    const rivalRan: string[] = []
    rival.register('leased', { run: async (job) => void rivalRan.push(job.id) })
    q.start()
    const jobs = await startedP
    expect(jobs.map((j) => j.id).sort()).toEqual([...ids].sort())
    rival.start()
    // Three lease lengths: without renewal the rival would have taken every job over.
    await Bun.sleep(900)
    expect(rivalRan).toEqual([])
    // One job is taken over (as a rival that found its lease run out would): the next renewal aborts it alone.
    await db.sql`UPDATE jobs SET locked_by = 'w-batch-rival' WHERE id = ${ids[0]!}`
    await until(async () => aborted.length > 0)
    expect(aborted).toEqual([ids[0]!])
    release()
    await until(async () => (await jobRow(ids[1]!)).status === 'done' && (await jobRow(ids[2]!)).status === 'done')
    expect((await jobRow(ids[0]!)).status).toBe('processing')
    await Promise.all([q.stop(), rival.stop()])
  })
})

/** Rows the plan's scans of `jobs` read (EXPLAIN ANALYZE's actual rows, every loop). */
function rowsRead(node: any): number {
  let n = node['Relation Name'] === 'jobs' && /Scan/.test(node['Node Type']) ? node['Actual Rows'] * (node['Actual Loops'] ?? 1) : 0
  for (const child of node.Plans ?? []) n += rowsRead(child)
  return n
}

/** The statement run under EXPLAIN ANALYZE in a transaction that is rolled back: the rows it took and read. */
async function explain(statement: (s: any) => any): Promise<{ taken: number; read: number }> {
  let out: { taken: number; read: number } | undefined
  const rollback = new Error('rollback')
  await db.sql
    .begin(async (tx) => {
      const [row] = await tx`EXPLAIN (ANALYZE, FORMAT JSON) ${statement(tx)}`
      const plan = (row as any)['QUERY PLAN'][0].Plan
      out = { taken: plan['Actual Rows'], read: rowsRead(plan) }
      throw rollback
    })
    .catch((err) => {
      if (err !== rollback) throw err
    })
  return out!
}

test('a claim reads about the jobs it takes, not the backlog: 3,000 queued, statistics taken after the bulk enqueue', async () => {
  // Not started: the jobs stay queued while the claim is explained (and rolled back).
  const q = queue('w-backlog')
  const kind = 'backlog'
  for (let i = 0; i < 6; i++) await q.enqueueMany(kind, Array.from({ length: 500 }, (_, j) => ({ n: i * 500 + j, small: true })))
  // The queue takes the table's statistics again a second after the enqueue that passed ANALYZE_AFTER.
  await until(async () => {
    const [row] = await db.sql<{ reltuples: number }[]>`SELECT reltuples FROM pg_class WHERE oid = 'jobs'::regclass`
    return (row?.reltuples ?? 0) >= 3000
  })
  for (const [filter, n] of [
    [(s: any) => s`kind IN ${s([kind])}`, 1],
    [(s: any) => s`kind = ${kind} AND payload @> ${s.json({ small: true })}`, 31],
  ] as const) {
    const { taken, read } = await explain((s) => claimStatement(s, filter(s), n, 'w-backlog', 60_000))
    expect(taken).toBe(n)
    expect(read).toBeLessThanOrEqual(2 * n + 2)
  }
  expect((await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM jobs WHERE kind = ${kind} AND status = 'queued'`)[0]!.n).toBe(3000)
})
