import type { AuditEntry } from '../audit/service.ts'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { isSecurityAction, severityOf } from '../security/service.ts'
import type { NotificationService } from './service.ts'

/** How often each replica looks for keys about to expire and budgets spent (raised once: see the keys). */
const CHECK_MS = 30_000
/** Security events of one kind about one subject raise one notification per window; the feed has all of them. */
const SECURITY_WINDOW_MS = 10 * 60_000
const DAY_MS = 86_400_000

/**
 * Where notifications come from, each raised once per occurrence however many replicas see it:
 * - budget.warning and security.event: from the audit log, whose event is written once, by the replica where it
 *   happened (the usage ledger's warning crosses the threshold in the settling transaction);
 * - provider.down and provider.recovered: from a provider's circuit on any replica, raised on the transition of one
 *   shared row (provider_health), so the first replica to see a provider go down raises it and the others do not;
 * - plugin.disabled and document.failed: from the plugin service and the indexing queue, which change the row once;
 * - key.expiring and budget.exhausted: states rather than moments, found by a check every replica runs every 30 s,
 *   raised once per key expiry and per budget period by their keys.
 */
export class NotificationSources {
  #timer: ReturnType<typeof setInterval> | undefined
  /** Security notification keys this replica already raised (or saw raised): see #security. */
  readonly #raised = new Set<string>()

  constructor(readonly deps: { sql: Sql; log: Logger; notifications: NotificationService }) {}

