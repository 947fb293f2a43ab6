import { t } from 'elysia'
import { Type as T, type Static } from '@sinclair/typebox'

/**
 * The plugin domain's shapes: the manifest (plugin.json) and the administration API's answers, shared by
 * validation, OpenAPI and the dashboard. Schemas only, so the dashboard can import their types.
 */

const Slug = T.String({ pattern: '^[a-z][a-z0-9-]{1,38}[a-z0-9]$', description: 'lower-case letters, digits and dashes' })
/** What a model calls a tool, as OpenAI's function tools (and the tools engine) take it. */
const ToolName = T.String({ pattern: '^[a-zA-Z0-9_-]{1,64}$', description: 'letters, digits, _ and -, up to 64' })
/** How many tools one plugin may declare: each is a line in a model's prompt. */
export const MAX_PLUGIN_TOOLS = 32
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'ALL'] as const

/** Deno-style permissions: whatever is not listed is denied. */
export const PermissionsSchema = T.Object(
  {
    /** Hosts it may fetch: "api.example.com", "api.example.com:8443", "*.example.com". */
    net: T.Optional(T.Array(T.String({ minLength: 1, maxLength: 260 }), { maxItems: 50, uniqueItems: true })),
    llm: T.Optional(
      T.Object(
        {
          models: T.Array(T.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 50, uniqueItems: true }),
          /** Most it may spend per calendar month, in USD. */
          budget_usd: T.Number({ exclusiveMinimum: 0, maximum: 1_000_000 }),
        },
        { additionalProperties: false },
      ),
    ),
    /** Collections it may search (read only), by id. */
    rag: T.Optional(T.Object({ collections: T.Array(T.String({ format: 'uuid' }), { minItems: 1, maxItems: 100, uniqueItems: true }) }, { additionalProperties: false })),
    /** Chatbots it may invoke, by id. */
    chatbots: T.Optional(T.Object({ invoke: T.Array(T.String({ format: 'uuid' }), { minItems: 1, maxItems: 100, uniqueItems: true }) }, { additionalProperties: false })),
    /** Its own key/value storage, with a quota. */
    kv: T.Optional(T.Object({ quota_kb: T.Integer({ minimum: 1, maximum: 102_400, default: 1024 }) }, { additionalProperties: false })),
    /** Config fields marked secret that it may read (in clear, only itself). */
    secrets: T.Optional(T.Array(T.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), { maxItems: 50, uniqueItems: true })),
  },
  { additionalProperties: false },
)

/**
 * plugin.json. Permissions are Deno-style: whatever is not listed is denied, and an administrator grants the list
 * before the plugin runs; a new version asking for more needs a new grant.
 */
