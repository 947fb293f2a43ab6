import type { Sql, Tx } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { CacheStore } from '../cache/types.ts'
import type { Logger } from '../log.ts'
import { BudgetLeases, type Lease, type LeaseOptions } from './leases.ts'
import { toMicros, type CreateBudgetInput, type UpdateBudgetInput } from './model.ts'

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
  /** Held on this replica's leases (one per budget) instead of a reservation row of its own. */
  leases?: readonly Lease[]
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

/** The budgets that govern a spender's requests: the global ones, the user's and the key's. */
const appliesTo = (sql: Sql | Tx, spender: Spender) =>
  sql`(scope = 'global' OR user_id = ${spender.userId} OR api_key_id = ${spender.apiKeyId})`

const spenderKey = (spender: Spender) => `${spender.userId}|${spender.apiKeyId}`

const CHANGED_CHANNEL = 'budgets:changed'
/** Bounds how long a missed invalidation could matter (e.g. a message lost while Redis was restarting). */
const SPENDER_TTL_MS = 15_000

/** A budget as the hot path needs it: whether it is hard and when it applies (local clock). */
interface KnownBudget {
  id: string
  isHard: boolean
  custom: boolean
  start: number
  end: number
}

const PERIOD_UNIT = { daily: 'day', weekly: 'week', monthly: 'month', yearly: 'year' } as const

/**
 * Budgets are never overspent. Each replica leases slices of the budgets its requests spend (see leases.ts): a
 * lease is a reservation row every replica sees, grown only within hard limits, and requests hold parts of it in
 * memory, so the usual request needs no SQL at all. When a lease cannot cover a request (near the limit, a grant
 * refused) the request takes the exact path: one statement that locks every applicable budget row (in id order, so
 * concurrent requests cannot deadlock), checks hard limits against spent + reserved and records a reservation.
 */
export class BudgetService {
  readonly #sql: Sql
  readonly #log: Logger
  readonly #cache: CacheStore
  readonly #leases: BudgetLeases
  /** Per spender, the budgets that apply (often none). Cleared on every replica by any change. */
  #spenders = new Map<string, { budgets: KnownBudget[]; loadedAt: number }>()
  #loading = new Map<string, Promise<KnownBudget[]>>()
  /** Bumped by every change, so a lookup that raced with one is not cached. */
  #generation = 0
  #unsubscribe: (() => Promise<void>) | null = null

  constructor(sql: Sql, cache: CacheStore, log: Logger, leases: LeaseOptions = {}) {
    this.#sql = sql
    this.#cache = cache
    this.#log = log
    this.#leases = new BudgetLeases(sql, log, leases)
  }

  async start(): Promise<void> {
    this.#unsubscribe = await this.#cache.subscribe(CHANGED_CHANNEL, () => this.#invalidate())
    this.#leases.start()
  }

  /** After the usage ledger stopped: every lease goes back, so a stopped replica holds no budget. */
  async stop(): Promise<void> {
    await this.#unsubscribe?.()
    await this.#leases.stop()
  }

