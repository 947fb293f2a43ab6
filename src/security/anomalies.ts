/**
 * API key anomalies, each key measured against its own history: a spike in requests or spend in the recent window
 * (key_anomaly_window_minutes) against the key's average window over the past week, a model that carries most of the
 * recent traffic but never appeared before, and use from a network (/24, /48) the key was never used from. The
 * policy says what happens: `alert` (a security event) or `suspend` (the key stops with 403 api_key_suspended on
 * every replica until an administrator reinstates it). A key without key_anomaly_min_history_hours of history has
 * no baseline and is left alone; so is a key an administrator reinstated, for one window.
 *
 * Detection runs every minute on one replica at a time (a cache counter elects it), from usage_records; networks are
 * gathered on the request path in memory (one Set lookup) and written in batches.
 */
import ipaddr from 'ipaddr.js'
import type { ApiKeyVerifier } from '../api-keys/verifier.ts'
import type { AuditLog } from '../audit/service.ts'
import type { CacheStore } from '../cache/types.ts'
import type { Sql } from '../db/client.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import type { Logger } from '../log.ts'
import type { SecuritySettings } from './settings.ts'

export type AnomalyKind = 'request_spike' | 'spend_spike' | 'new_model' | 'new_network'

export interface Anomaly {
  keyId: string
  kind: AnomalyKind
  details: Record<string, unknown>
}

const DETECT_MS = 60_000
const FLUSH_MS = 5_000
/** How far back the baseline looks. */
const BASELINE_DAYS = 7
/** A new model must carry at least this share of the recent requests (and the key enough history) to be a change. */
const NEW_MODEL_SHARE = 0.5
const NEW_MODEL_MIN_REQUESTS = 20
const SEEN_MAX = 100_000

/** The network an address belongs to, as anomalies see it: /24 for IPv4, /48 for IPv6. */
export function networkOf(ip: string): string | null {
  // The request path's common case without a parse: dotted IPv4, possibly IPv4-mapped.
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)) return `${v4.slice(0, v4.lastIndexOf('.'))}.0/24`
  let addr: ipaddr.IPv4 | ipaddr.IPv6
  try {
    addr = ipaddr.process(ip)
  } catch {
    return null
  }
  if (addr.kind() === 'ipv4') return `${(addr as ipaddr.IPv4).octets.slice(0, 3).join('.')}.0/24`
  return `${(addr as ipaddr.IPv6).parts.slice(0, 3).map((p) => p.toString(16)).join(':')}::/48`
}

interface Recent {
  api_key_id: string
  requests: number
  cost: string
  models: string[]
  model_counts: number[]
}

interface Baseline {
  api_key_id: string
  requests: number
  cost: string
  models: string[]
  first_seen: Date
}

export class KeyAnomalies {
  readonly #sql: Sql
  readonly #cache: CacheStore
  readonly #log: Logger
  readonly #audit: AuditLog
  readonly #verifier: ApiKeyVerifier
  readonly #settings: SecuritySettings
  /** `${keyId}|${network}` pairs this replica has written (or queued). */
  readonly #seen = new Set<string>()
  #pending: { keyId: string; network: string }[] = []
  #timers: ReturnType<typeof setInterval>[] = []

  constructor(deps: { sql: Sql; cache: CacheStore; log: Logger; audit: AuditLog; verifier: ApiKeyVerifier; settings: SecuritySettings }) {
    this.#sql = deps.sql
    this.#cache = deps.cache
    this.#log = deps.log
    this.#audit = deps.audit
    this.#verifier = deps.verifier
    this.#settings = deps.settings
  }

