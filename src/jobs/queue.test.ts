/** The PostgreSQL job queue: claims, retries with backoff, permanent failures, leases that resume a dead worker's job. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { testDatabase, type TestDatabase } from '../../test/harness.ts'
import { migrate } from '../db/migrate.ts'
import { createLogger } from '../log.ts'
import { JobQueue, PermanentJobError, type Job } from './queue.ts'

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

test('stopping hands an interrupted job back without counting the attempt', async () => {
  const q = queue('w-stop')
  let started!: () => void
  const startedP = new Promise<void>((r) => (started = r))
  q.register('long', {
    run: (_job, ctl) =>
      new Promise((_, reject) => {
        started()
        ctl.signal.addEventListener('abort', () => reject(ctl.signal.reason))
      }),
  })
  q.start()
  const id = await q.enqueue('long', {})
  await startedP
  await q.stop(50)
  expect(await jobRow(id)).toMatchObject({ status: 'queued', attempts: 0 })
})
