import type { Sql, Tx } from '../db/client.ts'
import type { Logger } from '../log.ts'

/** Whose money a request spends: the budgets of the key, of its owner, and the global ones apply. */
export interface Spender {
  userId: string
  apiKeyId: string | null
}

export interface Reservation {
  id: string
  budgetIds: string[]
  amountMicros: number
  /** True when a hard budget applies: the request must then be capped to what was reserved. */
  hard: boolean
}

export interface BudgetRow {
  id: string
  name: string
  scope: 'global' | 'user' | 'api_key'
  user_id: string | null
  api_key_id: string | null
  limit_micros: string
  period: 'daily' | 'weekly' | 'monthly' | 'yearly' | 'custom'
  period_start: Date
  period_end: Date
  is_hard: boolean
  warn_threshold_pct: number
  spent_micros: string
  reserved_micros: string
  warned_at: Date | null
  is_active: boolean
  created_at: Date
  updated_at: Date
}

export class BudgetExceeded extends Error {
  constructor(readonly budget: { id: string; name: string; limit_micros: string; spent_micros: string; reserved_micros: string }) {
    super(`budget "${budget.name}" would be exceeded`)
  }
}

const PERIOD_UNIT = { daily: 'day', weekly: 'week', monthly: 'month', yearly: 'year' } as const

/**
 * Budgets are never overspent: before dispatch the worst-case cost is reserved in one transaction that locks every
 * applicable budget row (in id order, so concurrent requests cannot deadlock) and checks hard limits against
 * spent + reserved. Each replica and each concurrent request sees the others' reservations.
 */
export class BudgetService {
  readonly #sql: Sql
  readonly #log: Logger
  constructor(sql: Sql, log: Logger) {
    this.#sql = sql
    this.#log = log
  }

  async reserve(spender: Spender, amountMicros: number, ttlMs: number): Promise<Reservation> {
    const id = crypto.randomUUID()
    return this.#sql.begin(async (tx) => {
      // Periods that ended roll over here, under the same lock, so renewal needs no scheduler.
      const rows = await tx<BudgetRow[]>`
        SELECT * FROM budgets
        WHERE is_active
          AND (scope = 'global' OR user_id = ${spender.userId} OR api_key_id = ${spender.apiKeyId})
          AND (period <> 'custom' OR (period_start <= now() AND period_end > now()))
        ORDER BY id
        FOR UPDATE`
      for (const b of rows) {
        if (b.period !== 'custom' && b.period_end <= new Date()) {
          const unit = PERIOD_UNIT[b.period]
          const [rolled] = await tx<BudgetRow[]>`
            UPDATE budgets SET spent_micros = 0, warned_at = NULL,
              period_start = date_trunc(${unit}, now()),
              period_end = date_trunc(${unit}, now()) + make_interval(
                days => CASE WHEN ${unit} = 'day' THEN 1 WHEN ${unit} = 'week' THEN 7 ELSE 0 END,
                months => CASE WHEN ${unit} = 'month' THEN 1 ELSE 0 END,
                years => CASE WHEN ${unit} = 'year' THEN 1 ELSE 0 END),
              updated_at = now()
            WHERE id = ${b.id} RETURNING *`
          if (rolled) Object.assign(b, rolled)
        }
      }
      const over = rows.find(
        (b) => b.is_hard && BigInt(b.spent_micros) + BigInt(b.reserved_micros) + BigInt(amountMicros) > BigInt(b.limit_micros),
      )
      if (over) throw new BudgetExceeded(over)
      const budgetIds = rows.map((b) => b.id)
      if (budgetIds.length) {
        await tx`UPDATE budgets SET reserved_micros = reserved_micros + ${amountMicros} WHERE id = ANY(${budgetIds}::uuid[])`
        await tx`
          INSERT INTO budget_reservations (id, budget_ids, amount_micros, expires_at)
          VALUES (${id}, ${budgetIds}::uuid[], ${amountMicros}, now() + make_interval(secs => ${ttlMs / 1000}))`
      }
      return { id, budgetIds, amountMicros, hard: rows.some((b) => b.is_hard) }
    })
  }

  /**
   * Replaces a reservation by the actual cost, inside the transaction that records the usage. Runs at most once
   * per reservation: a retried settle after a lost reply finds the reservation gone and changes nothing.
   * Returns the budgets that crossed their warning threshold with this spend.
   */
  async settle(tx: Tx, reservation: Reservation, actualMicros: number): Promise<BudgetRow[]> {
    if (!reservation.budgetIds.length) return []
    const released = await tx`DELETE FROM budget_reservations WHERE id = ${reservation.id} RETURNING id`
    if (!released.length) return []
    const updated = await tx<BudgetRow[]>`
      UPDATE budgets SET
        reserved_micros = greatest(0, reserved_micros - ${reservation.amountMicros}),
        spent_micros = spent_micros + ${actualMicros},
        updated_at = now()
      WHERE id = ANY(${reservation.budgetIds}::uuid[])
      RETURNING *`
    const crossed = updated.filter(
      (b) => !b.warned_at && BigInt(b.spent_micros) * 100n >= BigInt(b.limit_micros) * BigInt(b.warn_threshold_pct),
    )
    if (crossed.length)
      await tx`UPDATE budgets SET warned_at = now() WHERE id = ANY(${crossed.map((b) => b.id)}::uuid[])`
    return crossed
  }

  /** Releases reservations whose request never settled (its replica died); their hold must not block forever. */
  async releaseExpired(): Promise<number> {
    return this.#sql.begin(async (tx) => {
      const expired = await tx<{ id: string; budget_ids: string[]; amount_micros: string }[]>`
        DELETE FROM budget_reservations WHERE expires_at < now()
        RETURNING id, budget_ids, amount_micros`
      for (const r of expired)
        await tx`
          UPDATE budgets SET reserved_micros = greatest(0, reserved_micros - ${r.amount_micros}::bigint)
          WHERE id = ANY(${r.budget_ids}::uuid[])`
      if (expired.length) this.#log.warn({ count: expired.length }, 'released expired budget reservations')
      return expired.length
    })
  }
}