export const ManifestSchema = T.Object(
  {
    name: Slug,
    version: T.String({ minLength: 5, maxLength: 64 }),
    description: T.String({ maxLength: 1000, default: '' }),
    author: T.String({ maxLength: 200, default: '' }),
    license: T.String({ maxLength: 100, default: '' }),
    homepage: T.Optional(T.String({ pattern: '^https?://', maxLength: 500 })),
    /** The TypeScript or JavaScript module that default-exports the plugin class, relative to the folder. */
    entry: T.String({ pattern: '^[A-Za-z0-9_./-]+\\.(ts|js|mjs)$', default: 'src/index.ts' }),
    permissions: T.Composite([PermissionsSchema], { additionalProperties: false, default: {} }),
    routes: T.Array(
      T.Object(
        {
          method: T.Union(METHODS.map((m) => T.Literal(m))),
          /** Under the plugin's mount point, e.g. "/tickets/:id". */
          path: T.String({ pattern: '^/[A-Za-z0-9/_:.*-]*$', maxLength: 200 }),
          auth: T.Union([T.Literal('api_key'), T.Literal('jwt'), T.Literal('public')]),
          /** api_key routes: the key must carry this scope (default "plugins"). */
          scope: T.Optional(T.String({ maxLength: 100 })),
          /**
           * Webhooks: the platform checks an HMAC of the raw body before the plugin runs, e.g. Zammad's
           * {"header": "X-Hub-Signature", "algorithm": "sha1", "prefix": "sha1=", "secret": "webhook_secret"}.
           * `secret` names a config field marked secret.
           */
          signature: T.Optional(
            T.Object(
              {
                header: T.String({ pattern: '^[A-Za-z0-9-]+$' }),
                algorithm: T.Union([T.Literal('sha1'), T.Literal('sha256'), T.Literal('sha512')]),
                prefix: T.String({ maxLength: 20, default: '' }),
                encoding: T.Union([T.Literal('hex'), T.Literal('base64')], { default: 'hex' }),
                secret: T.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
      { maxItems: 100, default: [] },
    ),
    cron: T.Array(
      T.Object(
        {
          name: T.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]{0,63}$' }),
          /** Five fields: minute hour day-of-month month day-of-week (UTC). */
          schedule: T.String({ maxLength: 100 }),
          timeout_ms: T.Integer({ minimum: 100, maximum: 3_600_000, default: 60_000 }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 20, default: [] },
    ),
    /**
     * Tools for agents: the plugin implements each in its class's `tools` (same names, checked at load); an
     * administrator chooses which of them agents may use (the grant's `tools`).
     */
    tools: T.Array(
      T.Object(
        {
          name: ToolName,
          /** What the model reads to decide when to call it. */
          description: T.String({ minLength: 1, maxLength: 1024 }),
          /** JSON Schema of its arguments: an object schema (checked like `config`, at most 16 KB). */
          parameters: T.Object({ type: T.Literal('object') }, { additionalProperties: true }),
        },
        { additionalProperties: false },
      ),
      { maxItems: MAX_PLUGIN_TOOLS, default: [] },
    ),
    /** JSON Schema (an object schema) of its settings; a property with "secret": true is stored encrypted and never shown. */
    config: T.Object({}, { additionalProperties: true, default: { type: 'object', properties: {} } }),
    limits: T.Object(
      {
        memory_mb: T.Optional(T.Integer({ minimum: 8, maximum: 4096 })),
        cpu_ms: T.Optional(T.Integer({ minimum: 1, maximum: 600_000 })),
        wall_ms: T.Optional(T.Integer({ minimum: 1, maximum: 3_600_000 })),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
)
export type Manifest = Static<typeof ManifestSchema>
export type Permissions = Manifest['permissions']

/** What the platform allows at most, whatever a manifest asks for or a grant gives. */
export const LIMIT_CAPS = { memory_mb: 256, cpu_ms: 10_000, wall_ms: 120_000 }

/** Limits above the platform's defaults, granted by an administrator like a permission. */
export const GrantedLimitsSchema = T.Object(
  {
    memory_mb: T.Optional(T.Integer({ minimum: 8, maximum: LIMIT_CAPS.memory_mb })),
    cpu_ms: T.Optional(T.Integer({ minimum: 1, maximum: LIMIT_CAPS.cpu_ms })),
    wall_ms: T.Optional(T.Integer({ minimum: 1, maximum: LIMIT_CAPS.wall_ms })),
  },
  { additionalProperties: false },
)
export type GrantedLimits = Static<typeof GrantedLimitsSchema>

/**
 * What an administrator grants: permissions, limits above the defaults, and which of the plugin's tools agents may
 * use (by name; none unless listed: a manifest never asks for this, an administrator chooses it).
 */
export const GrantSchema = T.Composite(
  [PermissionsSchema, T.Object({ limits: T.Optional(GrantedLimitsSchema), tools: T.Optional(T.Array(ToolName, { maxItems: MAX_PLUGIN_TOOLS, uniqueItems: true })) })],
  { additionalProperties: false },
)
export type Grant = Static<typeof GrantSchema>

const Manifest = ManifestSchema.properties
const When = t.String({ format: 'date-time' })

/** What the API shows of a plugin: secret values never, only which secret fields are set (see settings). */
export const PluginSchema = t.Object({
  name: t.String(),
  version: t.String(),
  description: t.String(),
  author: t.String(),
  license: t.String(),
  homepage: t.Nullable(t.String()),
  source: t.Union([t.Literal('bundled'), t.Literal('uploaded')]),
  code_hash: t.String(),
  enabled: t.Boolean(),
  /** Running in this replica's sandbox now. */
  loaded: t.Boolean(),
  requested_permissions: PermissionsSchema,
  /** Limits above the defaults that the manifest asks for (they need a grant too). */
  requested_limits: GrantedLimitsSchema,
  granted_permissions: t.Nullable(GrantSchema),
  granted_at: t.Nullable(When),
  routes: t.Array(t.Object({ method: t.String(), path: t.String(), auth: Manifest.routes.items.properties.auth })),
  cron: Manifest.cron,
  /** The tools it declares for agents; `granted_permissions.tools` says which of them agents may use. */
  tools: t.Array(t.Object({ name: t.String(), description: t.String(), parameters: t.Unknown() })),
  /** The JSON Schema its settings follow. */
  config_schema: t.Unknown(),
  limits: Manifest.limits,
  /** The limits it runs with: what it asks for, within what was granted. */
  effective_limits: t.Object({ memory_mb: t.Integer(), cpu_ms: t.Integer(), wall_ms: t.Integer() }),
  disabled_reason: t.Nullable(t.String()),
  created_at: When,
  updated_at: When,
})
export type PluginView = typeof PluginSchema.static

/** Settings as the dashboard edits them: secret fields are write-only, so only whether each is set. */
export const PluginSettingsSchema = t.Object({
  values: t.Record(t.String(), t.Unknown()),
  secrets: t.Record(t.String(), t.Boolean()),
  schema: t.Unknown(),
})

export const PluginStatsSchema = t.Object({
  invocations: t.Integer(),
  errors: t.Integer(),
  limit_violations: t.Integer(),
  p50_ms: t.Nullable(t.Number()),
  p99_ms: t.Nullable(t.Number()),
  /** From this replica's sandbox; null while the plugin is not running here. */
  cpu_ms: t.Nullable(t.Number()),
  heap_bytes: t.Nullable(t.Number()),
  recycles: t.Nullable(t.Integer()),
})

export const PluginLogSchema = t.Object({
  id: t.String(),
  invocation_id: t.Nullable(t.String()),
  level: t.String(),
  message: t.String(),
  created_at: t.Date(),
})

/** How much of a plugin's log is kept, against its caps. */
export const PluginLogRetentionSchema = t.Object({
  stored_bytes: t.Integer(),
  max_bytes: t.Number(),
  retention_days: t.Integer(),
  /** Log bytes it may write per minute; more are dropped, and one line says how many. */
  bytes_per_minute: t.Integer(),
})

export const PluginHostCallSchema = t.Object({
  id: t.String(),
  invocation_id: t.Nullable(t.String()),
  call: t.String(),
  allowed: t.Boolean(),
  detail: t.Nullable(t.String()),
  created_at: t.Date(),
})

export const CronRunSchema = t.Object({
  id: t.String(),
  job: t.String(),
  scheduled_for: t.Date(),
  started_at: t.Date(),
  finished_at: t.Nullable(t.Date()),
  status: t.Union([t.Literal('running'), t.Literal('ok'), t.Literal('error'), t.Literal('skipped')]),
  duration_ms: t.Nullable(t.Number()),
  error: t.Nullable(t.String()),
})
