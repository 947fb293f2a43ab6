import type postgres from 'postgres'
import type { ApiKeyVerifier } from '../api-keys/verifier.ts'
import type { AuditLog, AuditRecord } from '../audit/service.ts'
import type { CacheStore } from '../cache/types.ts'
import type { Config } from '../config.ts'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { KeyAnomalies } from './anomalies.ts'
import { GatewayGuard } from './gateway-guard.ts'
import { scoreInjectionOf } from './dlp-pool.ts'
import type { InjectionVerdict } from './injection.ts'
import { IpBlocks } from './ip-blocks.ts'
import type { EventQuery } from './model.ts'
import { CallerPolicies } from './policy.ts'
import { SecuritySettings } from './settings.ts'
import { ThreatDetector } from './threats.ts'

export type Severity = 'low' | 'medium' | 'high'

/** The events the security feed shows: every `security.*` audit event and these others. */
const ALSO_SECURITY = ['auth.lockout', 'auth.refresh_reuse', 'gateway.fallback_left_tee', 'budget.upstream_overrun']

const SEVERITY: Record<string, Severity> = {
  'security.ip_blocked': 'high',
  'security.key_suspended': 'high',
  'security.dlp_blocked': 'high',
  'auth.refresh_reuse': 'high',
  'security.key_anomaly': 'medium',
  'security.dlp_redacted': 'medium',
  'security.probe': 'medium',
  'security.injection_flagged': 'medium',
  'security.confidentiality_refused': 'medium',
  'gateway.fallback_left_tee': 'medium',
  'auth.lockout': 'medium',
}
export const severityOf = (action: string): Severity => SEVERITY[action] ?? 'low'
/** Whether an audit action belongs to the security feed (security.* and the few others listed above). */
export const isSecurityAction = (action: string): boolean => action.startsWith('security.') || ALSO_SECURITY.includes(action)

/**
 * Confidentiality guarantees, guardrails and threat detection, wired once: the policies the gateway enforces, the
 * security settings, IP blocks, credential-stuffing and probe counting, key anomalies, and the security events (the
 * audit log's security family) with their filters.
 */
export class SecurityService {
  readonly settings: SecuritySettings
  readonly policies: CallerPolicies
  readonly guard: GatewayGuard
  readonly blocks: IpBlocks
  readonly threats: ThreatDetector
  readonly anomalies: KeyAnomalies
  readonly #sql: Sql
  readonly #audit: AuditLog
  readonly #log: Logger

  constructor(deps: { config: Config; sql: Sql; cache: CacheStore; log: Logger; audit: AuditLog; verifier: ApiKeyVerifier }) {
    const { sql, cache, log, audit } = deps
    this.#sql = sql
    this.#audit = audit
    this.#log = log
    this.settings = new SecuritySettings({ sql, cache, log, audit, config: deps.config })
    this.policies = new CallerPolicies(sql, cache, this.settings)
    this.guard = new GatewayGuard({ policies: this.policies, settings: this.settings, audit, log })
    this.blocks = new IpBlocks({ sql, cache, log, audit })
    this.threats = new ThreatDetector({ cache, log, audit, blocks: this.blocks, settings: this.settings })
    this.anomalies = new KeyAnomalies({ sql, cache, log, audit, verifier: deps.verifier, settings: this.settings })
  }

  async start(): Promise<void> {
    await this.settings.start()
    await this.policies.start()
    await this.blocks.start()
    this.anomalies.start()
  }

  async stop(): Promise<void> {
    await this.anomalies.stop()
    await this.blocks.stop()
    await this.policies.stop()
    await this.settings.stop()
  }

  /** Scores a user's text for prompt injection against the current threshold (a long one off the server thread). */
  scoreInjection(text: string): Promise<InjectionVerdict> {
    return scoreInjectionOf(text, this.settings.current.injection_threshold)
  }

