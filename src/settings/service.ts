import { Value } from '@sinclair/typebox/value'
import type { TSchema } from '@sinclair/typebox'
import type { AuditLog } from '../audit/service.ts'
import type { CacheStore } from '../cache/types.ts'
import { ConfigSchema, type Config } from '../config.ts'
import type { SecretBox } from '../crypto/secretbox.ts'
import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import type { Logger } from '../log.ts'
import { SecuritySettingsSchema, type SecuritySettingsValue } from '../security/model.ts'
import type { SecuritySettings } from '../security/settings.ts'
import { LiveState } from './live.ts'
import { PlatformSettingsSchema, SmtpPassword, type PlatformSettingsValue } from './model.ts'

export const SETTINGS_CHANNEL = 'settings:changed'
const SMTP_PASSWORD_CONTEXT = 'platform-setting:smtp_password'

type PlatformKey = keyof PlatformSettingsValue
type SecurityKey = keyof SecuritySettingsValue

/** The environment variable each runtime setting starts from. */
export const ENVIRONMENT_OF: Record<PlatformKey | SecurityKey, string> = {
  allow_registration: 'ALLOW_REGISTRATION',
  rate_limit_public_per_minute: 'RATE_LIMIT_PUBLIC_PER_MINUTE',
  rate_limit_internal_per_minute: 'RATE_LIMIT_INTERNAL_PER_MINUTE',
  widget_rate_limit_per_minute: 'WIDGET_RATE_LIMIT_PER_MINUTE',
  lockout_threshold: 'LOCKOUT_THRESHOLD',
  lockout_minutes: 'LOCKOUT_MINUTES',
  upload_max_file_mb: 'UPLOAD_MAX_FILE_MB',
  default_chatbot_model: 'DEFAULT_CHATBOT_MODEL',
  default_embedding_model: 'DEFAULT_EMBEDDING_MODEL',
  widget_allowed_origins: 'WIDGET_ALLOWED_ORIGINS',
  retention_audit_days: 'RETENTION_AUDIT_DAYS',
  retention_usage_days: 'RETENTION_USAGE_DAYS',
  retention_plugin_logs_days: 'PLUGIN_LOG_RETENTION_DAYS',
  retention_conversations_days: 'RETENTION_CONVERSATIONS_DAYS',
  retention_responses_days: 'RETENTION_RESPONSES_DAYS',
  notification_channel_types: '(none)',
  notification_user_channels: '(none)',
  smtp_host: 'SMTP_URL',
  smtp_port: 'SMTP_URL',
  smtp_security: 'SMTP_URL',
  smtp_username: 'SMTP_URL',
  smtp_from: 'SMTP_FROM',
  confidential_only: 'CONFIDENTIAL_ONLY',
  dlp_mode: 'DLP_MODE',
  dlp_detect_contacts: 'DLP_DETECT_CONTACTS',
  injection_threshold: '(none)',
  injection_judge_model: 'INJECTION_JUDGE_MODEL',
  login_ip_max_failures: 'LOGIN_IP_MAX_FAILURES',
  login_ip_min_accounts: 'LOGIN_IP_MIN_ACCOUNTS',
  login_ip_window_minutes: 'LOGIN_IP_WINDOW_MINUTES',
  login_ip_block_minutes: 'LOGIN_IP_BLOCK_MINUTES',
  probe_threshold: 'PROBE_THRESHOLD',
  probe_window_minutes: 'PROBE_WINDOW_MINUTES',
  probe_block_minutes: 'PROBE_BLOCK_MINUTES',
  key_anomaly_policy: 'KEY_ANOMALY_POLICY',
  key_anomaly_window_minutes: '(none)',
  key_anomaly_request_factor: '(none)',
  key_anomaly_min_requests: '(none)',
  key_anomaly_spend_factor: '(none)',
  key_anomaly_min_spend_usd: '(none)',
  key_anomaly_min_history_hours: '(none)',
  trusted_ips: 'SECURITY_TRUSTED_IPS',
}

/** Environment settings that are read once at start (and so are not runtime settings), with why, when it helps. */
const FIXED_REASON: Partial<Record<keyof Config, string>> = {
  UPLOAD_MAX_REQUEST_MB: "the server's request size limit, fixed when it starts listening",
}