  start(): void {
    void this.check().catch((err) => this.deps.log.warn({ err: (err as Error).message }, 'notification check failed'))
    this.#timer = setInterval(() => {
      void this.check().catch((err) => this.deps.log.warn({ err: (err as Error).message }, 'notification check failed'))
    }, CHECK_MS)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  /** Every audit event, once written: budget warnings and security events of medium or high severity. */
  audited(entry: AuditEntry): void {
    if (entry.action === 'budget.warning' && entry.resource?.id) void this.#budgetWarning(entry).catch((err) => this.#failed('budget.warning', err))
    else if (isSecurityAction(entry.action) && severityOf(entry.action) !== 'low') void this.#security(entry).catch((err) => this.#failed('security.event', err))
  }

  #failed(what: string, err: unknown): void {
    this.deps.log.error({ event: what, err: (err as Error).message }, 'notification not raised')
  }

  /** The user a budget concerns: its user, its key's owner; null for a global budget (a platform event). */
  async #budgetOwner(budgetId: string): Promise<{ userId: string | null; periodStart: Date } | null> {
    const [row] = await this.deps.sql<{ user_id: string | null; period_start: Date }[]>`
      SELECT coalesce(b.user_id, k.user_id) AS user_id, b.period_start FROM budgets b LEFT JOIN api_keys k ON k.id = b.api_key_id
      WHERE b.id = ${budgetId}`
    return row ? { userId: row.user_id, periodStart: row.period_start } : null
  }

  async #budgetWarning(entry: AuditEntry): Promise<void> {
    const id = entry.resource!.id!
    const owner = await this.#budgetOwner(id)
    if (!owner) return
    const d = entry.details ?? {}
    const pct = Number(d.limit_micros) > 0 ? Math.round((Number(d.spent_micros) / Number(d.limit_micros)) * 100) : null
    await this.deps.notifications.emit({
      type: 'budget.warning',
      key: `budget.warning:${id}:${owner.periodStart.toISOString()}`,
      userId: owner.userId,
      title: `Budget "${String(d.name ?? id)}" is at ${pct ?? '?'}% of its limit`,
      data: { budget_id: id, name: d.name, scope: d.scope, spent_usd: Number(d.spent_micros) / 1e6, limit_usd: Number(d.limit_micros) / 1e6, threshold_pct: d.threshold_pct, api_key_id: entry.actor?.apiKeyId ?? null },
    })
  }

  async #security(entry: AuditEntry): Promise<void> {
    const subject = entry.resource?.id ?? entry.actor?.apiKeyId ?? entry.actor?.userId ?? 'platform'
    const window = Math.floor(Date.now() / SECURITY_WINDOW_MS)
    const key = `security.event:${entry.action}:${subject}:${window}`
    // Under an attack the same event repeats many times a second: this replica asks the database once per key.
    if (this.#raised.has(key)) return
    this.#raised.add(key)
    if (this.#raised.size > 10_000) this.#raised.clear()
    await this.deps.notifications.emit({
      type: 'security.event',
      key,
      userId: null,
      title: `Security: ${entry.action.replace(/^security\./, '').replace(/_/g, ' ')} (${severityOf(entry.action)})`,
      data: {
        action: entry.action,
        severity: severityOf(entry.action),
        outcome: entry.outcome,
        resource_type: entry.resource?.type ?? null,
        resource_id: entry.resource?.id ?? null,
        actor_user_id: entry.actor?.userId ?? null,
        api_key_id: entry.actor?.apiKeyId ?? null,
        details: entry.details ?? {},
        note: 'More events of this kind about the same subject within 10 minutes are in the security feed only.',
      },
    })
  }

  /** A provider's circuit opened or closed on this replica: raised when the shared state changes, once. */
  async providerCircuit(provider: string, state: 'open' | 'closed', reason: string | null): Promise<void> {
    const sql = this.deps.sql
    if (state === 'open') {
      const [row] = await sql<{ changed_at: Date }[]>`
        INSERT INTO provider_health (name, state, changed_at) VALUES (${provider}, 'down', now())
        ON CONFLICT (name) DO UPDATE SET state = 'down', changed_at = now() WHERE provider_health.state <> 'down'
        RETURNING changed_at`
      if (!row) return
      await this.deps.notifications.emit({
        type: 'provider.down',
        key: `provider.down:${provider}:${row.changed_at.toISOString()}`,
        userId: null,
        title: `Provider ${provider} is down`,
        data: { provider, reason },
      })
      return
    }
    const [row] = await sql<{ changed_at: Date; down_since: Date }[]>`
      UPDATE provider_health p SET state = 'up', changed_at = now() FROM (SELECT changed_at FROM provider_health WHERE name = ${provider}) old
      WHERE p.name = ${provider} AND p.state = 'down' RETURNING p.changed_at, old.changed_at AS down_since`
    if (!row) return
    await this.deps.notifications.emit({
      type: 'provider.recovered',
      key: `provider.recovered:${provider}:${row.changed_at.toISOString()}`,
      userId: null,
      title: `Provider ${provider} recovered`,
      data: { provider, down_since: row.down_since.toISOString(), down_seconds: Math.round((row.changed_at.getTime() - row.down_since.getTime()) / 1000) },
    })
  }

  /** A plugin the platform disabled on its own (limit violations, crashes): once per time it had been enabled. */
  async pluginDisabled(name: string, reason: string): Promise<void> {
    const [row] = await this.deps.sql<{ granted_at: Date | null; updated_at: Date }[]>`SELECT granted_at, updated_at FROM plugins WHERE name = ${name}`
    await this.deps.notifications.emit({
      type: 'plugin.disabled',
      // Once per time it had been enabled (granted); a plugin without a row (uninstalled meanwhile): once a minute.
      key: `plugin.disabled:${name}:${row?.granted_at?.toISOString() ?? `minute-${Math.floor(Date.now() / 60_000)}`}`,
      userId: null,
      title: `Plugin ${name} was disabled`,
      data: { plugin: name, reason },
    })
  }

  /** A document's indexing gave up (its job's last attempt, or a file that cannot be read). */
  async documentFailed(doc: { id: string; collection_id: string; filename: string; job_id?: string | null }, error: string): Promise<void> {
    const [row] = await this.deps.sql<{ owner_id: string; name: string }[]>`SELECT owner_id, name FROM rag_collections WHERE id = ${doc.collection_id}`
    if (!row) return
    await this.deps.notifications.emit({
      type: 'document.failed',
      key: `document.failed:${doc.id}:${doc.job_id ?? 'job'}`,
      userId: row.owner_id,
      title: `${doc.filename} could not be indexed`,
      data: { document_id: doc.id, filename: doc.filename, collection_id: doc.collection_id, collection: row.name, error: error.slice(0, 1000) },
    })
  }

  /** Keys expiring within 7 days, and budgets spent: raised once per key expiry and per budget period. */
  async check(now = new Date()): Promise<void> {
    const sql = this.deps.sql
    const keys = await sql<{ id: string; user_id: string; name: string; key_prefix: string; expires_at: Date }[]>`
      SELECT id, user_id, name, key_prefix, expires_at FROM api_keys
      WHERE is_active AND expires_at > ${now} AND expires_at <= ${new Date(now.getTime() + 7 * DAY_MS)}`
    for (const k of keys)
      await this.deps.notifications.emit({
        type: 'key.expiring',
        key: `key.expiring:${k.id}:${k.expires_at.toISOString()}`,
        userId: k.user_id,
        title: `API key "${k.name}" expires ${k.expires_at.toISOString().slice(0, 10)}`,
        data: { api_key_id: k.id, name: k.name, key_prefix: k.key_prefix, expires_at: k.expires_at.toISOString(), days_left: Math.max(0, Math.floor((k.expires_at.getTime() - now.getTime()) / DAY_MS)) },
      })
    const budgets = await sql<
      { id: string; name: string; scope: string; user_id: string | null; api_key_id: string | null; limit_micros: string; spent_micros: string; period_start: Date; period_end: Date; is_hard: boolean }[]
    >`
      SELECT b.id, b.name, b.scope, coalesce(b.user_id, k.user_id) AS user_id, b.api_key_id, b.limit_micros, b.spent_micros, b.period_start, b.period_end, b.is_hard
      FROM budgets b LEFT JOIN api_keys k ON k.id = b.api_key_id
      WHERE b.is_active AND b.spent_micros >= b.limit_micros AND b.period_end > ${now}`
    for (const b of budgets)
      await this.deps.notifications.emit({
        type: 'budget.exhausted',
        key: `budget.exhausted:${b.id}:${b.period_start.toISOString()}`,
        userId: b.user_id,
        title: `Budget "${b.name}" is exhausted`,
        data: {
          budget_id: b.id,
          name: b.name,
          scope: b.scope,
          api_key_id: b.api_key_id,
          spent_usd: Number(b.spent_micros) / 1e6,
          limit_usd: Number(b.limit_micros) / 1e6,
          hard: b.is_hard,
          renews_at: b.period_end.toISOString(),
        },
      })
  }
}