  #invalidate(): void {
    this.#generation++
    this.#spenders.clear()
    this.#loading.clear()
    this.#leases.invalidate()
  }

  async #changed(): Promise<void> {
    this.#invalidate()
    await this.#cache.publish(CHANGED_CHANNEL, 'changed')
  }

  /**
   * Gives back every lease now (the timer gives back idle ones; stop gives back all); a lease with requests in
   * flight shrinks to what they hold. Later requests lease afresh.
   */
  returnLeases(): Promise<void> {
    this.#leases.invalidate()
    return this.#leases.maintain()
  }

  async #budgetsOf(spender: Spender): Promise<KnownBudget[]> {
    const key = spenderKey(spender)
    const known = this.#spenders.get(key)
    if (known && Date.now() - known.loadedAt < SPENDER_TTL_MS) return known.budgets
    const loading = this.#loading.get(key)
    if (loading) return loading
    const generation = this.#generation
    const load = this.#sql<{ id: string; is_hard: boolean; period: string; period_start: Date; period_end: Date }[]>`
      SELECT id, is_hard, period, period_start, period_end FROM budgets WHERE is_active AND ${appliesTo(this.#sql, spender)}`
      .then((rows) => {
        const budgets = rows.map((r) => ({
          id: r.id,
          isHard: r.is_hard,
          custom: r.period === 'custom',
          start: r.period_start.getTime(),
          end: r.period_end.getTime(),
        }))
        if (generation === this.#generation) this.#spenders.set(key, { budgets, loadedAt: Date.now() })
        return budgets
      })
      .finally(() => {
        if (this.#loading.get(key) === load) this.#loading.delete(key)
      })
    this.#loading.set(key, load)
    return load
  }

  /**
   * The hot path. The spender's budgets come from memory; when this replica's leases cover the request it is held
   * there and no SQL runs. Otherwise the leases grow (one statement), or the request takes the exact path. A budget
   * whose period has ended takes the exact path, which renews it.
   */
  async reserve(spender: Spender, amountMicros: number, ttlMs: number): Promise<Reservation> {
    const id = crypto.randomUUID()
    const budgets = await this.#budgetsOf(spender)
    const now = Date.now()
    const current = budgets.filter((b) => !b.custom || (b.start <= now && b.end > now))
    if (!current.length) return { id, budgetIds: [], amountMicros, hard: false }
    if (current.some((b) => !b.custom && b.end <= now)) {
      this.#spenders.delete(spenderKey(spender))
      return this.#reserveExact(id, spender, amountMicros, ttlMs)
    }
    const leases = await this.#leases.take(current, amountMicros, ttlMs)
    if (leases) return { id, budgetIds: current.map((b) => b.id), amountMicros, hard: current.some((b) => b.isHard), leases }
    return this.#reserveExact(id, spender, amountMicros, ttlMs)
  }

  /**
   * The exact path: one statement (one round trip) that locks the applicable budgets, checks every hard limit and
   * records the reservation, or changes nothing. A budget whose period has ended takes the slower path that renews it.
   */
  async #reserveExact(id: string, spender: Spender, amountMicros: number, ttlMs: number): Promise<Reservation> {
    const [v] = await this.#sql<{ ok: boolean; stale: boolean; hard: boolean; ids: string[] | null; over: BudgetRow | null }[]>`
      WITH candidates AS (
        SELECT * FROM budgets
        WHERE is_active
          AND ${appliesTo(this.#sql, spender)}
          AND (period <> 'custom' OR (period_start <= now() AND period_end > now()))
        ORDER BY id
        FOR UPDATE
      ), verdict AS (
        SELECT
          coalesce(bool_and(NOT is_hard OR spent_micros + reserved_micros + ${amountMicros} <= limit_micros), true) AS ok,
          coalesce(bool_or(period <> 'custom' AND period_end <= now()), false) AS stale,
          coalesce(bool_or(is_hard), false) AS hard,
          array_agg(id ORDER BY id) AS ids,
          (array_agg(to_jsonb(candidates) ORDER BY id)
            FILTER (WHERE is_hard AND spent_micros + reserved_micros + ${amountMicros} > limit_micros))[1] AS over
        FROM candidates
      ), reserved AS (
        UPDATE budgets b SET reserved_micros = b.reserved_micros + ${amountMicros}
        FROM verdict v
        WHERE b.id = ANY(v.ids) AND v.ok AND NOT v.stale
        RETURNING b.id
      ), recorded AS (
        INSERT INTO budget_reservations (id, budget_ids, amount_micros, expires_at)
        SELECT ${id}, v.ids, ${amountMicros}, now() + make_interval(secs => ${ttlMs / 1000})
        FROM verdict v WHERE v.ok AND NOT v.stale AND v.ids IS NOT NULL
        RETURNING id
      )
      SELECT v.ok, v.stale, v.hard, v.ids, v.over, (SELECT count(*) FROM reserved) AS n, (SELECT count(*) FROM recorded) AS r
      FROM verdict v`
    if (!v) throw new Error('reservation statement returned no row')
    if (v.stale) return this.#reserveWithRenewal(id, spender, amountMicros, ttlMs)
    if (!v.ok && v.over) throw new BudgetExceeded(v.over)
    return { id, budgetIds: v.ids ?? [], amountMicros, hard: v.hard }
  }

  async #reserveWithRenewal(id: string, spender: Spender, amountMicros: number, ttlMs: number): Promise<Reservation> {
    return this.#sql.begin(async (tx) => {
      // Periods that ended roll over here, under the same lock, so renewal needs no scheduler.
      const rows = await tx<BudgetRow[]>`
        SELECT * FROM budgets
        WHERE is_active
          AND ${appliesTo(tx, spender)}
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
   * Replaces reservations by their actual costs, inside the transaction that records the usage. The caller passes
   * only requests whose usage record this transaction inserted, so each settles once; a per-request reservation is
   * also deleted exactly once (a retried batch finds it gone). A lease-backed request adds its cost to spent and takes
   * it out of its lease rows. A few statements per batch, whatever its size. Returns the budgets that crossed their
   * warning threshold. Call `settled` with the same items once the transaction has committed.
   */
  async settle(tx: Tx, items: readonly { reservation: Reservation; actualMicros: number }[]): Promise<BudgetRow[]> {
    const held = items.filter((i) => i.reservation.budgetIds.length)
    if (!held.length) return []
    const perBudget = new Map<string, { release: number; spend: number }>()
    const add = (budgetId: string, release: number, spend: number) => {
      const sums = perBudget.get(budgetId) ?? { release: 0, spend: 0 }
      sums.release += release
      sums.spend += spend
      perBudget.set(budgetId, sums)
    }
    const leased = held.filter((i) => i.reservation.leases)
    const exact = held.filter((i) => !i.reservation.leases)
    if (leased.length) {
      // Budget rows first, in id order, as lease grants and maintenance lock them: no deadlock between them.
      const budgetIds = [...new Set(held.flatMap((i) => i.reservation.budgetIds))].sort()
      await tx`SELECT 1 FROM budgets WHERE id = ANY(${budgetIds}::uuid[]) ORDER BY id FOR UPDATE`
    }
    if (exact.length) {
      const released = new Set(
        (await tx<{ id: string }[]>`
          DELETE FROM budget_reservations WHERE id = ANY(${exact.map((i) => i.reservation.id)}::uuid[]) RETURNING id`).map((r) => r.id),
      )
      // Each item settles once (only records this transaction inserted come here), so its cost is spent whether
      // or not its reservation row is still there: a row swept after expiring (a long stream, an outage) has
      // already given its hold back, and its spend must not be dropped with it.
      for (const { reservation, actualMicros } of exact)
        for (const budgetId of reservation.budgetIds) add(budgetId, released.has(reservation.id) ? reservation.amountMicros : 0, actualMicros)
    }
    if (leased.length) {
      const perLease = new Map<string, number>()
      for (const { reservation, actualMicros } of leased) {
        for (const budgetId of reservation.budgetIds) add(budgetId, 0, actualMicros)
        for (const lease of reservation.leases ?? []) perLease.set(lease.id, (perLease.get(lease.id) ?? 0) + actualMicros)
      }
      for (const row of await this.#leases.settleRows(tx, perLease)) add(row.budget_id, Number(row.freed), 0)
    }
    if (!perBudget.size) return []
    const ids = [...perBudget.keys()]
    const updated = await tx<BudgetRow[]>`
      UPDATE budgets b SET
        reserved_micros = greatest(0, b.reserved_micros - u.release),
        spent_micros = b.spent_micros + u.spend,
        updated_at = now()
      FROM unnest(${ids}::uuid[], ${ids.map((i) => perBudget.get(i)?.release ?? 0)}::bigint[],
                  ${ids.map((i) => perBudget.get(i)?.spend ?? 0)}::bigint[]) AS u(id, release, spend)
      WHERE b.id = u.id AND b.id = ANY(${ids}::uuid[])
      RETURNING b.*`
    const crossed = updated.filter(
      (b) => !b.warned_at && BigInt(b.spent_micros) * 100n >= BigInt(b.limit_micros) * BigInt(b.warn_threshold_pct),
    )
    if (crossed.length)
      await tx`UPDATE budgets SET warned_at = now() WHERE id = ANY(${crossed.map((b) => b.id)}::uuid[])`
    return crossed
  }

  /** After the usage transaction committed: lease-backed requests release their holds in memory. */
  settled(items: readonly { reservation: Reservation; actualMicros: number }[]): void {
    this.#leases.settled(
      items.flatMap(({ reservation, actualMicros }) =>
        reservation.leases ? [{ leases: reservation.leases, held: reservation.amountMicros, cost: actualMicros }] : [],
      ),
    )
  }

  async create(input: CreateBudgetInput, createdBy: string): Promise<BudgetRow> {
    if (input.scope === 'user' && !input.user_id) throw new ApiError('validation_failed', 'a user budget needs user_id', 'user_id')
    if (input.scope === 'api_key' && !input.api_key_id)
      throw new ApiError('validation_failed', 'an API key budget needs api_key_id', 'api_key_id')
    if (input.period === 'custom' && !(input.period_start && input.period_end && input.period_start < input.period_end))
      throw new ApiError('validation_failed', 'a custom period needs period_start before period_end', 'period_end')
    const unit = input.period === 'custom' ? null : PERIOD_UNIT[input.period]
    try {
      const [row] = await this.#sql<BudgetRow[]>`
        INSERT INTO budgets (name, scope, user_id, api_key_id, limit_micros, period, period_start, period_end, is_hard,
          warn_threshold_pct, created_by)
        VALUES (${input.name}, ${input.scope}, ${input.scope === 'user' ? (input.user_id ?? null) : null},
          ${input.scope === 'api_key' ? (input.api_key_id ?? null) : null}, ${toMicros(input.limit_usd)}, ${input.period},
          ${unit ? this.#sql`date_trunc(${unit}, now())` : (input.period_start ?? null)},
          ${unit ? this.#sql`date_trunc(${unit}, now()) + ${`1 ${unit}`}::interval` : (input.period_end ?? null)},
          ${input.is_hard ?? true}, ${input.warn_threshold_pct ?? 80}, ${createdBy})
        RETURNING *`
      if (!row) throw new Error('insert returned no row')
      await this.#changed()
      return row
    } catch (err) {
      if ((err as { code?: string }).code === '23503')
        throw new ApiError('validation_failed', 'the user or API key does not exist', input.scope === 'user' ? 'user_id' : 'api_key_id')
      throw err
    }
  }

  /** What the spender's budget status shows: every active budget that applies, in any period. */
  async applicable(spender: Spender): Promise<BudgetRow[]> {
    return this.#sql<BudgetRow[]>`
      SELECT * FROM budgets WHERE is_active AND ${appliesTo(this.#sql, spender)} ORDER BY scope, name`
  }

  async get(id: string): Promise<BudgetRow | null> {
    const [row] = await this.#sql<BudgetRow[]>`SELECT * FROM budgets WHERE id = ${id}`
    return row ?? null
  }

  /** `userId` null: every budget. Otherwise those that concern the user: global, theirs, their keys'. */
  async list(userId: string | null): Promise<BudgetRow[]> {
    return this.#sql<BudgetRow[]>`
      SELECT b.* FROM budgets b LEFT JOIN api_keys k ON k.id = b.api_key_id
      WHERE ${userId}::uuid IS NULL OR b.scope = 'global' OR b.user_id = ${userId} OR k.user_id = ${userId}
      ORDER BY b.scope, b.name, b.id`
  }

  async update(id: string, patch: UpdateBudgetInput): Promise<BudgetRow | null> {
    const { limit_usd, ...rest } = patch
    const fields: Record<string, unknown> = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined))
    if (limit_usd !== undefined) fields.limit_micros = toMicros(limit_usd)
    const [row] = await this.#sql<BudgetRow[]>`
      UPDATE budgets SET ${this.#sql(fields)}, updated_at = now() WHERE id = ${id} RETURNING *`
    await this.#changed()
    return row ?? null
  }

  async delete(id: string): Promise<boolean> {
    const deleted = (await this.#sql`DELETE FROM budgets WHERE id = ${id}`).count > 0
    await this.#changed()
    return deleted
  }

  /** Releases reservations and leases whose replica died (or lost the database for their whole TTL). */
  async releaseExpired(): Promise<number> {
    return this.#sql.begin(async (tx) => {
      const expired = await tx<{ id: string; budget_ids: string[]; amount_micros: string; kind: string }[]>`
        DELETE FROM budget_reservations WHERE expires_at < now()
        RETURNING id, budget_ids, amount_micros, kind`
      for (const r of expired)
        await tx`
          UPDATE budgets SET reserved_micros = greatest(0, reserved_micros - ${r.amount_micros}::bigint)
          WHERE id = ANY(${r.budget_ids}::uuid[])`
      if (expired.length)
        this.#log.warn(
          { count: expired.length, leases: expired.filter((r) => r.kind === 'lease').length },
          'released expired budget reservations',
        )
      return expired.length
    })
  }
}