/** The SMTP server of SMTP_URL, as settings. */
function smtpFromUrl(raw: string | undefined): Pick<PlatformSettingsValue, 'smtp_host' | 'smtp_port' | 'smtp_security' | 'smtp_username'> & { password: string | null } {
  if (!raw) return { smtp_host: null, smtp_port: 587, smtp_security: 'starttls', smtp_username: null, password: null }
  const url = new URL(raw)
  const tls = url.protocol === 'smtps:'
  return {
    smtp_host: url.hostname.replace(/^\[|\]$/g, ''),
    smtp_port: url.port ? Number(url.port) : tls ? 465 : 587,
    smtp_security: tls ? 'tls' : url.searchParams.get('security') === 'none' ? 'none' : 'starttls',
    smtp_username: url.username ? decodeURIComponent(url.username) : null,
    password: url.password ? decodeURIComponent(url.password) : null,
  }
}

/** The environment's values: what a setting nobody changed is. */
export function platformDefaults(config: Config): PlatformSettingsValue {
  const { password: _password, ...smtp } = smtpFromUrl(config.SMTP_URL)
  return {
    allow_registration: config.ALLOW_REGISTRATION,
    rate_limit_public_per_minute: config.RATE_LIMIT_PUBLIC_PER_MINUTE,
    rate_limit_internal_per_minute: config.RATE_LIMIT_INTERNAL_PER_MINUTE,
    widget_rate_limit_per_minute: config.WIDGET_RATE_LIMIT_PER_MINUTE,
    lockout_threshold: config.LOCKOUT_THRESHOLD,
    lockout_minutes: config.LOCKOUT_MINUTES,
    upload_max_file_mb: Math.min(config.UPLOAD_MAX_FILE_MB, config.UPLOAD_MAX_REQUEST_MB),
    default_chatbot_model: config.DEFAULT_CHATBOT_MODEL ?? null,
    default_embedding_model: config.DEFAULT_EMBEDDING_MODEL ?? null,
    widget_allowed_origins: config.WIDGET_ALLOWED_ORIGINS.split(',')
      .map((o) => o.trim().replace(/\/+$/, ''))
      .filter(Boolean),
    retention_audit_days: config.RETENTION_AUDIT_DAYS ?? null,
    retention_usage_days: config.RETENTION_USAGE_DAYS ?? null,
    retention_plugin_logs_days: config.PLUGIN_LOG_RETENTION_DAYS,
    retention_conversations_days: config.RETENTION_CONVERSATIONS_DAYS ?? null,
    retention_responses_days: config.RETENTION_RESPONSES_DAYS ?? null,
    notification_channel_types: ['webhook', 'email'],
    notification_user_channels: true,
    ...smtp,
    smtp_from: config.SMTP_FROM,
  }
}

const PLATFORM_KEYS = Object.keys(PlatformSettingsSchema.properties) as PlatformKey[]
const SECURITY_KEYS = Object.keys(SecuritySettingsSchema.properties) as SecurityKey[]
const isPlatformKey = (k: string): k is PlatformKey => (PLATFORM_KEYS as string[]).includes(k)
const isSecurityKey = (k: string): k is SecurityKey => (SECURITY_KEYS as string[]).includes(k)
const CONFIG_KEYS = Object.keys(ConfigSchema.properties) as (keyof Config)[]
/** Environment variables whose value a runtime setting takes over (their names point to the setting). */
const BACKED = new Map<string, string>()
for (const [setting, env] of Object.entries(ENVIRONMENT_OF)) if (!env.startsWith('(') && !BACKED.has(env)) BACKED.set(env, setting)

/** `https://Shop.example.com:443/` -> `https://shop.example.com`, or null when it is not an http(s) origin. */
function canonicalOrigin(value: string): string | null {
  try {
    const url = new URL(value)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null
    if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) return null
    return url.origin
  } catch {
    return null
  }
}

/** Checks one value against its schema; the error names the setting (and the item, in a list). */
function checkValue(key: string, schema: TSchema, value: unknown): void {
  const error = Value.Errors(schema, value).First()
  if (!error) return
  const where = error.path ? `${key}${error.path.replace(/\/(\d+)/g, '[$1]').replace(/\//g, '.')}` : key
  const shown = JSON.stringify(value)
  throw new ApiError('validation_failed', `${where}: ${error.message}${shown && shown.length <= 80 ? `, got ${shown}` : ''}`, where)
}

export interface SettingsChange {
  platform: Partial<PlatformSettingsValue>
  security: Partial<SecuritySettingsValue>
  smtpPassword?: string | null
}

/**
 * The platform settings in force: the environment's values, overridden by what administrators saved (one row, secrets
 * sealed), held in memory on every replica so that a rate limit or a lockout check reads them for free. A change
 * reaches every replica within a second (pub/sub; every replica also re-reads the row every few seconds). The
 * security thresholds stay in their own store (SecuritySettings); this one validates and routes changes to both, and
 * audits every change with its before and after values.
 */