  start(): void {
    const every = (ms: number, f: () => Promise<unknown>, what: string) => {
      const t = setInterval(() => void f().catch((err) => this.#log.warn({ err: (err as Error).message }, `${what} failed`)), ms)
      t.unref()
      this.#timers.push(t)
    }
    every(FLUSH_MS, () => this.flushNetworks(), 'key network flush')
    every(DETECT_MS, () => this.#detectIfLeader(), 'key anomaly detection')
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    await this.flushNetworks().catch(() => {})
  }

  /** The request path: one string and one Set lookup; a network new to this replica is queued for the next flush. */
  seen(keyId: string, ip: string | null): void {
    if (!ip) return
    const network = networkOf(ip)
    if (!network) return
    const pair = `${keyId}|${network}`
    if (this.#seen.has(pair)) return
    if (this.#seen.size >= SEEN_MAX) this.#seen.clear()
    this.#seen.add(pair)
    this.#pending.push({ keyId, network })
  }

  /** Writes the queued networks; a network new to a key with history is an anomaly. */
  async flushNetworks(): Promise<Anomaly[]> {
    if (this.#pending.length === 0) return []
    const batch = this.#pending
    this.#pending = []
    const rows = await this.#sql<{ api_key_id: string; network: string; established: boolean }[]>`
      WITH fresh AS (
        INSERT INTO api_key_networks (api_key_id, network)
        SELECT k, n FROM unnest(${batch.map((b) => b.keyId)}::uuid[], ${batch.map((b) => b.network)}::text[]) AS t(k, n)
        WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = t.k)
        ON CONFLICT (api_key_id, network) DO UPDATE SET last_seen = now()
        RETURNING api_key_id, network, (xmax = 0) AS inserted
      )
      SELECT f.api_key_id, f.network,
        EXISTS (SELECT 1 FROM api_key_networks o WHERE o.api_key_id = f.api_key_id AND o.network <> f.network
                AND o.first_seen < now() - make_interval(hours => ${this.#settings.current.key_anomaly_min_history_hours})) AS established
      FROM fresh f WHERE f.inserted`
    const anomalies = rows
      .filter((r) => r.established)
      .map((r): Anomaly => ({ keyId: r.api_key_id, kind: 'new_network', details: { network: r.network } }))
    for (const a of anomalies) await this.#act(a)
    return anomalies
  }

  async #detectIfLeader(): Promise<void> {
    // One replica per minute does the work: the first to count this minute's run.
    const minute = Math.floor(Date.now() / DETECT_MS)
    if ((await this.#cache.increment(`sec:anomaly-run:${minute}`, 1, DETECT_MS * 2)) !== 1) return
    await this.detect()
  }

  /** Compares every key used in the recent window with its own baseline; acts on what it finds. */
  async detect(): Promise<Anomaly[]> {
    const s = this.#settings.current
    const windowMin = s.key_anomaly_window_minutes
    const sql = this.#sql
    const recent = await sql<Recent[]>`
      SELECT api_key_id, sum(n)::int AS requests, sum(c)::text AS cost, array_agg(model) AS models, array_agg(n) AS model_counts
      FROM (
        SELECT api_key_id, model, count(*)::int AS n, sum(cost_micros) AS c FROM usage_records
        WHERE api_key_id IS NOT NULL AND created_at > now() - make_interval(mins => ${windowMin})
        GROUP BY api_key_id, model
      ) m GROUP BY api_key_id`
    if (recent.length === 0) return []
    const baselines = await sql<Baseline[]>`
      SELECT api_key_id, count(*)::int AS requests, sum(cost_micros)::text AS cost, array_agg(DISTINCT model) AS models, min(created_at) AS first_seen
      FROM usage_records
      WHERE api_key_id = ANY(${recent.map((r) => r.api_key_id)}::uuid[])
        AND created_at > now() - make_interval(days => ${BASELINE_DAYS}) AND created_at <= now() - make_interval(mins => ${windowMin})
      GROUP BY api_key_id`
    const byKey = new Map(baselines.map((b) => [b.api_key_id, b]))
    const found: Anomaly[] = []
    for (const r of recent) {
      const b = byKey.get(r.api_key_id)
      if (!b) continue
      const historyMin = (Date.now() - b.first_seen.getTime()) / 60_000 - windowMin
      if (historyMin < s.key_anomaly_min_history_hours * 60) continue
      // The key's average window over its history (up to a week), so a new key's quiet first days count.
      const windows = Math.max(1, Math.min(historyMin, BASELINE_DAYS * 1440 - windowMin) / windowMin)
      const perWindow = b.requests / windows
      const spendPerWindow = Number(b.cost) / windows
      const cost = Number(r.cost)
      const base = { window_minutes: windowMin, baseline_days: Math.round((windows * windowMin) / 144) / 10 }
      if (r.requests >= s.key_anomaly_min_requests && r.requests > s.key_anomaly_request_factor * Math.max(perWindow, 1))
        found.push({ keyId: r.api_key_id, kind: 'request_spike', details: { ...base, requests: r.requests, baseline_per_window: round(perWindow) } })
      if (cost >= s.key_anomaly_min_spend_usd * 1_000_000 && cost > s.key_anomaly_spend_factor * Math.max(spendPerWindow, 1))
        found.push({
          keyId: r.api_key_id,
          kind: 'spend_spike',
          details: { ...base, spent_usd: round(cost / 1e6), baseline_usd_per_window: round(spendPerWindow / 1e6) },
        })
      const known = new Set(b.models)
      const fresh = r.models.map((m, i) => [m, r.model_counts[i] ?? 0] as const).filter(([m]) => !known.has(m))
      const freshCount = fresh.reduce((n, [, c]) => n + c, 0)
      if (fresh.length > 0 && r.requests >= NEW_MODEL_MIN_REQUESTS && freshCount / r.requests >= NEW_MODEL_SHARE)
        found.push({
          keyId: r.api_key_id,
          kind: 'new_model',
          details: { ...base, models: fresh.map(([m]) => m), share: round(freshCount / r.requests), known_models: [...known].slice(0, 20) },
        })
    }
    const acted: Anomaly[] = []
    for (const a of found) if (await this.#act(a)) acted.push(a)
    return acted
  }

  /**
   * Records the anomaly (once per key and kind per hour) and, under the suspend policy, suspends the key. A key an
   * administrator reinstated is left alone for one window, or the traffic that caused the suspension would repeat it.
   */
  async #act(a: Anomaly): Promise<boolean> {
    const s = this.#settings.current
    if (await this.#cache.get(`sec:anomaly-ack:${a.keyId}`)) return false
    if ((await this.#cache.increment(`sec:anomaly:${a.keyId}:${a.kind}`, 1, 3_600_000)) !== 1) return false
    const [key] = await this.#sql<{ id: string; name: string; user_id: string; suspended_at: Date | null }[]>`
      SELECT id, name, user_id, suspended_at FROM api_keys WHERE id = ${a.keyId}`
    if (!key) return false
    const meta: RequestMeta = { requestId: `anomaly:${a.keyId}:${a.kind}`, ip: null, userAgent: null }
    const suspend = s.key_anomaly_policy === 'suspend' && !key.suspended_at
    this.#log.warn({ api_key_id: a.keyId, anomaly: a.kind, policy: s.key_anomaly_policy, ...a.details }, 'api key anomaly')
    await this.#audit.record(
      {
        action: 'security.key_anomaly',
        outcome: suspend ? 'denied' : 'success',
        actor: { userId: key.user_id, apiKeyId: key.id, label: `key ${key.name}` },
        resource: { type: 'api_key', id: key.id },
        details: { kind: a.kind, policy: s.key_anomaly_policy, ...a.details },
      },
      meta,
    )
    if (suspend) await this.suspend(key.id, `${a.kind.replace('_', ' ')} (threat detection)`, null, meta)
    return true
  }

  /** Suspends a key on every replica; audited. `actor` null: threat detection. */
  async suspend(keyId: string, reason: string, actor: { id: string; email: string } | null, meta: RequestMeta): Promise<boolean> {
    const [row] = await this.#sql<{ id: string; user_id: string; name: string }[]>`
      UPDATE api_keys SET suspended_at = now(), suspended_reason = ${reason}, updated_at = now()
      WHERE id = ${keyId} AND suspended_at IS NULL RETURNING id, user_id, name`
    if (!row) return false
    await this.#verifier.invalidate(`key:${keyId}`)
    await this.#audit.record(
      {
        action: 'security.key_suspended',
        outcome: 'denied',
        actor: actor ? { userId: actor.id, label: actor.email } : { label: 'threat detection' },
        resource: { type: 'api_key', id: keyId },
        details: { reason, owner: row.user_id, name: row.name },
      },
      meta,
    )
    return true
  }

  /** Lifts a suspension on every replica, and ignores the key's anomalies for one window; audited. */
  async reinstate(keyId: string, actor: { id: string; email: string }, meta: RequestMeta): Promise<boolean> {
    const [before] = await this.#sql<{ suspended_reason: string | null }[]>`SELECT suspended_reason FROM api_keys WHERE id = ${keyId}`
    const [row] = await this.#sql<{ id: string }[]>`
      UPDATE api_keys SET suspended_at = NULL, suspended_reason = NULL, updated_at = now()
      WHERE id = ${keyId} AND suspended_at IS NOT NULL RETURNING id`
    if (!row) return false
    const windowMs = this.#settings.current.key_anomaly_window_minutes * 60_000
    await this.#cache.set(`sec:anomaly-ack:${keyId}`, '1', windowMs).catch(() => {})
    await this.#verifier.invalidate(`key:${keyId}`)
    await this.#audit.record(
      {
        action: 'security.key_reinstated',
        outcome: 'success',
        actor: { userId: actor.id, label: actor.email },
        resource: { type: 'api_key', id: keyId },
        details: { reason: before?.suspended_reason ?? null },
      },
      meta,
    )
    return true
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000
