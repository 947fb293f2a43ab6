import { Cron } from 'croner'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { cronWallMs } from './manifest.ts'
import type { PluginService } from './service.ts'

/** How often each replica looks for due jobs; a tick older than this when seen is still run once. */
const TICK_MS = 15_000
const DEADLINE_SLACK_MS = 60_000

/**
 * Runs plugins' cron jobs. Every replica looks every TICK_MS; the first to insert the (plugin, job, scheduled
 * minute) row runs it and the unique key turns every other replica away, so each tick runs exactly once. A tick
 * due while the job's previous run is still going is skipped, so runs of one job never overlap. Ticks missed while
 * every replica was down are not caught up: only the latest one, if it is recent.
 */
export class CronRunner {
  #timer: ReturnType<typeof setInterval> | undefined
  #running = new Set<Promise<void>>()
  #paused = false

  constructor(
    readonly deps: { plugins: PluginService; sql: Sql; log: Logger; replica: string },
  ) {}

  /** Starts (or resumes after pause) the ticks. */
  start(): void {
    clearInterval(this.#timer)
    this.#paused = false
    this.#timer = setInterval(() => void this.tick(), TICK_MS)
    this.#timer.unref()
  }

  /** No new runs from now on. */
  pause(): void {
    clearInterval(this.#timer)
    this.#paused = true
  }

  /** Waits for the runs in flight to be recorded (their invocations end when the sandboxes stop). */
  async stop(): Promise<void> {
    this.pause()
    await Promise.allSettled([...this.#running])
  }

  /** Claims and runs every job due at `now`; resolves when they finished (for tests). */
  async tick(now = new Date()): Promise<void> {
    if (this.#paused) return
    const runs: Promise<void>[] = []
    for (const { row } of this.deps.plugins.enabledPlugins()) {
      for (const job of row.manifest.cron) {
        const [due] = new Cron(job.schedule, { paused: true, timezone: 'UTC' }).previousRuns(1, new Date(now.getTime() + 1))
        if (!due || now.getTime() - due.getTime() > 2 * TICK_MS) continue
        const run = this.#run(row.name, job.name, cronWallMs(job.timeout_ms, row.granted), due).catch((err) =>
          this.deps.log.warn({ plugin: row.name, job: job.name, err: (err as Error).message }, 'cron run failed to record'),
        )
        this.#running.add(run)
        void run.finally(() => this.#running.delete(run))
        runs.push(run)
      }
    }
    await Promise.all(runs)
  }

  /** `wallMs`: the job's timeout_ms, within what the plugin's grant allows (see cronWallMs). */
  async #run(plugin: string, job: string, wallMs: number, scheduledFor: Date): Promise<void> {
    const claimed = await this.#claim(plugin, job, scheduledFor, wallMs)
    if (!claimed) return
    const started = performance.now()
    let error: string | null = null
    try {
      await this.deps.plugins.invoke(plugin, 'cron', { name: job, identity: { user_id: null, source: 'cron' } }, 'cron', wallMs)
    } catch (err) {
      error = (err as Error).message.slice(0, 2000)
    }
    await this.deps.sql`
      UPDATE plugin_cron_runs SET finished_at = now(), status = ${error ? 'error' : 'ok'}, duration_ms = ${performance.now() - started},
        error = ${error}
      WHERE id = ${claimed}`
  }

  /**
   * Claims the tick for this replica, or records it as skipped while an earlier run of the job is still going
   * (here or on another replica); undefined when it is not this replica's to run.
   */
  async #claim(plugin: string, job: string, scheduledFor: Date, wallMs: number): Promise<string | undefined> {
    // The invocation may first wait up to wallMs for a recovering sandbox, then run for wallMs, then the host's grace.
    const deadlineMs = 2 * wallMs + DEADLINE_SLACK_MS
    return this.deps.sql.begin(async (tx) => {
      // Claims of different ticks of one job take turns, or each could see no run in progress.
      await tx`SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':enclava:plugin_cron:' || ${plugin} || ':' || ${job}))`
      // A run past its deadline was left by a replica that stopped: nothing else will ever finish it.
      await tx`
        UPDATE plugin_cron_runs SET status = 'error', finished_at = deadline, error = 'the replica running it stopped before it finished'
        WHERE plugin = ${plugin} AND job = ${job} AND status = 'running' AND deadline <= now()`
      const [busy] = await tx`SELECT 1 FROM plugin_cron_runs WHERE plugin = ${plugin} AND job = ${job} AND status = 'running'`
      // This replica's view of which plugins are enabled may lag (a change message lost while the cache was down).
      const status = busy ? 'skipped' : 'running'
      const [row] = await tx<{ id: string }[]>`
        INSERT INTO plugin_cron_runs (plugin, job, scheduled_for, replica, status, deadline, finished_at, error)
        SELECT ${plugin}, ${job}, ${scheduledFor}, ${this.deps.replica}, ${status}, now() + ${deadlineMs} * interval '1 millisecond',
          CASE WHEN ${status}::text = 'skipped' THEN now() END, ${busy ? 'the previous run had not finished' : null}
        WHERE EXISTS (SELECT 1 FROM plugins WHERE name = ${plugin} AND enabled)
        ON CONFLICT (plugin, job, scheduled_for) DO NOTHING RETURNING id`
      return busy ? undefined : row?.id
    })
  }
}
