import ipaddr from 'ipaddr.js'
import type { AuditLog } from '../audit/service.ts'
import type { CacheStore } from '../cache/types.ts'
import type { Sql } from '../db/client.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import type { Logger } from '../log.ts'

const CHANNEL = 'security:ip-blocks'
/** How often each replica re-reads the live blocks, in case a broadcast was lost (Redis restarting, say). */
const RELOAD_MS = 10_000

export interface IpBlockRow {
  id: string
  ip: string
  reason: string
  details: Record<string, unknown>
  created_at: Date
  expires_at: Date
  created_by: string | null
  lifted_at: Date | null
  lifted_by: string | null
}

/** One spelling per address: IPv4-mapped IPv6 (::ffff:1.2.3.4) as IPv4, IPv6 compressed; null when it is no address. */
export function normalizeIp(ip: string | null): string | null {
  if (!ip) return null
  try {
    return ipaddr.process(ip).toString()
  } catch {
    return null
  }
}

interface Live {
  until: number
  reason: string
}

/**
 * Addresses blocked for a while. The rows in PostgreSQL are what administrators list and lift; enforcement reads an
 * in-memory copy on every replica, so a request pays one Map lookup (measured in the README). A block or lift is
 * broadcast over the cache's pub/sub (Redis with several replicas) and applied everywhere at once; each replica also
 * re-reads the live rows every 10 s, so a lost message delays a block by at most that. Fails open: without the
 * database a replica keeps the blocks it knew, and a new block that cannot be written is logged, not enforced.
 */
export class IpBlocks {
  readonly #sql: Sql
  readonly #cache: CacheStore
  readonly #log: Logger
  readonly #audit: AuditLog
  #live = new Map<string, Live>()
  #timer: ReturnType<typeof setInterval> | undefined
  #unsubscribe: (() => Promise<void>) | null = null

  constructor(deps: { sql: Sql; cache: CacheStore; log: Logger; audit: AuditLog }) {
    this.#sql = deps.sql
    this.#cache = deps.cache
    this.#log = deps.log
    this.#audit = deps.audit
  }

