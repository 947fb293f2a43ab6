import type { AuditLog } from '../audit/service.ts'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import type { BudgetService, Reservation } from '../budgets/service.ts'

export interface UsageEntry {
  /** Made before dispatch: a retried write is recognised and never counted twice. */
  id: string
  requestId: string
  source: 'api' | 'playground'
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
}

const MAX_BACKOFF_MS = 30_000

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
  #queue: Pending[] = []
  #timer: ReturnType<typeof setTimeout> | null = null
  #inFlight: Promise<void> | null = null

  constructor(deps: { sql: Sql; budgets: BudgetService; audit: AuditLog; log: Logger }) {
    this.#sql = deps.sql
    this.#budgets = deps.budgets
    this.#audit = deps.audit
    this.#log = deps.log
  }

  get pending(): number {
    return this.#queue.length
  }

  record(entry: UsageEntry, reservation: Reservation | null): void {
    this.#queue.push({ entry, reservation, attempts: 0 })
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
      const next = this.#queue[0]
      if (!next) break
      try {
        await this.#write(next)
        this.#queue.shift()
      } catch (err) {
        next.attempts++
        const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(next.attempts, 7))
        this.#log.error({ err: (err as Error).message, queued: this.#queue.length, retry_ms: delay }, 'usage write failed; will retry')
        this.#schedule(delay)
        return
      }
    }
  }

  async #write({ entry: e, reservation }: Pending): Promise<void> {
    const crossed = await this.#sql.begin(async (tx) => {
      const inserted = await tx`
        INSERT INTO usage_records (id, request_id, source, api_key_id, user_id, model, provider, endpoint, prompt_tokens,
          completion_tokens, cost_micros, latency_ms, ttft_ms, status, error_code, is_tee, streamed)
        VALUES (${e.id}, ${e.requestId}, ${e.source}, ${e.apiKeyId}, ${e.userId}, ${e.model}, ${e.provider}, ${e.endpoint},
          ${e.promptTokens}, ${e.completionTokens}, ${e.costMicros}, ${e.latencyMs}, ${e.ttftMs}, ${e.status}, ${e.errorCode},
          ${e.isTee}, ${e.streamed})
        ON CONFLICT (id) DO NOTHING
        RETURNING id`
      if (!inserted.length || !reservation) return []
      return this.#budgets.settle(tx, reservation, e.costMicros)
    })
    for (const b of crossed)
      await this.#audit.record(
        {
          action: 'budget.warning',
          outcome: 'success',
          actor: { userId: e.userId, apiKeyId: e.apiKeyId },
          resource: { type: 'budget', id: b.id },
          details: { name: b.name, spent_micros: b.spent_micros, limit_micros: b.limit_micros, threshold_pct: b.warn_threshold_pct },
        },
        { requestId: e.requestId, ip: null, userAgent: null },
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
