import type postgres from 'postgres'
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
  /** The actor's current email, joined at read time (null once the user is deleted). */
  actor_email: string | null
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
  /** Part of the actor's email or label, case-insensitive. */
  actor?: string | undefined
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
  readonly #listeners: ((entry: AuditEntry, meta: RequestMeta) => void)[] = []
  constructor(sql: Sql, log: Logger) {
    this.#sql = sql
    this.#log = log
  }

  /**
   * Hears every event once it is written, on the replica that wrote it (so once per occurrence): notifications of
   * budget warnings and security events start here. A listener must not throw or block.
   */
  onRecord(listener: (entry: AuditEntry, meta: RequestMeta) => void): void {
    this.#listeners.push(listener)
  }

  /** Awaited by callers: a security event that cannot be recorded should fail the action, not vanish. */
  record(entry: AuditEntry, meta: RequestMeta): Promise<void> {
    return this.recordMany([entry], meta)
  }

  /** Several events of one request in one statement (an upload of a hundred files is a hundred events). */
  async recordMany(entries: AuditEntry[], meta: RequestMeta): Promise<void> {
    if (entries.length === 0) return
    const sql = this.#sql
    await sql`INSERT INTO audit_log ${sql(
      entries.map((entry) => ({
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
      })),
    )}`
    for (const entry of entries) {
      this.#log.info({ audit: entry.action, outcome: entry.outcome, request_id: meta.requestId }, 'audit')
      for (const listener of this.#listeners) {
        try {
          listener(entry, meta)
        } catch (err) {
          this.#log.error({ err: (err as Error).message, audit: entry.action }, 'an audit listener failed')
        }
      }
    }
  }

  #where(q: Omit<AuditQuery, 'limit' | 'offset'>) {
    const sql = this.#sql
    const pattern = q.actor ? `%${q.actor.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null
    const where = [
      q.action ? sql`a.action = ${q.action}` : null,
      q.actor_user_id ? sql`a.actor_user_id = ${q.actor_user_id}` : null,
      pattern ? sql`(a.actor_label ILIKE ${pattern} OR u.email ILIKE ${pattern})` : null,
      q.resource_type ? sql`a.resource_type = ${q.resource_type}` : null,
      q.resource_id ? sql`a.resource_id = ${q.resource_id}` : null,
      q.outcome ? sql`a.outcome = ${q.outcome}` : null,
      q.since ? sql`a.created_at >= ${q.since}` : null,
      q.until ? sql`a.created_at < ${q.until}` : null,
    ].filter((c) => c !== null)
    return where.length ? sql`WHERE ${where.reduce((acc, c) => sql`${acc} AND ${c}`)}` : sql``
  }

  /** The users table is joined for the actor's email only; a record whose user is gone keeps its own label. */
  #select(clause: postgres.PendingQuery<postgres.Row[]>, limit: number, offset: number) {
    return this.#sql<AuditRecord[]>`
      SELECT a.id::text, a.created_at, a.actor_user_id, a.actor_api_key_id, a.actor_label, u.email AS actor_email,
             a.action, a.resource_type, a.resource_id, a.outcome, a.ip, a.user_agent, a.request_id, a.details
      FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id ${clause}
      ORDER BY a.created_at DESC, a.id DESC
      LIMIT ${limit} OFFSET ${offset}`
  }

  async list(q: AuditQuery): Promise<{ items: AuditRecord[]; total: number }> {
    const clause = this.#where(q)
    const items = await this.#select(clause, q.limit, q.offset)
    const [count] = await this.#sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id ${clause}`
    return { items: [...items], total: count?.n ?? 0 }
  }

  async get(id: string): Promise<AuditRecord | null> {
    const [row] = await this.#select(this.#sql`WHERE a.id = ${id}`, 1, 0)
    return row ?? null
  }

  /** The actions and resource types that occur, for filter pickers. */
  async facets(): Promise<{ actions: string[]; resource_types: string[] }> {
    const actions = await this.#sql<{ v: string }[]>`SELECT DISTINCT action AS v FROM audit_log ORDER BY 1`
    const types = await this.#sql<{ v: string }[]>`
      SELECT DISTINCT resource_type AS v FROM audit_log WHERE resource_type IS NOT NULL ORDER BY 1`
    return { actions: actions.map((r) => r.v), resource_types: types.map((r) => r.v) }
  }
}

/**
 * The audit call of a domain's routes: a user's successful action on one of its resources.
 *
 * @example
 * const audit = auditFor(s.audit, 'chatbot')
 * await audit(user, 'chatbot.update', row.id, meta, { fields, changes: changes(before, after, fields) })
 */
export function auditFor(log: AuditLog, resourceType: string) {
  return (user: { id: string; email: string }, action: string, id: string, meta: RequestMeta, details?: Record<string, unknown>) =>
    log.record({ action, outcome: 'success', actor: { userId: user.id, label: user.email }, resource: { type: resourceType, id }, ...(details ? { details } : {}) }, meta)
}