export class PlatformSettings {
  readonly defaults: PlatformSettingsValue
  readonly #defaultPassword: string | null
  #current: PlatformSettingsValue
  #stored: Partial<PlatformSettingsValue> = {}
  #secrets: Record<string, string> = {}
  #updatedAt: Date | null = null
  readonly #live: LiveState
  readonly #listeners: ((current: PlatformSettingsValue) => void)[] = []

  constructor(
    readonly deps: { sql: Sql; cache: CacheStore; log: Logger; audit: AuditLog; box: SecretBox; config: Config; security: SecuritySettings },
  ) {
    this.defaults = platformDefaults(deps.config)
    this.#defaultPassword = smtpFromUrl(deps.config.SMTP_URL).password
    this.#current = this.defaults
    this.#live = new LiveState({ cache: deps.cache, log: deps.log, channel: SETTINGS_CHANNEL, reload: () => this.load(), what: 'platform settings' })
  }

  get current(): PlatformSettingsValue {
    return this.#current
  }

  get updatedAt(): Date | null {
    return this.#updatedAt
  }

  /** The SMTP password in force: the saved one, else SMTP_URL's. */
  smtpPassword(): string | null {
    const sealed = this.#secrets.smtp_password
    if (sealed === undefined) return this.#defaultPassword
    try {
      return this.deps.box.open(sealed, SMTP_PASSWORD_CONTEXT)
    } catch {
      this.deps.log.error('the saved SMTP password cannot be opened (ENCRYPTION_KEY changed?); set it again')
      return null
    }
  }

  hasSmtpPassword(): boolean {
    return this.#secrets.smtp_password !== undefined || this.#defaultPassword !== null
  }

  /** Called with the new settings whenever they change on this replica (a change anywhere, or a reload). */
  onChange(listener: (current: PlatformSettingsValue) => void): void {
    this.#listeners.push(listener)
  }