  /**
   * A user's message to a chatbot (or an agent) that reads as an injection attempt: recorded with its score and
   * signals, never the text. Off the request path.
   */
  userMessageFlagged(verdict: InjectionVerdict, who: { userId: string | null; apiKeyId: string | null; resource: { type: string; id: string } }, requestId: string): void {
    void this.#audit
      .record(
        {
          action: 'security.injection_flagged',
          outcome: 'success',
          actor: { userId: who.userId, apiKeyId: who.apiKeyId },
          resource: who.resource,
          details: { where: 'user_message', score: verdict.score, signals: verdict.signals },
        },
        { requestId, ip: null, userAgent: null },
      )
      .catch((err) => this.#log.error({ err: (err as Error).message }, 'injection event not written'))
  }

  #where(q: EventQuery) {
    const sql = this.#sql
    const severities = q.severity ? Object.entries(SEVERITY).filter(([, s]) => s === q.severity).map(([a]) => a) : null
    const family = sql`(a.action LIKE 'security.%' OR a.action = ANY(${ALSO_SECURITY}))`
    const clauses = [
      family,
      q.action ? sql`a.action = ${q.action}` : null,
      severities
        ? q.severity === 'low'
          ? sql`NOT (a.action = ANY(${Object.keys(SEVERITY)}))`
          : sql`a.action = ANY(${severities})`
        : null,
      q.ip ? sql`(a.ip = ${q.ip} OR (a.resource_type = 'ip' AND a.resource_id = ${q.ip}))` : null,
      q.actor_user_id ? sql`a.actor_user_id = ${q.actor_user_id}` : null,
      q.api_key_id ? sql`(a.actor_api_key_id = ${q.api_key_id} OR (a.resource_type = 'api_key' AND a.resource_id = ${q.api_key_id}))` : null,
      q.since ? sql`a.created_at >= ${q.since}` : null,
      q.until ? sql`a.created_at < ${q.until}` : null,
    ].filter((c): c is postgres.PendingQuery<postgres.Row[]> => c !== null)
    return sql`WHERE ${clauses.reduce((acc, c) => sql`${acc} AND ${c}`)}`
  }

  /** Security events, newest first, each with its severity. */
  async events(q: EventQuery & { limit: number; offset: number }): Promise<{ items: (AuditRecord & { severity: Severity })[]; total: number }> {
    const clause = this.#where(q)
    const rows = await this.#sql<AuditRecord[]>`
      SELECT a.id::text, a.created_at, a.actor_user_id, a.actor_api_key_id, a.actor_label, u.email AS actor_email,
             a.action, a.resource_type, a.resource_id, a.outcome, a.ip, a.user_agent, a.request_id, a.details
      FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id ${clause}
      ORDER BY a.created_at DESC, a.id DESC LIMIT ${q.limit} OFFSET ${q.offset}`
    const [count] = await this.#sql<{ n: number }[]>`SELECT count(*)::int AS n FROM audit_log a ${clause}`
    return { items: rows.map((r) => ({ ...r, severity: severityOf(r.action) })), total: count?.n ?? 0 }
  }

  /** What the security page shows at a glance. */
  async overview() {
    const since = new Date(Date.now() - 86_400_000).toISOString()
    const [keys] = await this.#sql<{ n: number }[]>`SELECT count(*)::int AS n FROM api_keys WHERE suspended_at IS NOT NULL`
    const [blocks] = await this.#sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ip_blocks WHERE lifted_at IS NULL AND expires_at > now()`
    const [chunks] = await this.#sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rag_chunks WHERE injection_flagged`
    const actions = await this.#sql<{ action: string; n: number }[]>`
      SELECT action, count(*)::int AS n FROM audit_log a ${this.#where({ since })} GROUP BY action`
    const events_24h = { low: 0, medium: 0, high: 0 }
    for (const a of actions) events_24h[severityOf(a.action)] += a.n
    const s = this.settings.current
    return {
      confidential_only: s.confidential_only,
      dlp_mode: s.dlp_mode,
      active_blocks: blocks?.n ?? 0,
      suspended_keys: keys?.n ?? 0,
      events_24h,
      flagged_chunks: chunks?.n ?? 0,
    }
  }

  async suspendedKeys() {
    return [
      ...(await this.#sql<
        { id: string; name: string; key_prefix: string; user_id: string; owner_email: string | null; suspended_at: Date; suspended_reason: string | null }[]
      >`
        SELECT k.id, k.name, k.key_prefix, k.user_id, u.email AS owner_email, k.suspended_at, k.suspended_reason
        FROM api_keys k LEFT JOIN users u ON u.id = k.user_id WHERE k.suspended_at IS NOT NULL ORDER BY k.suspended_at DESC LIMIT 500`),
    ]
  }
}
