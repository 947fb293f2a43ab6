import { t } from 'elysia'
import { AuditRecordSchema } from '../audit/model.ts'
import { EXPORT_MAX_ROWS } from '../audit/model.ts'

const DlpModeSchema = t.Union([t.Literal('off'), t.Literal('redact'), t.Literal('block')])
const Minutes = (max: number, description: string) => t.Integer({ minimum: 1, maximum: max, description })

/** The thresholds of confidentiality, guardrails and threat detection, as administrators change them at run time. */
export const SecuritySettingsSchema = t.Object(
  {
    confidential_only: t.Boolean({ description: 'Only confidential (TEE) models, for every caller (CONFIDENTIAL_ONLY=true cannot be turned off here)' }),
    dlp_mode: DlpModeSchema,
    dlp_detect_contacts: t.Boolean({ description: 'DLP also finds email addresses and phone numbers' }),
    injection_threshold: t.Number({ minimum: 0.05, maximum: 1, description: 'Chunks and messages scoring at least this are flagged' }),
    injection_judge_model: t.Nullable(t.String({ minLength: 1, maxLength: 200, description: 'A gateway model that judges borderline chunks' })),
    login_ip_max_failures: t.Integer({ minimum: 1, maximum: 100_000, description: 'Failed sign-ins from one address that, once exceeded, block it' }),
    login_ip_min_accounts: t.Integer({ minimum: 1, maximum: 100_000, description: 'Different accounts those failures must name' }),
    login_ip_window_minutes: Minutes(1440, 'The window sign-in failures are counted in'),
    login_ip_block_minutes: Minutes(10080, 'How long a stuffing address is blocked'),
    probe_threshold: t.Integer({ minimum: 1, maximum: 100_000, description: 'Probing requests from one address that block it' }),
    probe_window_minutes: Minutes(1440, 'The window probes are counted in'),
    probe_block_minutes: Minutes(10080, 'How long a probing address is blocked'),
    key_anomaly_policy: t.Union([t.Literal('alert'), t.Literal('suspend')]),
    key_anomaly_window_minutes: Minutes(1440, "The recent window compared with the key's baseline"),
    key_anomaly_request_factor: t.Number({ minimum: 1.5, maximum: 10_000, description: 'Requests in the window above this many times the baseline are a spike' }),
    key_anomaly_min_requests: t.Integer({ minimum: 1, maximum: 10_000_000, description: 'A request spike needs at least this many requests in the window' }),
    key_anomaly_spend_factor: t.Number({ minimum: 1.5, maximum: 10_000, description: 'Spend in the window above this many times the baseline is a spike' }),
    key_anomaly_min_spend_usd: t.Number({ minimum: 0, maximum: 1_000_000, description: 'A spend spike needs at least this much spent in the window' }),
    key_anomaly_min_history_hours: t.Integer({ minimum: 1, maximum: 8760, description: 'A key needs this much history before it has a baseline' }),
    trusted_ips: t.Array(t.String({ minLength: 2, maxLength: 64 }), { maxItems: 200, description: 'Addresses and CIDR ranges never blocked' }),
  },
  { additionalProperties: false },
)
export type SecuritySettingsValue = typeof SecuritySettingsSchema.static

export const SecuritySettingsPatch = t.Partial(SecuritySettingsSchema, { additionalProperties: false, minProperties: 1 })
export type SecuritySettingsPatchInput = typeof SecuritySettingsPatch.static

export const SecuritySettingsView = t.Object({
  settings: SecuritySettingsSchema,
  /** What the environment says (a setting nobody changed has this value). */
  defaults: SecuritySettingsSchema,
  updated_at: t.Nullable(t.Date()),
})

export const Severity = t.Union([t.Literal('low'), t.Literal('medium'), t.Literal('high')])

/** A security event is an audit event of the security family, with its severity. */
export const SecurityEventSchema = t.Composite([AuditRecordSchema, t.Object({ severity: Severity })])

const eventFilters = {
  /** One event kind, e.g. security.ip_blocked, security.dlp_redacted, auth.lockout. */
  action: t.Optional(t.String({ maxLength: 100 })),
  severity: t.Optional(Severity),
  ip: t.Optional(t.String({ maxLength: 64 })),
  actor_user_id: t.Optional(t.String({ format: 'uuid' })),
  api_key_id: t.Optional(t.String({ format: 'uuid' })),
  since: t.Optional(t.String({ format: 'date-time' })),
  until: t.Optional(t.String({ format: 'date-time' })),
}

export const ListEventsQuery = t.Object({
  ...eventFilters,
  limit: t.Integer({ minimum: 1, maximum: 500, default: 100 }),
  offset: t.Integer({ minimum: 0, default: 0 }),
})
export type EventQuery = Omit<typeof ListEventsQuery.static, 'limit' | 'offset'>

export const ExportEventsQuery = t.Object({
  ...eventFilters,
  format: t.Union([t.Literal('csv'), t.Literal('json')]),
  limit: t.Integer({ minimum: 1, maximum: EXPORT_MAX_ROWS, default: EXPORT_MAX_ROWS }),
})

export const IpBlockSchema = t.Object({
  id: t.String(),
  ip: t.String(),
  reason: t.String(),
  details: t.Record(t.String(), t.Unknown()),
  created_at: t.Date(),
  expires_at: t.Date(),
  created_by: t.Nullable(t.String()),
  lifted_at: t.Nullable(t.Date()),
  lifted_by: t.Nullable(t.String()),
})

export const BlockBody = t.Object(
  {
    ip: t.String({ minLength: 2, maxLength: 64, description: 'An IPv4 or IPv6 address' }),
    minutes: t.Integer({ minimum: 1, maximum: 525_600, default: 60 }),
    reason: t.Optional(t.String({ minLength: 1, maxLength: 500 })),
  },
  { additionalProperties: false },
)

export const IpParams = t.Object({ ip: t.String({ minLength: 2, maxLength: 64 }) })
export const KeyIdParams = t.Object({ id: t.String({ format: 'uuid' }) })

export const SuspendedKeySchema = t.Object({
  id: t.String(),
  name: t.String(),
  key_prefix: t.String(),
  user_id: t.String(),
  owner_email: t.Nullable(t.String()),
  suspended_at: t.Date(),
  suspended_reason: t.Nullable(t.String()),
})

/** What the security page shows at a glance. */
export const SecurityOverviewSchema = t.Object({
  confidential_only: t.Boolean(),
  dlp_mode: DlpModeSchema,
  active_blocks: t.Integer(),
  suspended_keys: t.Integer(),
  events_24h: t.Object({ low: t.Integer(), medium: t.Integer(), high: t.Integer() }),
  flagged_chunks: t.Integer(),
})