  async load(): Promise<void> {
    const [row] = await this.deps.sql<{ settings: Partial<PlatformSettingsValue>; secrets: Record<string, string>; updated_at: Date }[]>`
      SELECT settings, secrets, updated_at FROM platform_settings`
    const stored = row?.settings ?? {}
    // A stored value the schema no longer accepts (a bound tightened) falls back to the environment's.
    const merged = { ...this.defaults }
    for (const [k, v] of Object.entries(stored))
      if (isPlatformKey(k) && Value.Check(PlatformSettingsSchema.properties[k], v)) Object.assign(merged, { [k]: v })
    const changed = JSON.stringify(merged) !== JSON.stringify(this.#current)
    this.#stored = stored
    this.#current = merged
    this.#secrets = row?.secrets ?? {}
    this.#updatedAt = row?.updated_at ?? null
    if (changed)
      for (const listener of this.#listeners) {
        try {
          listener(merged)
        } catch (err) {
          this.deps.log.error({ err: (err as Error).message }, 'a settings listener failed')
        }
      }
  }

  start(): Promise<void> {
    return this.#live.start()
  }

  stop(): Promise<void> {
    return this.#live.stop()
  }

  /** The saved settings that differ from the environment's, platform and security alike. */
  overridden(): string[] {
    const sec = this.deps.security
    return [
      ...PLATFORM_KEYS.filter((k) => k in this.#stored && JSON.stringify(this.#current[k]) !== JSON.stringify(this.defaults[k])),
      ...SECURITY_KEYS.filter((k) => JSON.stringify(sec.current[k]) !== JSON.stringify(sec.defaults[k])),
    ]
  }

  /** Environment settings that cannot change at run time: every one no runtime setting takes over. */
  restartRequired(): { name: string; description: string }[] {
    return CONFIG_KEYS.filter((k) => !BACKED.has(k)).map((name) => ({
      name,
      description: FIXED_REASON[name] ?? String((ConfigSchema.properties[name] as TSchema).description ?? ''),
    }))
  }

  /**
   * Validates a PATCH field by field (the error names the field), refusing what cannot change at run time with the
   * way to change it, and sorts it into platform and security settings.
   */
  parse(body: Record<string, unknown>): SettingsChange {
    const change: SettingsChange = { platform: {}, security: {} }
    const config = this.deps.config
    for (const [key, value] of Object.entries(body)) {
      const upper = key.toUpperCase()
      if (key === 'upload_max_request_mb' || upper === 'UPLOAD_MAX_REQUEST_MB')
        throw new ApiError(
          'invalid_request',
          `UPLOAD_MAX_REQUEST_MB cannot change at run time (${FIXED_REASON.UPLOAD_MAX_REQUEST_MB}): set it in the environment and restart`,
          key,
        )
      if (key === 'smtp_password') {
        checkValue(key, SmtpPassword, value)
        change.smtpPassword = value as string | null
        continue
      }
      if (isPlatformKey(key)) {
        checkValue(key, PlatformSettingsSchema.properties[key], value)
        Object.assign(change.platform, { [key]: value })
        continue
      }
      if (isSecurityKey(key)) {
        checkValue(key, SecuritySettingsSchema.properties[key], value)
        Object.assign(change.security, { [key]: value })
        continue
      }
      if (BACKED.has(upper))
        throw new ApiError('validation_failed', `${key} is the environment variable behind the setting ${BACKED.get(upper)}: send ${BACKED.get(upper)} instead`, key)
      if ((CONFIG_KEYS as string[]).includes(upper))
        throw new ApiError('invalid_request', `${upper} cannot change at run time: set it in the environment and restart`, key)
      throw new ApiError('validation_failed', `${key} is not a setting; the settings are those GET /api-internal/v1/settings returns`, key)
    }
    const p = change.platform
    if (p.upload_max_file_mb !== undefined && p.upload_max_file_mb > config.UPLOAD_MAX_REQUEST_MB)
      throw new ApiError(
        'validation_failed',
        `upload_max_file_mb may be at most UPLOAD_MAX_REQUEST_MB (${config.UPLOAD_MAX_REQUEST_MB}), the server's request size limit; raise that in the environment and restart first`,
        'upload_max_file_mb',
      )
    p.widget_allowed_origins?.forEach((o, i) => {
      const canonical = canonicalOrigin(o)
      if (!canonical) throw new ApiError('validation_failed', `widget_allowed_origins[${i}]: "${o}" is not an origin like https://shop.example.com (scheme and host, no path)`, `widget_allowed_origins[${i}]`)
      p.widget_allowed_origins![i] = canonical
    })
    if (p.smtp_from !== undefined && !/^([^<>\r\n]{0,200}<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/.test(p.smtp_from))
      throw new ApiError('validation_failed', `smtp_from: expected an address or "Name <address>", got ${JSON.stringify(p.smtp_from)}`, 'smtp_from')
    return change
  }

  /**
   * Applies a validated change: security settings through their own store (which audits them as
   * security.settings_change too), the others into platform_settings; one settings.update audit event with every
   * changed setting's before and after value (a secret only as "changed").
   */
  async update(body: Record<string, unknown>, actor: { id: string; email: string }, meta: RequestMeta): Promise<void> {
    const change = this.parse(body)
    const sec = this.deps.security
    const beforePlatform = this.#current
    const beforeSecurity = sec.current
    if (Object.keys(change.security).length > 0) await sec.update(change.security, actor, meta)
    const sql = this.deps.sql
    if (Object.keys(change.platform).length > 0 || change.smtpPassword !== undefined) {
      await sql.begin(async (tx) => {
        await tx`INSERT INTO platform_settings (id) VALUES (true) ON CONFLICT (id) DO NOTHING`
        await tx`
          UPDATE platform_settings SET settings = settings || ${tx.json(change.platform as never)}, updated_at = now(), updated_by = ${actor.id}`
        if (change.smtpPassword === null) await tx`UPDATE platform_settings SET secrets = secrets - 'smtp_password'`
        else if (change.smtpPassword !== undefined)
          await tx`UPDATE platform_settings SET secrets = secrets || ${tx.json({ smtp_password: this.deps.box.seal(change.smtpPassword, SMTP_PASSWORD_CONTEXT) })}`
      })
      await this.#live.changed()
    }
    const details: Record<string, { from: unknown; to: unknown }> = {}
    for (const k of Object.keys(change.platform) as PlatformKey[])
      if (JSON.stringify(beforePlatform[k]) !== JSON.stringify(this.#current[k])) details[k] = { from: beforePlatform[k], to: this.#current[k] }
    for (const k of Object.keys(change.security) as SecurityKey[])
      if (JSON.stringify(beforeSecurity[k]) !== JSON.stringify(sec.current[k])) details[k] = { from: beforeSecurity[k], to: sec.current[k] }
    if (change.smtpPassword !== undefined) details.smtp_password = { from: '(hidden)', to: change.smtpPassword === null ? '(cleared)' : '(changed)' }
    await this.deps.audit.record(
      { action: 'settings.update', outcome: 'success', actor: { userId: actor.id, label: actor.email }, resource: { type: 'settings', id: 'platform' }, details },
      meta,
    )
  }
}
