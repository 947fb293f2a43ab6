import type { AuditLog } from '../audit/service.ts'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import type { BudgetService, Reservation } from '../budgets/service.ts'

/** What made the call: the public API, the dashboard's playground, or a platform feature for a user. */
export type UsageSource = 'api' | 'playground' | 'rag' | 'chatbot' | 'plugin'

export interface UsageEntry {
  /** Made before dispatch: a retried write is recognised and never counted twice. */
  id: string
  requestId: string
  source: UsageSource
  apiKeyId: string | null
  userId: string
  model: string
  provider: string | null
  endpoint: string
  promptTokens: number
  completionTokens: number
  costMicros: number
  latencyMs: number
  ttftMs: number | null
  status: number
  errorCode: string | null
  isTee: boolean
  streamed: boolean
}

interface Pending {
  entry: UsageEntry
  reservation: Reservation | null
  attempts: number
  /** When the request ended: the record's time, whenever the batch (or its retry) is written. */
  at: Date
}

const MAX_BACKOFF_MS = 30_000
/** Records per transaction: amortises the round trips under load, small enough to keep transactions short. */
const BATCH = 200
const COLUMNS =
  'id, created_at, request_id, source, api_key_id, user_id, model, provider, endpoint, prompt_tokens, completion_tokens, ' +
  'cost_micros, latency_ms, ttft_ms, status, error_code, is_tee, streamed'

/**
 * Writes usage and settles budgets off the response path. A write that fails (database briefly down) stays queued
 * and is retried with backoff until it lands; the record and the budget settlement commit together, so a retry
 * can neither lose nor double-count. Reservations stay held meanwhile, which errs on the side of the budget.
 */
export class UsageLedger {
  readonly #sql: Sql
  readonly #budgets: BudgetService
  readonly #audit: AuditLog
  readonly #log: Logger
  readonly #onRecorded: (userIds: (string | null)[]) => void
  #queue: Pending[] = []
  #timer: ReturnType<typeof setTimeout> | null = null
  #inFlight: Promise<void> | null = null

  /** `onRecorded` hears whose usage was committed (live dashboards), after the transaction. */
  constructor(deps: { sql: Sql; budgets: BudgetService; audit: AuditLog; log: Logger; onRecorded?: (userIds: (string | null)[]) => void }) {
    this.#onRecorded = deps.onRecorded ?? (() => {})
    this.#sql = deps.sql
    this.#budgets = deps.budgets
    this.#audit = deps.audit
    this.#log = deps.log
  }

  get pending(): number {
    return this.#queue.length
  }

  record(entry: UsageEntry, reservation: Reservation | null): void {
    this.#queue.push({ entry, reservation, attempts: 0, at: new Date() })
    this.#schedule(0)
  }

  #schedule(delayMs: number) {
    if (this.#timer) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.flush()
    }, delayMs)
  }

  /** Writes everything queued; resolves when the queue is empty or the database refused (then retries later). */
  async flush(): Promise<void> {
    if (this.#inFlight) return this.#inFlight
    this.#inFlight = this.#drainOnce().finally(() => (this.#inFlight = null))
    return this.#inFlight
  }

  async #drainOnce(): Promise<void> {
    while (this.#queue.length) {
      const batch = this.#queue.slice(0, BATCH)
      try {
        await this.#write(batch)
        this.#queue.splice(0, batch.length)
      } catch (err) {
        const attempts = (batch[0]?.attempts ?? 0) + 1
        for (const p of batch) p.attempts = attempts
        const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(attempts, 7))
        this.#log.error({ err: (err as Error).message, queued: this.#queue.length, retry_ms: delay }, 'usage write failed; will retry')
        this.#schedule(delay)
        return
      }
    }
  }

  /** One transaction for the whole batch: the records and their budget settlements land together or not at all. */
  async #write(batch: Pending[]): Promise<void> {
    const crossed = await this.#sql.begin(async (tx) => {
      const rows = batch.map(({ entry: e, at }) => ({
        id: e.id,
        created_at: at,
        request_id: e.requestId,
        source: e.source,
        api_key_id: e.apiKeyId,
        user_id: e.userId,
        model: e.model,
        provider: e.provider,
        endpoint: e.endpoint,
        prompt_tokens: e.promptTokens,
        completion_tokens: e.completionTokens,
        cost_micros: e.costMicros,
        latency_ms: e.latencyMs,
        ttft_ms: e.ttftMs,
        status: e.status,
        error_code: e.errorCode,
        is_tee: e.isTee,
        streamed: e.streamed,
      }))
      // One JSON parameter instead of 18 bound values per row: serialising the binds was most of the ledger's CPU.
      const inserted = new Set(
        (
          await tx<{ id: string }[]>`
            INSERT INTO usage_records (${tx.unsafe(COLUMNS)})
            SELECT ${tx.unsafe(COLUMNS)} FROM json_populate_recordset(NULL::usage_records, ${JSON.stringify(rows)}::text::json)
            ON CONFLICT (id) DO NOTHING RETURNING id`
        ).map((r) => r.id),
      )
      const settled = batch.filter((p) => inserted.has(p.entry.id) && p.reservation)
      return this.#budgets.settle(
        tx,
        settled.map((p) => ({ reservation: p.reservation as Reservation, actualMicros: p.entry.costMicros })),
      )
    })
    // Committed: every request of the batch is settled now (by this transaction, or by an earlier attempt that
    // committed without this replica hearing so), so its lease holds go.
    this.#budgets.settled(batch.flatMap((p) => (p.reservation ? [{ reservation: p.reservation, actualMicros: p.entry.costMicros }] : [])))
    this.#onRecorded(batch.map((p) => p.entry.userId))
    // The warning belongs to the budget, not to whichever request happened to cross the line.
    for (const b of crossed)
      await this.#audit.record(
        {
          action: 'budget.warning',
          outcome: 'success',
          actor: { label: 'usage-ledger', userId: b.user_id, apiKeyId: b.api_key_id },
          resource: { type: 'budget', id: b.id },
          details: { name: b.name, scope: b.scope, spent_micros: b.spent_micros, limit_micros: b.limit_micros, threshold_pct: b.warn_threshold_pct },
        },
        { requestId: `budget-warning-${b.id}`, ip: null, userAgent: null },
      )
  }

  /** At shutdown: one last attempt; what still cannot be written is logged with its numbers, not silently lost. */
  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    await this.flush()
    if (this.#queue.length)
      this.#log.error({ unwritten: this.#queue.map((p) => p.entry) }, 'usage records could not be written before shutdown')
  }
}
