import { Value } from '@sinclair/typebox/value'
import type { AuditLog } from '../audit/service.ts'
import type { CacheStore } from '../cache/types.ts'
import type { Config } from '../config.ts'
import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import type { Logger } from '../log.ts'
import { parseRange } from '../api-keys/ip-allowlist.ts'
import { DEFAULT_INJECTION_THRESHOLD } from './injection.ts'
import { SecuritySettingsSchema, type SecuritySettingsPatchInput, type SecuritySettingsValue } from './model.ts'

const CHANNEL = 'security:settings'
/** Every replica re-reads the row this often, in case a change's message was lost. */
const RELOAD_MS = 60_000

/** The environment's values: what a setting nobody changed is. */
export function settingsFromConfig(config: Config): SecuritySettingsValue {
  return {
    confidential_only: config.CONFIDENTIAL_ONLY,
    dlp_mode: config.DLP_MODE,
    dlp_detect_contacts: config.DLP_DETECT_CONTACTS,
    injection_threshold: DEFAULT_INJECTION_THRESHOLD,
    injection_judge_model: config.INJECTION_JUDGE_MODEL ?? null,
    login_ip_max_failures: config.LOGIN_IP_MAX_FAILURES,
    login_ip_min_accounts: config.LOGIN_IP_MIN_ACCOUNTS,
    login_ip_window_minutes: config.LOGIN_IP_WINDOW_MINUTES,
    login_ip_block_minutes: config.LOGIN_IP_BLOCK_MINUTES,
    probe_threshold: config.PROBE_THRESHOLD,
    probe_window_minutes: config.PROBE_WINDOW_MINUTES,
    probe_block_minutes: config.PROBE_BLOCK_MINUTES,
    key_anomaly_policy: config.KEY_ANOMALY_POLICY,
    key_anomaly_window_minutes: 10,
    key_anomaly_request_factor: 10,
    key_anomaly_min_requests: 100,
    key_anomaly_spend_factor: 10,
    key_anomaly_min_spend_usd: 1,
    key_anomaly_min_history_hours: 24,
    trusted_ips: config.SECURITY_TRUSTED_IPS.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  }
}

/**
 * The security thresholds in force: the environment's, overridden by what administrators saved (one row), held in
 * memory on every replica so the request path reads them for free. A change is broadcast over the cache; each replica
 * also re-reads the row every minute. CONFIDENTIAL_ONLY=true in the environment is a floor the row cannot lower.
 */
export class SecuritySettings {
  readonly #sql: Sql
  readonly #cache: CacheStore
  readonly #log: Logger
  readonly #audit: AuditLog
  readonly defaults: SecuritySettingsValue
  readonly #floorConfidential: boolean
  #current: SecuritySettingsValue
  #updatedAt: Date | null = null
  #trusted: NonNullable<ReturnType<typeof parseRange>>[] = []
  #timer: ReturnType<typeof setInterval> | undefined
  #unsubscribe: (() => Promise<void>) | null = null

  constructor(deps: { sql: Sql; cache: CacheStore; log: Logger; audit: AuditLog; config: Config }) {
    this.#sql = deps.sql
    this.#cache = deps.cache
    this.#log = deps.log
    this.#audit = deps.audit
    this.defaults = settingsFromConfig(deps.config)
    this.#floorConfidential = deps.config.CONFIDENTIAL_ONLY
    this.#current = this.defaults
    this.#apply({})
  }

  get current(): SecuritySettingsValue {
    return this.#current
  }

  get updatedAt(): Date | null {
    return this.#updatedAt
  }

  /** Whether threat detection must leave this address alone (SECURITY_TRUSTED_IPS and the setting). */
  trusted(ip: string): boolean {
    if (this.#trusted.length === 0) return false
    const addr = parseRange(ip)?.[0]
    return addr !== undefined && this.#trusted.some((r) => r[0].kind() === addr.kind() && addr.match(r))
  }

  #apply(stored: Partial<SecuritySettingsValue>): void {
    // A stored value the schema no longer accepts (a field renamed, a bound tightened) falls back to the default.
    const merged = { ...this.defaults }
    for (const [k, v] of Object.entries(stored)) {
      const candidate = { ...merged, [k]: v }
      if (Value.Check(SecuritySettingsSchema, candidate)) Object.assign(merged, { [k]: v })
    }
    if (this.#floorConfidential) merged.confidential_only = true
    this.#current = merged
    this.#trusted = merged.trusted_ips.map(parseRange).filter((r): r is NonNullable<typeof r> => r !== null)
  }

  async load(): Promise<void> {
    const [row] = await this.#sql<{ settings: Partial<SecuritySettingsValue>; updated_at: Date }[]>`SELECT settings, updated_at FROM security_settings`
    this.#updatedAt = row?.updated_at ?? null
    this.#apply(row?.settings ?? {})
  }

  async start(): Promise<void> {
    await this.load()
    this.#unsubscribe = await this.#cache.subscribe(CHANNEL, () => {
      this.load().catch((err) => this.#log.error({ err: (err as Error).message }, 'security settings reload failed'))
    })
    this.#timer = setInterval(() => {
      this.load().catch((err) => this.#log.warn({ err: (err as Error).message }, 'security settings reload failed'))
    }, RELOAD_MS)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#unsubscribe?.()
    this.#unsubscribe = null
  }

  async update(patch: SecuritySettingsPatchInput, actor: { id: string; email: string }, meta: RequestMeta): Promise<void> {
    for (const entry of patch.trusted_ips ?? [])
      if (!parseRange(entry)) throw new ApiError('validation_failed', `trusted_ips: "${entry}" is not an IP address or CIDR range`, 'trusted_ips')
    if (patch.confidential_only === false && this.#floorConfidential)
      throw new ApiError('invalid_request', 'CONFIDENTIAL_ONLY=true is set in the environment: confidential-only cannot be turned off here', 'confidential_only')
    const sql = this.#sql
    const before = this.#current
    await sql`
      INSERT INTO security_settings (id, settings, updated_at, updated_by)
      VALUES (true, ${sql.json(patch as never)}, now(), ${actor.id})
      ON CONFLICT (id) DO UPDATE SET settings = security_settings.settings || excluded.settings, updated_at = now(), updated_by = excluded.updated_by`
    await this.load()
    const changed = Object.keys(patch).filter((k) => JSON.stringify(before[k as keyof SecuritySettingsValue]) !== JSON.stringify(this.#current[k as keyof SecuritySettingsValue]))
    await this.#audit.record(
      {
        action: 'security.settings_change',
        outcome: 'success',
        actor: { userId: actor.id, label: actor.email },
        details: Object.fromEntries(changed.map((k) => [k, { from: before[k as keyof SecuritySettingsValue], to: this.#current[k as keyof SecuritySettingsValue] }])),
      },
      meta,
    )
    await this.#cache.publish(CHANNEL, 'changed').catch((err) => this.#log.warn({ err: (err as Error).message }, 'security settings change not broadcast; replicas reload within a minute'))
  }
}
