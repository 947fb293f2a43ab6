import type { Queryable, Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'

export interface Job<P = Record<string, unknown>> {
  id: string
  kind: string
  payload: P
  attempts: number
  max_attempts: number
}

export interface JobControl {
  /** Records progress (0..1) and renews the lease. */
  progress(fraction: number): Promise<void>
  /** Aborted when the lease is lost or the worker is stopping: the handler should stop soon after. */
  signal: AbortSignal
}

export interface JobHandler<P = any> {
  run(job: Job<P>, ctl: JobControl): Promise<void>
  /**
   * Several jobs at once, for work that costs mostly round trips (a small document is a handful of statements,
   * whichever the count of rows): a worker that claims a job whose payload contains `when` claims up to `size - 1`
   * more such jobs of the kind with it and hands them over together. Each job keeps its own lease, attempts and
   * outcome: `run` answers with the jobs that failed and why (absent: done), as `run` would have thrown.
   */
  batch?: {
    size: number
    when: Record<string, unknown>
    run(jobs: Job<P>[], control: (job: Job<P>) => JobControl): Promise<Map<string, unknown>>
  }
  /** Called once when the job will not be tried again (last attempt failed, or a PermanentJobError). */
  onGiveUp?(job: Job<P>, error: string): Promise<void>
  /** Called when a failed attempt will be retried later. */
  onRetry?(job: Job<P>, error: string, runAfter: Date): Promise<void>
}

/** Jobs enqueued (by this queue) before the jobs table's statistics are taken again, and how often at most. */
const ANALYZE_AFTER = 500
const ANALYZE_EVERY_MS = 5000

/**
 * Claims up to `n` jobs matching `filter`: those whose worker's lease ran out, then those queued and due, each found
 * in its own index's order so a claim reads about `n` rows however long the backlog (one condition with OR read and
 * sorted every due job), oldest first across both. The ids taken are updated as an array, looked up by key: as a
 * subquery (`id IN`), the planner scanned the whole table to join them.
 */
export function claimStatement(sql: Sql, filter: ReturnType<Sql>, n: number, workerId: string, leaseMs: number) {
  return sql`
    WITH expired AS (
      SELECT id, run_after FROM jobs WHERE status = 'processing' AND lease_until < now() AND ${filter}
      ORDER BY lease_until LIMIT ${n} FOR UPDATE SKIP LOCKED
    ), due AS (
      SELECT id, run_after FROM jobs WHERE status = 'queued' AND run_after <= now() AND ${filter}
      ORDER BY run_after LIMIT ${n} FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs SET status = 'processing', attempts = attempts + 1, locked_by = ${workerId},
      lease_until = now() + ${leaseMs} * interval '1 millisecond', updated_at = now()
    WHERE id = ANY(ARRAY(SELECT id FROM (SELECT * FROM expired UNION ALL SELECT * FROM due) AS c ORDER BY run_after LIMIT ${n}))
    RETURNING id, kind, payload, attempts, max_attempts`
}

/** A failure that another attempt cannot fix (a corrupt file): the job fails at once. */
export class PermanentJobError extends Error {}

export interface QueueOptions {
  workerId: string
  leaseMs?: number
  pollMs?: number
  concurrency?: number
  /** Delay before retry n (1-based) is base * 2^(n-1), capped. */
  retryBaseMs?: number
  retryMaxMs?: number
}

/**
 * A job queue in PostgreSQL, safe with several replicas: a worker claims a job with FOR UPDATE SKIP LOCKED and
 * holds it under a lease it keeps renewing. A worker that dies stops renewing, the lease runs out, and any replica
 * (or the same one, restarted) takes the job up again, which is how unfinished work resumes after a crash.
 * Handlers must therefore be safe to run again from the start.
 */
export class JobQueue {
  readonly #handlers = new Map<string, JobHandler>()
  readonly #running = new Map<string, AbortController>()
  readonly #opts: Required<QueueOptions>
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = true
  #polling: Promise<void> | undefined
  #again = false
  /** Claimed work running now, a batch counting once (QueueOptions.concurrency). */
  #slots = 0
  #tasks = new Set<Promise<void>>()
  /** Jobs enqueued since the table's statistics were last taken (see #analyzeSoon). */
  #enqueued = 0
  #analyzedAt = 0
  #analyzing: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly sql: Sql,
    readonly log: Logger,
    opts: QueueOptions,
  ) {
    this.#opts = { leaseMs: 60_000, pollMs: 1000, concurrency: 1, retryBaseMs: 5000, retryMaxMs: 10 * 60_000, ...opts }
  }

  register(kind: string, handler: JobHandler): void {
    this.#handlers.set(kind, handler)
  }

  async enqueue(kind: string, payload: Record<string, unknown>, opts: { maxAttempts?: number; sql?: Queryable } = {}): Promise<string> {
    const [id] = await this.enqueueMany(kind, [payload], opts)
    return id!
  }

  /** Several jobs of one kind in one statement; their ids in the payloads' order. */
  async enqueueMany(kind: string, payloads: Record<string, unknown>[], opts: { maxAttempts?: number; sql?: Queryable } = {}): Promise<string[]> {
    if (payloads.length === 0) return []
    const sql = opts.sql ?? this.sql
    // Ids made here, so which id is whose does not hang on the order RETURNING happens to give.
    const ids = payloads.map(() => crypto.randomUUID())
    await sql`
      INSERT INTO jobs (id, kind, payload, max_attempts)
      SELECT t.id, ${kind}, t.payload::jsonb, ${opts.maxAttempts ?? 5}
      FROM unnest(${ids}::uuid[], ${payloads.map((p) => JSON.stringify(p))}::text[]) AS t(id, payload)`
    this.#enqueued += ids.length
    if (this.#enqueued >= ANALYZE_AFTER) this.#analyzeSoon()
    this.wake()
    return ids
  }

  /**
   * Statistics of the jobs table, taken again once many jobs came: a claim finds its jobs through an index in
   * order only when the planner knows there are many, and the embedded database has no autovacuum to tell it (nor
   * has PostgreSQL, until its next autoanalyze). Without them each claim read and sorted the whole backlog:
   * 2-5 ms with 5,000 queued documents on the embedded database, against ~0.5 ms (`/tmp` probe). A second later,
   * so the caller's transaction has committed them, and at most every ANALYZE_EVERY_MS.
   */
  #analyzeSoon(): void {
    if (this.#analyzing || Date.now() - this.#analyzedAt < ANALYZE_EVERY_MS) return
    this.#analyzing = setTimeout(() => {
      this.#enqueued = 0
      this.#analyzedAt = Date.now()
      this.sql`ANALYZE jobs`
        .catch((err) => this.log.warn({ err: (err as Error).message }, 'jobs statistics not updated'))
        .finally(() => (this.#analyzing = undefined))
    }, 1000)
    this.#analyzing.unref?.()
  }

  /** Looks for work now instead of at the next poll. */
  wake(): void {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => this.#poll(), 0)
  }

  start(): void {
    if (!this.#stopped) return
    this.#stopped = false
    this.wake()
  }

  /**
   * Stops claiming, gives running handlers `graceMs` to finish, then aborts them and hands their jobs back at once
   * (no waiting for the lease) so another replica continues.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    clearTimeout(this.#analyzing)
    await this.#polling
    const all = Promise.allSettled([...this.#tasks])
    const timedOut = await Promise.race([all.then(() => false), Bun.sleep(graceMs).then(() => true)])
    if (!timedOut) return
    for (const ctl of this.#running.values()) ctl.abort(new Error('worker stopping'))
    await all
  }

  #poll(): void {
    if (this.#stopped) return
    if (this.#polling) {
      this.#again = true
      return
    }
    this.#again = false
    this.#polling = this.#claimAvailable()
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'job poll failed'))
      .finally(() => {
        this.#polling = undefined
        clearTimeout(this.#timer)
        if (!this.#stopped) this.#timer = setTimeout(() => this.#poll(), this.#again ? 0 : this.#opts.pollMs)
      })
  }

  async #claimAvailable(): Promise<void> {
    const kinds = [...this.#handlers.keys()]
    while (!this.#stopped && this.#slots < this.#opts.concurrency && kinds.length > 0) {
      const job = await this.#claim(kinds)
      if (!job) return
      const batch = this.#handlers.get(job.kind)!.batch
      let jobs = [job]
      if (batch && batch.size > 1 && contains(job.payload, batch.when))
        // Claimed already, the first job runs even if its companions cannot be claimed now.
        jobs = jobs.concat(await this.#claimMore(job.kind, batch.when, batch.size - 1).catch(() => []))
      this.#slots++
      const task = (jobs.length > 1 ? this.#executeBatch(jobs) : this.#execute(job)).finally(() => {
        this.#slots--
        this.#tasks.delete(task)
        this.wake()
      })
      this.#tasks.add(task)
    }
  }

  async #claim(kinds: string[]): Promise<Job | undefined> {
    const [job] = await this.#claimWhere(this.sql`kind IN ${this.sql(kinds)}`, 1)
    return job
  }

  #claimMore(kind: string, when: Record<string, unknown>, n: number): Promise<Job[]> {
    return this.#claimWhere(this.sql`kind = ${kind} AND payload @> ${this.sql.json(when as never)}`, n)
  }

  #claimWhere(filter: ReturnType<Sql>, n: number): Promise<Job[]> {
    return this.sql<Job[]>`${claimStatement(this.sql, filter, n, this.#opts.workerId, this.#opts.leaseMs)}`
  }

  /**
   * Extends the leases of running jobs in one statement (and records the progress of one, when given); a job whose
   * lease was taken over is aborted alone.
   */
  async #renew(ctls: Map<string, AbortController>, fraction?: number): Promise<void> {
    const progress = fraction === undefined ? this.sql`progress` : this.sql`${Math.min(1, Math.max(0, fraction))}`
    const held = await this.sql<{ id: string }[]>`
      UPDATE jobs SET progress = ${progress}, lease_until = now() + ${this.#opts.leaseMs} * interval '1 millisecond', updated_at = now()
      WHERE id IN ${this.sql([...ctls.keys()])} AND locked_by = ${this.#opts.workerId} AND status = 'processing'
      RETURNING id`
    const alive = new Set(held.map((r) => r.id))
    for (const [id, ctl] of ctls) if (!alive.has(id)) ctl.abort(new Error('job lease lost'))
  }

  /** Renews the leases a third of the way through each, until cleared. */
  #renewing(ctls: Map<string, AbortController>): Timer {
    return setInterval(() => void this.#renew(ctls).catch(() => {}), Math.max(50, this.#opts.leaseMs / 3))
  }

  #control(job: Job, ctl: AbortController): JobControl {
    const one = new Map([[job.id, ctl]])
    return {
      signal: ctl.signal,
      progress: async (fraction) => {
        if (ctl.signal.aborted) throw ctl.signal.reason
        await this.#renew(one, fraction)
        if (ctl.signal.aborted) throw ctl.signal.reason
      },
    }
  }

  #done(ids: string[]) {
    return this.sql`
      UPDATE jobs SET status = 'done', progress = 1, error = NULL, lease_until = NULL, locked_by = NULL, updated_at = now()
      WHERE id IN ${this.sql(ids)} AND locked_by = ${this.#opts.workerId}`
  }

  async #execute(job: Job): Promise<void> {
    const handler = this.#handlers.get(job.kind)!
    const ctl = new AbortController()
    this.#running.set(job.id, ctl)
    const renewer = this.#renewing(new Map([[job.id, ctl]]))
    try {
      await handler.run(job, this.#control(job, ctl))
      clearInterval(renewer)
      await this.#done([job.id])
    } catch (err) {
      clearInterval(renewer)
      await this.#settleFailure(job, handler, err, ctl)
    } finally {
      this.#running.delete(job.id)
    }
  }

  async #executeBatch(jobs: Job[]): Promise<void> {
    const handler = this.#handlers.get(jobs[0]!.kind)!
    const ctls = new Map(jobs.map((j) => [j.id, new AbortController()]))
    for (const [id, ctl] of ctls) this.#running.set(id, ctl)
    // One statement renews every lease of the batch; a job whose lease was taken over is aborted alone.
    const renewer = this.#renewing(ctls)
    let failures: Map<string, unknown>
    try {
      failures = await handler.batch!.run(jobs, (job) => this.#control(job, ctls.get(job.id)!))
    } catch (err) {
      failures = new Map(jobs.map((j) => [j.id, err]))
    }
    clearInterval(renewer)
    try {
      const done = jobs.filter((j) => !failures.has(j.id)).map((j) => j.id)
      if (done.length > 0)
        // Not recorded: the leases run out and the jobs run again, which handlers must bear anyway.
        await this.#done(done).catch((err) => this.log.error({ jobs: done.length, err: (err as Error).message }, 'could not record finished jobs'))
      for (const job of jobs) if (failures.has(job.id)) await this.#settleFailure(job, handler, failures.get(job.id), ctls.get(job.id)!)
    } finally {
      for (const job of jobs) this.#running.delete(job.id)
    }
  }

  #settleFailure(job: Job, handler: JobHandler, err: unknown, ctl: AbortController): Promise<void> {
    return this.#failed(job, handler, err, ctl.signal.aborted && this.#stopped).catch((e) =>
      this.log.error({ job: job.id, err: (e as Error).message }, 'could not record a job failure'),
    )
  }

  async #failed(job: Job, handler: JobHandler, err: unknown, handBack: boolean): Promise<void> {
    const message = err instanceof Error ? err.message : String(err)
    if (handBack) {
      // Interrupted by shutdown, not failed: the attempt does not count.
      await this.sql`
        UPDATE jobs SET status = 'queued', attempts = attempts - 1, lease_until = NULL, locked_by = NULL, updated_at = now()
        WHERE id = ${job.id} AND locked_by = ${this.#opts.workerId}`
      return
    }
    const final = err instanceof PermanentJobError || job.attempts >= job.max_attempts
    this.log.warn({ job: job.id, kind: job.kind, attempt: job.attempts, final, err: message }, 'job failed')
    if (final) {
      const rows = await this.sql`
        UPDATE jobs SET status = 'failed', error = ${message}, lease_until = NULL, locked_by = NULL, updated_at = now()
        WHERE id = ${job.id} AND locked_by = ${this.#opts.workerId}`
      if (rows.count > 0) await handler.onGiveUp?.(job, message)
      return
    }
    const delay = Math.min(this.#opts.retryMaxMs, this.#opts.retryBaseMs * 2 ** (job.attempts - 1))
    const runAfter = new Date(Date.now() + delay)
    const rows = await this.sql`
      UPDATE jobs SET status = 'queued', error = ${message}, run_after = ${runAfter}, lease_until = NULL, locked_by = NULL,
        updated_at = now()
      WHERE id = ${job.id} AND locked_by = ${this.#opts.workerId}`
    if (rows.count > 0) await handler.onRetry?.(job, message, runAfter)
  }
}

/** Whether every key of `when` has that value in the payload (what `payload @> when` asks of shallow values). */
function contains(payload: Record<string, unknown>, when: Record<string, unknown>): boolean {
  return Object.entries(when).every(([k, v]) => payload[k] === v)
}
