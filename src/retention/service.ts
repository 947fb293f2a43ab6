import type { AuditLog } from '../audit/service.ts'
import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { Logger } from '../log.ts'
import type { PlatformSettings } from '../settings/service.ts'

/** How often a replica asks whether a run is due; one runs at most every RUN_EVERY_MS across replicas. */
const TICK_MS = 10 * 60_000
export const RUN_EVERY_MS = 60 * 60_000
/** The lease of the replica running; renewed every batch, so a replica that dies frees it after this. */
const LEASE_MS = 10 * 60_000
const BATCH = 5_000
const DAY_MS = 86_400_000
const FINISHED_JOBS_DAYS = 7
/** Embedded maintenance: tables up to this size get statistics at every run (see #maintain). */
const ANALYZE_MAX_BYTES = 16 * 2 ** 20

export interface RetentionResult {
  started_at: string
  finished_at: string
  /** Rows deleted per kind (usage records also summed into usage_rollups first). */
  deleted: {
    audit_events: number
    usage_records: number
    plugin_logs: number
    chatbot_conversations: number
    responses: number
    conversations: number
    notification_events: number
    /** Jobs finished (done or failed) over FINISHED_JOBS_DAYS ago: history only, kept by nothing else. */
    finished_jobs: number
  }
  /** The cut-off of each kind in force (null: kept). */
  cutoffs: Record<string, string | null>
}

/**
 * Scheduled deletion of what is older than its setting's period: audit events, usage records (summed per day into
 * usage_rollups in the same statement that deletes them, so totals stay), plugin logs (with their host-call audit,
 * stats and cron history), chatbot conversations (by their last message), stored responses and Responses-API
 * conversations, and old notification events. One replica at a time: the run is a lease on one row (a replica that
 * dies holding it frees it when the lease runs out), taken at most once an hour across all replicas. Deletes go in
 * batches, so no long transaction holds the tables.
 */
export class RetentionService {
  #timer: ReturnType<typeof setInterval> | undefined
  #first: ReturnType<typeof setTimeout> | undefined
  #running: Promise<RetentionResult | null> | null = null

  constructor(
    readonly deps: {
      sql: Sql
      log: Logger
      audit: AuditLog
      settings: PlatformSettings
      replica: string
      /** The embedded database, which has no autovacuum: each run also vacuums and analyses it (see #maintain). */
      embedded?: boolean
    },
  ) {}

  start(): void {
    this.#timer = setInterval(() => void this.tick(), TICK_MS)
    this.#timer.unref()
    // Soon after start, not at once: a replica starting does enough.
    this.#first = setTimeout(() => void this.tick(), 60_000)
    this.#first.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    clearTimeout(this.#first)
    await this.#running?.catch(() => null)
  }

  tick(): Promise<RetentionResult | null> {
    return this.run({ force: false }).catch((err) => {
      this.deps.log.error({ err: (err as Error).message }, 'retention run failed')
      return null
    })
  }

  async status() {
    const [row] = await this.deps.sql<{ locked_by: string | null; locked_until: Date | null; last_started_at: Date | null; last_finished_at: Date | null; last_result: RetentionResult | null }[]>`
      SELECT locked_by, locked_until, last_started_at, last_finished_at, last_result FROM retention_runs`
    const s = this.deps.settings.current
    const running = row?.locked_until ? row.locked_until > new Date() : false
    return {
      periods: {
        audit_days: s.retention_audit_days,
        usage_days: s.retention_usage_days,
        plugin_logs_days: s.retention_plugin_logs_days,
        conversations_days: s.retention_conversations_days,
        responses_days: s.retention_responses_days,
      },
      running,
      last_started_at: row?.last_started_at ?? null,
      last_finished_at: row?.last_finished_at ?? null,
      next_run_after: row?.last_finished_at ? new Date(row.last_finished_at.getTime() + RUN_EVERY_MS) : null,
      last_result: row?.last_result ?? null,
    }
  }

