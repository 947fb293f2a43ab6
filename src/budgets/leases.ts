import type { Sql, Tx } from '../db/client.ts'
import type { Logger } from '../log.ts'

/**
 * How a replica borrows budget. Defaults suit production; tests shorten the times.
 * @example new BudgetService(sql, cache, log, { idleMs: 100, tickMs: 50 })
 */
export interface LeaseOptions {
  /** A grant asks for this many requests' worth of budget at a time. */
  requestsPerGrant?: number
  /** A hard budget lends at most 1/roomShare of its remaining room per grant (more only to cover one request). */
  roomShare?: number
  /** Leases serve a hard budget only while its room is at least this many requests; nearer the limit every request
   * takes the exact path, so no replica sits on the last cents. */
  minRoomRequests?: number
  /** A lease with nothing in flight for this long is given back. */
  idleMs?: number
  /** How often leases are renewed, given back and shrunk. */
  tickMs?: number
  /** After a refused grant, how long requests for that budget go straight to the exact path. */
  tightMs?: number
}

const DEFAULTS: Required<LeaseOptions> = {
  requestsPerGrant: 256,
  roomShare: 8,
  minRoomRequests: 32,
  idleMs: 2_000,
  tickMs: 1_000,
  tightMs: 1_000,
}

/** A new hold needs the lease to outlive it by this share of its TTL without any renewal. */
const USE_FRACTION = 0.75
/** Leases are renewed once less than this share of their TTL is left. */
const RENEW_FRACTION = 0.9
/** Grants a request may wait for (each shared with the requests that wait with it) before the exact path. */
const MAX_GRANTS = 3

/**
 * This replica's slice of one budget: one `budget_reservations` row (kind 'lease') of `granted` micros, counted in
 * the budget's `reserved_micros` like any reservation, so every replica sees it. Requests hold parts of it in memory.
 */
export class Lease {
  readonly id = crypto.randomUUID()
  /** What the row holds, as far as this replica knows: grants minus settled costs. */
  granted = 0
  /** Worst-case costs of the requests in flight on this lease. */
  held = 0
  /** Local clock; no later than the row's expiry, as it is taken before the statement that sets it is sent. */
  expiresAt = 0
  ttlMs = 0
  lastUsed = Date.now()
  growing: Promise<void> | null = null

  constructor(readonly budgetId: string) {}

  get available(): number {
    return this.granted - this.held
  }
}

export interface LeasedBudget {
  id: string
}

/**
 * The leases of one replica. `take` serves a request from memory when every budget's lease covers it; otherwise it
 * grows the short leases with one statement that checks the hard limits, or answers null (the caller then takes the
 * exact per-request path). Every statement that changes a lease row first locks its budget row, in id order, like
 * the exact path and settlement do, so they cannot deadlock one another.
 */
export class BudgetLeases {
  readonly #sql: Sql
  readonly #log: Logger
  readonly #o: Required<LeaseOptions>
  /** The lease each budget currently serves requests from. */
  #active = new Map<string, Lease>()
  /** Leases no longer used for new holds: given back once their requests have settled. */
  #draining = new Set<Lease>()
  /** Budgets whose last grant was refused, until when. */
  #tight = new Map<string, number>()
  #timer: ReturnType<typeof setInterval> | null = null
  #maintaining: Promise<void> | null = null
  #queued: Promise<void> | null = null

  constructor(sql: Sql, log: Logger, options: LeaseOptions = {}) {
    this.#sql = sql
    this.#log = log
    this.#o = { ...DEFAULTS, ...options }
  }

  start(): void {
    this.#timer = setInterval(() => void this.maintain(), this.#o.tickMs)
    this.#timer.unref()
  }

