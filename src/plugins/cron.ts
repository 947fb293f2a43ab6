import { Cron } from 'croner'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import type { PluginService } from './service.ts'

/** How often each replica looks for due jobs; a tick older than this when seen is still run once. */
const TICK_MS = 15_000

/**
 * Runs plugins' cron jobs. Every replica looks every TICK_MS; the first to insert the (plugin, job, scheduled
 * minute) row runs it and the unique key turns every other replica away, so each tick runs exactly once. Ticks
 * missed while every replica was down are not caught up: only the latest one, if it is recent.
 */
export class CronRunner {
  #timer: ReturnType<typeof setInterval> | undefined
  #running = new Set<Promise<void>>()

  constructor(
    readonly deps: { plugins: PluginService; sql: Sql; log: Logger; replica: string },
  ) {}

  start(): void {
    this.#timer = setInterval(() => void this.tick(), TICK_MS)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await Promise.allSettled([...this.#running])
  }

  /** Claims and runs every job due at `now`; resolves when they finished (for tests). */
  async tick(now = new Date()): Promise<void> {
    const runs: Promise<void>[] = []
    for (const { row } of this.deps.plugins.enabledPlugins()) {
      for (const job of row.manifest.cron) {
        const [due] = new Cron(job.schedule, { paused: true, timezone: 'UTC' }).previousRuns(1, new Date(now.getTime() + 1))
        if (!due || now.getTime() - due.getTime() > 2 * TICK_MS) continue
        const run = this.#run(row.name, job.name, job.timeout_ms, due).catch((err) =>
          this.deps.log.warn({ plugin: row.name, job: job.name, err: (err as Error).message }, 'cron run failed to record'),
        )
        this.#running.add(run)
        void run.finally(() => this.#running.delete(run))
        runs.push(run)
      }
    }
    await Promise.all(runs)
  }

  async #run(plugin: string, job: string, timeoutMs: number, scheduledFor: Date): Promise<void> {
    // This replica's view of which plugins are enabled may lag (a change message lost while the cache was down).
    const [claimed] = await this.deps.sql<{ id: string }[]>`
      INSERT INTO plugin_cron_runs (plugin, job, scheduled_for, replica)
      SELECT ${plugin}, ${job}, ${scheduledFor}, ${this.deps.replica} WHERE EXISTS (SELECT 1 FROM plugins WHERE name = ${plugin} AND enabled)
      ON CONFLICT (plugin, job, scheduled_for) DO NOTHING RETURNING id`
    if (!claimed) return
    const started = performance.now()
    let error: string | null = null
    try {
      await this.deps.plugins.invoke(plugin, 'cron', { name: job, identity: { user_id: null, source: 'cron' } }, 'cron', timeoutMs)
    } catch (err) {
      error = (err as Error).message.slice(0, 2000)
    }
    await this.deps.sql`
      UPDATE plugin_cron_runs SET finished_at = now(), status = ${error ? 'error' : 'ok'}, duration_ms = ${performance.now() - started},
        error = ${error}
      WHERE id = ${claimed.id}`
  }
}
