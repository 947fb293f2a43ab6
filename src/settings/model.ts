import { t } from 'elysia'
import { SecuritySettingsSchema } from '../security/model.ts'

const PerMinute = (description: string) => t.Integer({ minimum: 1, maximum: 10_000_000, description })
const Days = (minimum: number, description: string) => t.Nullable(t.Integer({ minimum, maximum: 36_500, description }))
const ModelName = (description: string) => t.Nullable(t.String({ minLength: 1, maxLength: 200, description }))

/**
 * The platform settings an administrator changes at run time (`PATCH /api-internal/v1/settings`), each with the
 * environment variable that gives its default. The security thresholds (confidential_only, dlp_mode, ...) are the
 * security settings' own (src/security/settings.ts), read and changed through the same routes.
 */
export const PlatformSettingsSchema = t.Object(
  {
    allow_registration: t.Boolean({ description: 'Anyone may create an account (POST /auth/register)' }),
    rate_limit_public_per_minute: PerMinute('Requests per minute per API key, unless the key sets its own'),
    rate_limit_internal_per_minute: PerMinute('Requests per minute per user on the internal API'),
    widget_rate_limit_per_minute: PerMinute('Chat widget messages per minute per chatbot and visitor address'),
    lockout_threshold: t.Integer({ minimum: 1, maximum: 1000, description: 'Failed sign-ins before an account is locked' }),
    lockout_minutes: t.Integer({ minimum: 1, maximum: 525_600, description: 'How long a locked account stays locked' }),
    upload_max_file_mb: t.Number({ exclusiveMinimum: 0, maximum: 1_000_000, description: 'Size of one uploaded document (at most UPLOAD_MAX_REQUEST_MB)' }),
    default_chatbot_model: ModelName('The model of a chatbot created without one (null: a chatbot must name its model)'),
    default_embedding_model: ModelName('The embeddings model of a collection created without one (null: lexical-only)'),
    widget_allowed_origins: t.Array(t.String({ minLength: 1, maxLength: 300 }), {
      maxItems: 500,
      description: 'Origins the chat widget may be used from at all, e.g. https://shop.example.com (empty: any origin a widget key names)',
    }),
    retention_audit_days: Days(1, 'Days audit events are kept (null: kept)'),
    retention_usage_days: Days(31, 'Days usage records are kept, then summed per day (null: kept; at least 31, as analytics look back 30 days)'),
    retention_plugin_logs_days: t.Integer({ minimum: 1, maximum: 3650, description: 'Days plugin logs, host-call audit and cron history are kept' }),
    retention_conversations_days: Days(1, 'Days a chatbot conversation is kept after its last message (null: kept)'),
    retention_responses_days: Days(1, 'Days stored responses and Responses-API conversations are kept (null: kept)'),
    notification_channel_types: t.Array(t.Union([t.Literal('webhook'), t.Literal('email')]), {
      maxItems: 2,
      uniqueItems: true,
      description: 'Channel types in use: a type left out gets no new deliveries and no new channels',
    }),
    notification_user_channels: t.Boolean({ description: 'Users may add webhook and email channels of their own (for events that concern them)' }),
    smtp_host: t.Nullable(t.String({ minLength: 1, maxLength: 253, description: 'Mail server for email notifications (null: no email)' })),
    smtp_port: t.Integer({ minimum: 1, maximum: 65535, description: 'Its port' }),
    smtp_security: t.Union([t.Literal('starttls'), t.Literal('tls'), t.Literal('none')], {
      description: 'starttls: upgrade when offered (587); tls: TLS from the start (465); none: plain text (a local relay only)',
    }),
    smtp_username: t.Nullable(t.String({ minLength: 1, maxLength: 256, description: 'Its user name (null: no authentication)' })),
    smtp_from: t.String({ minLength: 3, maxLength: 320, description: 'The sender: an address, or "Name <address>"' }),
  },
  { additionalProperties: false },
)
export type PlatformSettingsValue = typeof PlatformSettingsSchema.static

/** Write-only settings: sent in a PATCH, shown only as set or not. */
export const SECRET_SETTINGS = ['smtp_password'] as const
export type SecretSetting = (typeof SECRET_SETTINGS)[number]
export const SmtpPassword = t.Nullable(t.String({ minLength: 1, maxLength: 1000, description: 'Write-only: the mail server password (null clears it)' }))

export const AllSettingsSchema = t.Composite([PlatformSettingsSchema, SecuritySettingsSchema])
export type AllSettingsValue = typeof AllSettingsSchema.static

/** A PATCH: any runtime setting (platform or security) and the write-only ones; checked field by field in the service. */
export const SettingsPatchBody = t.Record(t.String({ maxLength: 100 }), t.Unknown(), {
  minProperties: 1,
  maxProperties: 100,
  description:
    'Any of the settings GET returns (platform and security), plus smtp_password (write-only). A setting that can only ' +
    'change in the environment is refused with a 400 that names it.',
})

export const SettingsView = t.Object({
  settings: AllSettingsSchema,
  /** What the environment says: a setting nobody changed has this value. */
  defaults: AllSettingsSchema,
  /** The settings saved at run time (different from the environment's value). */
  overridden: t.Array(t.String()),
  /** Write-only settings: whether each is set. */
  secrets: t.Object({ smtp_password: t.Boolean() }),
  /** Settings fixed at start: change them in the environment (or ENCLAVA_CONFIG) and restart. */
  restart_required: t.Array(t.Object({ name: t.String(), description: t.String() })),
  /** The environment variable each runtime setting starts from. */
  environment: t.Record(t.String(), t.String()),
  updated_at: t.Nullable(t.Date()),
})
