import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import type { RequestMeta } from '../http/request-meta.ts'

export type AuditOutcome = 'success' | 'failure' | 'denied'

export interface AuditEntry {
  action: string
  outcome: AuditOutcome
  actor?: { userId?: string | null; apiKeyId?: string | null; label?: string | null }
  resource?: { type: string; id?: string | null }
  details?: Record<string, unknown>
}

export interface AuditRecord {
  id: string
  created_at: Date
  actor_user_id: string | null
  actor_api_key_id: string | null
  actor_label: string | null
  action: string
  resource_type: string | null
  resource_id: string | null
  outcome: AuditOutcome
  ip: string | null
  user_agent: string | null
  request_id: string | null
  details: Record<string, unknown>
}

export interface AuditQuery {
  action?: string | undefined
  actor_user_id?: string | undefined
  resource_type?: string | undefined
  resource_id?: string | undefined
  outcome?: AuditOutcome | undefined
  since?: string | undefined
  until?: string | undefined
  limit: number
  offset: number
}

export class AuditLog {
  readonly #sql: Sql
  readonly #log: Logger
  constructor(sql: Sql, log: Logger) {
    this.#sql = sql
    this.#log = log
  }

  /** Awaited by callers: a security event that cannot be recorded should fail the action, not vanish. */
  async record(entry: AuditEntry, meta: RequestMeta): Promise<void> {
    const sql = this.#sql
    await sql`INSERT INTO audit_log ${sql({
      actor_user_id: entry.actor?.userId ?? null,
      actor_api_key_id: entry.actor?.apiKeyId ?? null,
      actor_label: entry.actor?.label ?? null,
      action: entry.action,
      resource_type: entry.resource?.type ?? null,
      resource_id: entry.resource?.id ?? null,
      outcome: entry.outcome,
      ip: meta.ip,
      user_agent: meta.userAgent,
      request_id: meta.requestId,
      details: sql.json((entry.details ?? {}) as Parameters<typeof sql.json>[0]),
    })}`
    this.#log.info({ audit: entry.action, outcome: entry.outcome, request_id: meta.requestId }, 'audit')
  }

  async list(q: AuditQuery): Promise<{ items: AuditRecord[]; total: number }> {
    const sql = this.#sql
    const where = [
      q.action ? sql`action = ${q.action}` : null,
      q.actor_user_id ? sql`actor_user_id = ${q.actor_user_id}` : null,
      q.resource_type ? sql`resource_type = ${q.resource_type}` : null,
      q.resource_id ? sql`resource_id = ${q.resource_id}` : null,
      q.outcome ? sql`outcome = ${q.outcome}` : null,
      q.since ? sql`created_at >= ${q.since}` : null,
      q.until ? sql`created_at < ${q.until}` : null,
    ].filter((c) => c !== null)
    const clause = where.length
      ? sql`WHERE ${where.reduce((acc, c) => sql`${acc} AND ${c}`)}`
      : sql``
    const items = await sql<AuditRecord[]>`
      SELECT id::text, created_at, actor_user_id, actor_api_key_id, actor_label, action, resource_type, resource_id,
             outcome, ip, user_agent, request_id, details
      FROM audit_log ${clause}
      ORDER BY created_at DESC, id DESC
      LIMIT ${q.limit} OFFSET ${q.offset}`
    const [count] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM audit_log ${clause}`
    return { items: [...items], total: count?.n ?? 0 }
  }
}