  /**
   * Runs when due (or now, with `force`) and this replica takes the lease; null when another replica holds it or the
   * last run is recent. A forced run while another is running is a 409.
   */
  run(opts: { force: boolean; now?: Date }): Promise<RetentionResult | null> {
    if (this.#running) {
      if (opts.force) throw new ApiError('conflict', 'A retention run is already under way on this replica')
      return this.#running
    }
    this.#running = this.#run(opts).finally(() => {
      this.#running = null
    })
    return this.#running
  }

  async #run(opts: { force: boolean; now?: Date }): Promise<RetentionResult | null> {
    const sql = this.deps.sql
    const replica = this.deps.replica
    const [claimed] = await sql`
      UPDATE retention_runs SET locked_by = ${replica}, locked_until = now() + ${LEASE_MS} * interval '1 millisecond', last_started_at = now()
      WHERE id AND (locked_until IS NULL OR locked_until < now())
        AND (${opts.force} OR last_finished_at IS NULL OR last_finished_at < now() - ${RUN_EVERY_MS} * interval '1 millisecond')
      RETURNING id`
    if (!claimed) {
      if (opts.force) throw new ApiError('conflict', 'A retention run is already under way on another replica; try again when it finished')
      return null
    }
    const now = opts.now ?? new Date()
    const started = new Date()
    const s = this.deps.settings.current
    const cutoff = (days: number | null) => (days === null ? null : new Date(now.getTime() - days * DAY_MS))
    const cutoffs = {
      audit_events: cutoff(s.retention_audit_days),
      usage_records: cutoff(s.retention_usage_days),
      plugin_logs: cutoff(s.retention_plugin_logs_days),
      chatbot_conversations: cutoff(s.retention_conversations_days),
      responses: cutoff(s.retention_responses_days),
    }
    const renew = () => sql`UPDATE retention_runs SET locked_until = now() + ${LEASE_MS} * interval '1 millisecond' WHERE locked_by = ${replica}`
    /** Runs `batch` until it deletes fewer than BATCH rows; returns the total. */
    const drain = async (batch: () => Promise<number>): Promise<number> => {
      let total = 0
      for (;;) {
        const n = await batch()
        total += n
        await renew()
        if (n < BATCH) return total
        await Bun.sleep(5)
      }
    }
    const deleted: RetentionResult['deleted'] = {
      audit_events: 0,
      usage_records: 0,
      plugin_logs: 0,
      chatbot_conversations: 0,
      responses: 0,
      conversations: 0,
      notification_events: 0,
      finished_jobs: 0,
    }
    try {
      const c = cutoffs
      if (c.audit_events) {
        const at = c.audit_events
        deleted.audit_events = await drain(async () => (await sql`DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE created_at < ${at} LIMIT ${BATCH})`).count)
        // Notification events are a log too: gone with the audit events of their age, once nothing is left to deliver.
        deleted.notification_events = await drain(
          async () =>
            (
              await sql`
                DELETE FROM notification_events WHERE id IN (
                  SELECT e.id FROM notification_events e WHERE e.created_at < ${at}
                    AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.event_id = e.id AND d.status IN ('pending', 'delivering'))
                  LIMIT ${BATCH})`
            ).count,
        )
      }
      if (c.usage_records) {
        const at = c.usage_records
        // One statement: the records leave and their daily sums arrive together, or neither.
        deleted.usage_records = await drain(
          async () =>
            (
              await sql`
                WITH gone AS (
                  DELETE FROM usage_records WHERE id IN (SELECT id FROM usage_records WHERE created_at < ${at} LIMIT ${BATCH})
                  RETURNING *
                ), summed AS (
                  INSERT INTO usage_rollups (day, user_id, api_key_id, model, provider, source, endpoint, is_tee, requests, errors,
                    prompt_tokens, completion_tokens, cost_micros, latency_ms_sum, latency_count)
                  SELECT (created_at AT TIME ZONE 'UTC')::date, user_id, api_key_id, model, provider, source, endpoint, is_tee,
                    count(*), count(*) FILTER (WHERE status >= 400), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),
                    coalesce(sum(cost_micros), 0), coalesce(sum(latency_ms), 0), count(latency_ms)
                  FROM gone GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
                  RETURNING requests
                )
                SELECT count(*)::int AS n FROM gone`
            )[0]!.n as number,
        )
      }
      if (c.plugin_logs) {
        const at = c.plugin_logs
        deleted.plugin_logs = await drain(async () => (await sql`DELETE FROM plugin_logs WHERE id IN (SELECT id FROM plugin_logs WHERE created_at < ${at} LIMIT ${BATCH})`).count)
        await sql`DELETE FROM plugin_audit WHERE created_at < ${at}`
        // Stats cover 7 days, whatever the period.
        await sql`DELETE FROM plugin_invocations WHERE created_at < ${new Date(Math.min(at.getTime(), now.getTime() - 7 * DAY_MS))}`
        await sql`DELETE FROM plugin_cron_runs WHERE started_at < ${at} AND status <> 'running'`
      }
      if (c.chatbot_conversations) {
        const at = c.chatbot_conversations
        deleted.chatbot_conversations = await drain(
          async () => (await sql`DELETE FROM chatbot_conversations WHERE id IN (SELECT id FROM chatbot_conversations WHERE updated_at < ${at} LIMIT ${BATCH})`).count,
        )
      }
      if (c.responses) {
        const at = c.responses
        deleted.responses = await drain(async () => (await sql`DELETE FROM responses WHERE id IN (SELECT id FROM responses WHERE created_at < ${at} LIMIT ${BATCH})`).count)
        deleted.conversations = await drain(
          async () => (await sql`DELETE FROM conversations WHERE id IN (SELECT id FROM conversations WHERE updated_at < ${at} LIMIT ${BATCH})`).count,
        )
      }
      const finishedBefore = new Date(now.getTime() - FINISHED_JOBS_DAYS * DAY_MS)
      deleted.finished_jobs = await drain(
        async () =>
          (await sql`DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status IN ('done', 'failed') AND updated_at < ${finishedBefore} LIMIT ${BATCH})`).count,
      )
      if (this.deps.embedded) await this.#maintain()
      const result: RetentionResult = {
        started_at: started.toISOString(),
        finished_at: new Date().toISOString(),
        deleted,
        cutoffs: Object.fromEntries(Object.entries(cutoffs).map(([k, v]) => [k, v?.toISOString() ?? null])),
      }
      await sql`
        UPDATE retention_runs SET locked_by = NULL, locked_until = NULL, last_finished_at = now(), last_result = ${sql.json(result as never)}
        WHERE locked_by = ${replica}`
      await this.deps.audit.record(
        { action: 'retention.run', outcome: 'success', actor: { label: 'retention' }, resource: { type: 'retention', id: 'platform' }, details: { ...result } },
        { requestId: `retention-${started.getTime()}`, ip: null, userAgent: null },
      )
      const total = Object.values(deleted).reduce((a, b) => a + b, 0)
      this.deps.log.info({ deleted, replica }, total > 0 ? 'retention run deleted expired data' : 'retention run: nothing expired')
      return result
    } catch (err) {
      await sql`UPDATE retention_runs SET locked_by = NULL, locked_until = NULL WHERE locked_by = ${replica}`.catch(() => {})
      throw err
    }
  }

  /**
   * What autovacuum does on a server, for the embedded database, which runs PostgreSQL as a single session without
   * it: dead rows (every job, document status and budget reservation leaves some) were never removed, and no table
   * ever had statistics, so the planner guessed row counts (a job claim read and sorted the whole backlog). One
   * statement per table, so other queries run in between. A vacuum reads only the pages changed since the last one
   * (the visibility map): 63 ms, then 3-5 ms, for 20,000 SciFact abstracts (47 MB). Statistics are sampled, but
   * their cost is the columns' values: 350-400 ms for that table's texts, the one connection held all along. So
   * tables over ANALYZE_MAX_BYTES (chunk texts, message logs, looked up by key) keep the planner's defaults, except
   * the jobs table, whose claims need its statistics. Failures are logged: the next run tries again.
   */
  async #maintain(): Promise<void> {
    const sql = this.deps.sql
    const tables = await sql<{ name: string; bytes: string }[]>`
      SELECT c.relname AS name, pg_table_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname = current_schema() ORDER BY c.relname`
    for (const { name, bytes } of tables) {
      try {
        if (name === 'jobs' || Number(bytes) <= ANALYZE_MAX_BYTES) await sql`VACUUM (ANALYZE) ${sql(name)}`
        else await sql`VACUUM ${sql(name)}`
      } catch (err) {
        this.deps.log.warn({ table: name, err: (err as Error).message }, 'embedded database maintenance failed')
      }
    }
  }
}
