import { t } from 'elysia'

export const SCOPES = ['llm', 'rag:read', 'rag:write', 'chatbots', 'plugins', 'agents', 'mcp'] as const
export type Scope = (typeof SCOPES)[number]
/** Least privilege: a new key can read but not write documents unless asked for. */
export const DEFAULT_SCOPES: Scope[] = ['llm', 'rag:read', 'chatbots', 'plugins']

const ScopeSchema = t.Union(SCOPES.map((s) => t.Literal(s)) as [ReturnType<typeof t.Literal<Scope>>])
const RateLimit = t.Nullable(t.Integer({ minimum: 1, maximum: 10_000_000 }))

const restrictions = {
  scopes: t.Array(ScopeSchema, { maxItems: SCOPES.length, uniqueItems: true }),
  allowed_models: t.Array(t.String({ minLength: 1, maxLength: 200 }), { maxItems: 100, uniqueItems: true }),
  /** Paths under /api/v1, matched as prefixes, e.g. "/chat/completions". */
  allowed_endpoints: t.Array(t.String({ pattern: '^/[A-Za-z0-9/_.{}-]*$', maxLength: 200 }), {
    maxItems: 50,
    uniqueItems: true,
  }),
  /** Single addresses or CIDR ranges, IPv4 or IPv6. */
  allowed_ips: t.Array(t.String({ minLength: 2, maxLength: 64 }), { maxItems: 100, uniqueItems: true }),
  /** Document collections the key may reach (rag scopes); empty: all of its owner's. */
  allowed_collections: t.Array(t.String({ format: 'uuid' }), { maxItems: 100, uniqueItems: true }),
  /** Chatbots the key may talk to (chatbots scope); empty: all of its owner's. */
  allowed_chatbots: t.Array(t.String({ format: 'uuid' }), { maxItems: 100, uniqueItems: true }),
  /** Web origins (scheme://host[:port]) that may use the key from a browser, e.g. for the chat widget. */
  allowed_origins: t.Array(t.String({ pattern: '^https?://[^/\\s]+$', maxLength: 300 }), { maxItems: 50, uniqueItems: true }),
  rate_limit_per_minute: RateLimit,
  rate_limit_per_hour: RateLimit,
  rate_limit_per_day: RateLimit,
  /** Estimated prompt tokens plus requested max_tokens, per minute, on the gateway. */
  rate_limit_tokens_per_minute: RateLimit,
  expires_at: t.Nullable(t.String({ format: 'date-time' })),
  /** Only confidential (TEE) models: others are neither listed nor callable with this key. */
  confidential_only: t.Boolean(),
  /**
   * Data-loss prevention on requests this key sends outside the TEE: off, redact or block; null follows the owner's
   * policy. A key can only make it stricter than its owner's (an "off" here changes nothing).
   */
  dlp_mode: t.Nullable(t.Union([t.Literal('off'), t.Literal('redact'), t.Literal('block')])),
}

const Restrictions = t.Object(restrictions)

export const CreateKeyBody = t.Composite(
  [t.Object({ name: t.String({ minLength: 1, maxLength: 100 }) }), t.Partial(Restrictions)],
  { additionalProperties: false },
)
export type CreateKeyInput = typeof CreateKeyBody.static

export const UpdateKeyBody = t.Partial(CreateKeyBody, { additionalProperties: false, minProperties: 1 })
export type UpdateKeyInput = typeof UpdateKeyBody.static

export const KeySchema = t.Object({
  id: t.String({ format: 'uuid' }),
  user_id: t.String({ format: 'uuid' }),
  name: t.String(),
  key_prefix: t.String(),
  ...Restrictions.properties,
  is_active: t.Boolean(),
  /** Set when threat detection suspended the key (an anomaly); an administrator reinstates it. */
  suspended_at: t.Nullable(t.String({ format: 'date-time' })),
  suspended_reason: t.Nullable(t.String()),
  request_count: t.Integer(),
  created_at: t.String({ format: 'date-time' }),
  updated_at: t.String({ format: 'date-time' }),
  last_used_at: t.Nullable(t.String({ format: 'date-time' })),
})
export type KeyView = typeof KeySchema.static

/** Only on create and regenerate: the one time the secret is shown. */
export const KeyWithSecretSchema = t.Composite([KeySchema, t.Object({ key: t.String() })])

export const ListKeysQuery = t.Object({
  /** Admins: every user's keys instead of their own. */
  all: t.Boolean({ default: false }),
  user_id: t.Optional(t.String({ format: 'uuid' })),
  limit: t.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: t.Integer({ minimum: 0, default: 0 }),
})

export const KeyUsageSchema = t.Object({
  id: t.String(),
  request_count: t.Integer(),
  last_used_at: t.Nullable(t.String({ format: 'date-time' })),
})

export const KeyUsageDailyQuery = t.Object({ days: t.Integer({ minimum: 1, maximum: 366, default: 30 }) })

/** One day and model of a key's traffic, as the dashboard's usage chart draws it. */
export const KeyUsageDaySchema = t.Object({
  day: t.String({ description: 'YYYY-MM-DD (UTC)' }),
  model: t.String(),
  requests: t.Integer(),
  errors: t.Integer(),
  prompt_tokens: t.Integer(),
  completion_tokens: t.Integer(),
  cost_usd: t.Number(),
})

export const MeSchema = t.Object({
  id: t.String(),
  name: t.String(),
  key_prefix: t.String(),
  owner: t.Object({ id: t.String(), username: t.String(), email: t.String() }),
  scopes: t.Array(t.String()),
  limits: t.Object({
    allowed_models: t.Array(t.String()),
    allowed_endpoints: t.Array(t.String()),
    allowed_ips: t.Array(t.String()),
    allowed_collections: t.Array(t.String()),
    allowed_chatbots: t.Array(t.String()),
    allowed_origins: t.Array(t.String()),
    rate_limit_per_minute: t.Nullable(t.Integer()),
    rate_limit_per_hour: t.Nullable(t.Integer()),
    rate_limit_per_day: t.Nullable(t.Integer()),
    rate_limit_tokens_per_minute: t.Nullable(t.Integer()),
    expires_at: t.Nullable(t.String({ format: 'date-time' })),
  }),
})