  async start(): Promise<void> {
    await this.reload()
    this.#unsubscribe = await this.#cache.subscribe(CHANNEL, (message) => this.#onMessage(message))
    this.#timer = setInterval(() => {
      this.reload().catch((err) => this.#log.warn({ err: (err as Error).message }, 'ip block reload failed; keeping the known blocks'))
    }, RELOAD_MS)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#unsubscribe?.()
    this.#unsubscribe = null
  }

  async reload(): Promise<void> {
    const rows = await this.#sql<{ ip: string; reason: string; expires_at: Date }[]>`
      SELECT ip, reason, expires_at FROM ip_blocks WHERE lifted_at IS NULL AND expires_at > now()`
    this.#live = new Map(rows.map((r) => [r.ip, { until: r.expires_at.getTime(), reason: r.reason }]))
  }

  #onMessage(message: string): void {
    try {
      const m = JSON.parse(message) as { op: 'block' | 'lift'; ip: string; until?: number; reason?: string }
      if (m.op === 'lift') this.#live.delete(m.ip)
      else if (typeof m.until === 'number') this.#live.set(m.ip, { until: m.until, reason: m.reason ?? 'blocked' })
    } catch {
      this.#log.warn({ channel: CHANNEL }, 'unreadable ip block message ignored')
    }
  }

  /** The hot path: whether `ip` (normalised) is blocked now, and until when. */
  blocked(ip: string): Live | null {
    const live = this.#live.get(ip)
    if (!live) return null
    if (live.until <= Date.now()) {
      this.#live.delete(ip)
      return null
    }
    return live
  }

  /**
   * Blocks `ip` for `minutes` (a block already in force is extended, never shortened). Audited as security.ip_blocked.
   * Returns false when the address was already blocked at least that long (nothing new to say).
   */
  async block(
    ip: string,
    opts: { reason: string; minutes: number; details?: Record<string, unknown>; actor?: { id: string; email: string } | null },
    meta: RequestMeta,
  ): Promise<boolean> {
    const sql = this.#sql
    const until = new Date(Date.now() + opts.minutes * 60_000)
    const row = await sql.begin(async (tx) => {
      // A block that ran out is closed first, so the address's new block is a row of its own in the history.
      await tx`UPDATE ip_blocks SET lifted_at = expires_at WHERE ip = ${ip} AND lifted_at IS NULL AND expires_at <= now()`
      const [r] = await tx<{ id: string; expires_at: Date; fresh: boolean }[]>`
        INSERT INTO ip_blocks (ip, reason, details, expires_at, created_by)
        VALUES (${ip}, ${opts.reason}, ${tx.json((opts.details ?? {}) as never)}, ${until}, ${opts.actor?.id ?? null})
        ON CONFLICT (ip) WHERE lifted_at IS NULL DO UPDATE SET expires_at = greatest(ip_blocks.expires_at, excluded.expires_at)
          WHERE ip_blocks.expires_at < excluded.expires_at
        RETURNING id::text, expires_at, (xmax = 0) AS fresh`
      return r
    })
    if (!row) return false
    this.#live.set(ip, { until: row.expires_at.getTime(), reason: opts.reason })
    await this.#cache
      .publish(CHANNEL, JSON.stringify({ op: 'block', ip, until: row.expires_at.getTime(), reason: opts.reason }))
      .catch((err) => this.#log.warn({ ip, err: (err as Error).message }, 'ip block not broadcast; other replicas apply it within 10 s'))
    this.#log.warn({ ip, reason: opts.reason, until: row.expires_at.toISOString() }, 'address blocked')
    await this.#audit.record(
      {
        action: 'security.ip_blocked',
        outcome: 'denied',
        actor: opts.actor ? { userId: opts.actor.id, label: opts.actor.email } : { label: 'threat detection' },
        resource: { type: 'ip', id: ip },
        details: { reason: opts.reason, minutes: opts.minutes, until: row.expires_at.toISOString(), extended: !row.fresh, ...opts.details },
      },
      // Threat detection's own blocks are recorded under the blocked address; an administrator's under theirs.
      opts.actor ? meta : { ...meta, ip },
    )
    return true
  }

  /** Ends a live block at once on every replica; false when there was none. Audited as security.ip_unblocked. */
  async lift(ip: string, actor: { id: string; email: string }, meta: RequestMeta): Promise<boolean> {
    const [row] = await this.#sql<{ id: string; reason: string }[]>`
      UPDATE ip_blocks SET lifted_at = now(), lifted_by = ${actor.id}
      WHERE ip = ${ip} AND lifted_at IS NULL AND expires_at > now() RETURNING id::text, reason`
    this.#live.delete(ip)
    await this.#cache.publish(CHANNEL, JSON.stringify({ op: 'lift', ip })).catch((err) => this.#log.warn({ ip, err: (err as Error).message }, 'ip unblock not broadcast'))
    if (!row) return false
    await this.#audit.record(
      {
        action: 'security.ip_unblocked',
        outcome: 'success',
        actor: { userId: actor.id, label: actor.email },
        resource: { type: 'ip', id: ip },
        details: { reason: row.reason },
      },
      meta,
    )
    return true
  }

  /** Live blocks first (newest first), then the recent history. */
  async list(limit = 200): Promise<IpBlockRow[]> {
    return [
      ...(await this.#sql<IpBlockRow[]>`
        SELECT id::text, ip, reason, details, created_at, expires_at, created_by, lifted_at, lifted_by FROM ip_blocks
        ORDER BY (lifted_at IS NULL AND expires_at > now()) DESC, created_at DESC LIMIT ${limit}`),
    ]
  }

  get size(): number {
    return this.#live.size
  }
}