  /** Gives back every lease; those with requests still in flight shrink to what those requests hold. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    this.invalidate()
    await this.maintain()
  }

  /** Budgets changed somewhere: no lease serves new requests; what they hold unused goes back at once. */
  invalidate(): void {
    this.#tight.clear()
    for (const lease of this.#active.values()) this.#retire(lease)
    void this.maintain()
  }

  #retire(lease: Lease): void {
    if (this.#active.get(lease.budgetId) === lease) this.#active.delete(lease.budgetId)
    this.#draining.add(lease)
  }

  /**
   * Holds `amount` on a lease of every budget, or answers null when a hard budget cannot lend it (the exact path
   * decides then). The checks and the holds run without an await between them.
   */
  async take(budgets: readonly LeasedBudget[], amount: number, ttlMs: number): Promise<Lease[] | null> {
    for (let grants = 0; ; grants++) {
      const now = Date.now()
      const leases: Lease[] = []
      const short: LeasedBudget[] = []
      for (const b of budgets) {
        const lease = this.#usable(b.id, ttlMs, now)
        if (lease && lease.available >= amount) leases.push(lease)
        else short.push(b)
      }
      if (!short.length) {
        const low: LeasedBudget[] = []
        for (const lease of leases) {
          lease.held += amount
          lease.lastUsed = now
          if (!lease.growing && lease.available < (amount * this.#o.requestsPerGrant) / 4 && !this.#isTight(lease.budgetId, now))
            low.push({ id: lease.budgetId })
        }
        // Running low: the next grant is asked for now, off this request's path, so later requests need not wait.
        if (low.length)
          this.#grow(low, amount, ttlMs).catch((err) =>
            this.#log.warn({ err: (err as Error).message }, 'budget lease grant failed'),
          )
        return leases
      }
      if (grants === MAX_GRANTS || short.some((b) => this.#isTight(b.id, now))) return null
      try {
        await this.#grow(short, amount, ttlMs)
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'budget lease grant failed; reserving exactly')
        return null
      }
    }
  }

  #isTight(budgetId: string, now: number): boolean {
    return (this.#tight.get(budgetId) ?? 0) > now
  }

  #usable(budgetId: string, ttlMs: number, now: number): Lease | undefined {
    const lease = this.#active.get(budgetId)
    if (!lease) return undefined
    if (lease.expiresAt - now >= ttlMs * USE_FRACTION) return lease
    if (lease.growing) return undefined
    // Too close to its expiry for a new hold (renewals failing): a fresh lease replaces it.
    this.#retire(lease)
    return undefined
  }

  /** Grows the short leases; a lease already growing is waited for instead, so concurrent requests share grants. */
  async #grow(short: readonly LeasedBudget[], amount: number, ttlMs: number): Promise<void> {
    const waits: Promise<void>[] = []
    const fresh: Lease[] = []
    for (const b of short) {
      let lease = this.#active.get(b.id)
      if (!lease) {
        lease = new Lease(b.id)
        this.#active.set(b.id, lease)
      }
      if (lease.growing) waits.push(lease.growing)
      else fresh.push(lease)
    }
    if (fresh.length) {
      const grant = this.#grant(fresh, amount, ttlMs)
      const done = grant.finally(() => {
        for (const lease of fresh) lease.growing = null
      })
      for (const lease of fresh) lease.growing = done
      waits.push(done)
    }
    await Promise.all(waits)
  }

  /**
   * One statement: grows each lease by what its budget can lend (adaptive: near the limit, grants shrink towards
   * one request; soft budgets too, so that their reserved amount stays a small share of their room) and adds the
   * same to the budget's reserved_micros, only where a hard limit allows it.
   */
  async #grant(leases: readonly Lease[], amount: number, ttlMs: number): Promise<void> {
    const needs = leases.map((l) => Math.max(0, amount - l.available))
    const wants = needs.map((need) => Math.max(need, amount * this.#o.requestsPerGrant))
    const sentAt = Date.now()
    const rows = await this.#sql<{ budget_id: string; grow: string }[]>`
      WITH u AS (
        SELECT * FROM unnest(${leases.map((l) => l.budgetId)}::uuid[], ${leases.map((l) => l.id)}::uuid[],
          ${needs}::bigint[], ${wants}::bigint[]) AS u(budget_id, lease_id, need, want)
      ), b AS (
        SELECT id, is_hard, limit_micros - spent_micros - reserved_micros AS room
        FROM budgets
        WHERE id IN (SELECT budget_id FROM u) AND is_active
          AND CASE WHEN period = 'custom' THEN period_start <= now() AND period_end > now() ELSE period_end > now() END
        ORDER BY id
        FOR UPDATE
      ), g AS (
        SELECT u.budget_id, u.lease_id,
          least(u.want, greatest(u.need, b.room / ${this.#o.roomShare})) AS grow
        FROM u JOIN b ON b.id = u.budget_id
        WHERE NOT b.is_hard OR (b.room >= ${amount * this.#o.minRoomRequests} AND b.room >= u.need)
      ), leased AS (
        INSERT INTO budget_reservations AS r (id, budget_ids, amount_micros, expires_at, kind)
        SELECT lease_id, ARRAY[budget_id], grow, now() + make_interval(secs => ${ttlMs / 1000}), 'lease' FROM g
        ON CONFLICT (id) DO UPDATE SET amount_micros = r.amount_micros + EXCLUDED.amount_micros,
          expires_at = greatest(r.expires_at, EXCLUDED.expires_at)
        RETURNING r.id
      ), reserved AS (
        UPDATE budgets SET reserved_micros = budgets.reserved_micros + g.grow
        FROM g WHERE budgets.id = g.budget_id
        RETURNING budgets.id
      )
      SELECT budget_id, grow FROM g`
    const granted = new Map(rows.map((r) => [r.budget_id, Number(r.grow)]))
    let refused = false
    for (const lease of leases) {
      const grow = granted.get(lease.budgetId)
      if (grow === undefined) {
        this.#tight.set(lease.budgetId, Date.now() + this.#o.tightMs)
        if (this.#active.get(lease.budgetId) === lease) {
          // Never granted: there is no row to give back. Otherwise its unused rest goes back now: near the limit the
          // exact path must see it, on this replica or another.
          if (lease.expiresAt === 0) this.#active.delete(lease.budgetId)
          else {
            this.#retire(lease)
            refused = true
          }
        }
        continue
      }
      lease.granted += grow
      lease.ttlMs = Math.max(lease.ttlMs, ttlMs)
      lease.expiresAt = Math.max(lease.expiresAt, sentAt + ttlMs)
    }
    if (refused) void this.maintain()
  }

  /**
   * Inside the usage transaction (budget rows already locked by the caller): each lease row shrinks by the costs
   * settled against it. A row the sweep released is gone and shrinks nothing: its amount is already released.
   * Returns what each budget's reserved_micros must lose.
   */
  async settleRows(tx: Tx, spends: ReadonlyMap<string, number>): Promise<{ budget_id: string; freed: string }[]> {
    if (!spends.size) return []
    const ids = [...spends.keys()]
    return tx<{ budget_id: string; freed: string }[]>`
      WITH u AS (SELECT * FROM unnest(${ids}::uuid[], ${ids.map((i) => spends.get(i) ?? 0)}::bigint[]) AS u(id, spend)),
      s AS (
        SELECT r.id, r.budget_ids[1] AS budget_id, least(r.amount_micros, u.spend) AS freed
        FROM budget_reservations r JOIN u ON u.id = r.id
        WHERE r.id = ANY(${ids}::uuid[])
      )
      UPDATE budget_reservations r SET amount_micros = r.amount_micros - s.freed
      FROM s WHERE r.id = s.id
      RETURNING s.budget_id, s.freed`
  }

  /** After the usage transaction committed: the requests no longer hold anything; their costs left the leases. */
  settled(items: readonly { leases: readonly Lease[]; held: number; cost: number }[]): void {
    for (const { leases, held, cost } of items)
      for (const lease of leases) {
        lease.held -= held
        lease.granted -= cost
      }
  }

  /**
   * The timer's work: renews leases in use before they expire, gives back idle and retired ones, shrinks retired
   * ones that still have requests in flight. No SQL when there is nothing to do.
   */
  maintain(): Promise<void> {
    // A pass already running may have looked before the caller's change: one more pass follows it.
    if (this.#maintaining)
      return (this.#queued ??= this.#maintaining.then(() => {
        this.#queued = null
        return this.maintain()
      }))
    this.#maintaining = this.#maintainOnce()
      .catch((err) => this.#log.error({ err: (err as Error).message }, 'budget lease maintenance failed'))
      .finally(() => (this.#maintaining = null))
    return this.#maintaining
  }

  async #maintainOnce(): Promise<void> {
    const now = Date.now()
    for (const [budgetId, until] of this.#tight) if (until <= now) this.#tight.delete(budgetId)
    const release: Lease[] = []
    const shrink: Lease[] = []
    const renew: Lease[] = []
    const due = (l: Lease) => l.expiresAt - now < l.ttlMs * RENEW_FRACTION
    for (const lease of [...this.#active.values()]) {
      if (lease.growing) continue
      if (lease.held <= 0 && now - lease.lastUsed >= this.#o.idleMs) this.#retire(lease)
      else if (due(lease)) renew.push(lease)
    }
    for (const lease of this.#draining) {
      if (lease.growing) continue
      if (lease.held <= 0) release.push(lease)
      else {
        if (lease.granted > lease.held) shrink.push(lease)
        if (due(lease)) renew.push(lease)
      }
    }
    if (!release.length && !shrink.length && !renew.length) return
    for (const lease of release) this.#draining.delete(lease)
    const budgetIds = [...new Set([...release, ...shrink, ...renew].map((l) => l.budgetId))].sort()
    const sentAt = Date.now()
    let alive: Set<string>
    try {
      alive = await this.#sql.begin(async (tx) => {
        await tx`SELECT 1 FROM budgets WHERE id = ANY(${budgetIds}::uuid[]) ORDER BY id FOR UPDATE`
        if (release.length)
          await tx`
            WITH gone AS (
              DELETE FROM budget_reservations WHERE id = ANY(${release.map((l) => l.id)}::uuid[]) AND kind = 'lease'
              RETURNING budget_ids[1] AS budget_id, amount_micros
            )
            UPDATE budgets b SET reserved_micros = greatest(0, b.reserved_micros - g.amount)
            FROM (SELECT budget_id, sum(amount_micros) AS amount FROM gone GROUP BY budget_id) g
            WHERE b.id = g.budget_id`
        const shrinkIds = shrink.map((l) => l.id)
        if (shrink.length)
          // Down to what the requests in flight hold: their settlements still find it.
          await tx`
            WITH s AS (
              SELECT r.id, r.budget_ids[1] AS budget_id, r.amount_micros - least(r.amount_micros, u.keep) AS freed
              FROM budget_reservations r
              JOIN unnest(${shrinkIds}::uuid[], ${shrink.map((l) => l.held)}::bigint[]) AS u(id, keep) ON u.id = r.id
              WHERE r.id = ANY(${shrinkIds}::uuid[])
            ), cut AS (
              UPDATE budget_reservations r SET amount_micros = r.amount_micros - s.freed FROM s WHERE r.id = s.id
            )
            UPDATE budgets b SET reserved_micros = greatest(0, b.reserved_micros - f.freed)
            FROM (SELECT budget_id, sum(freed) AS freed FROM s GROUP BY budget_id) f
            WHERE b.id = f.budget_id`
        if (!renew.length) return new Set<string>()
        const renewIds = renew.map((l) => l.id)
        const rows = await tx<{ id: string }[]>`
          UPDATE budget_reservations r SET expires_at = greatest(r.expires_at, now() + make_interval(secs => u.ttl))
          FROM unnest(${renewIds}::uuid[], ${renew.map((l) => l.ttlMs / 1000)}::float8[]) AS u(id, ttl)
          WHERE r.id = u.id AND r.id = ANY(${renewIds}::uuid[])
          RETURNING r.id`
        return new Set(rows.map((r) => r.id))
      })
    } catch (err) {
      for (const lease of release) this.#draining.add(lease)
      throw err
    }
    for (const lease of shrink) lease.granted = Math.min(lease.granted, lease.held)
    for (const lease of renew) {
      if (alive.has(lease.id)) lease.expiresAt = Math.max(lease.expiresAt, sentAt + lease.ttlMs)
      else {
        // Swept after expiring (renewals failed for its whole TTL): its holds are no longer reserved.
        this.#log.warn({ budget_id: lease.budgetId, held_micros: lease.held }, 'budget lease expired while in use')
        this.#retire(lease)
        this.#draining.delete(lease)
      }
    }
  }
}
