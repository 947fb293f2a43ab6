import { Validator, type Schema } from '@cfworker/json-schema'
import { Type as T, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { Cron } from 'croner'
import semver from 'semver'
import { DEFAULT_LIMITS, type Limits } from '../../sandbox/protocol.ts'
import { parseNetGrant } from './net-guard.ts'

const Slug = T.String({ pattern: '^[a-z][a-z0-9-]{1,38}[a-z0-9]$', description: 'lower-case letters, digits and dashes' })
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

/** What the platform allows at most, whatever a manifest asks for. */
export const LIMIT_CAPS = { memory_mb: 256, cpu_ms: 10_000, wall_ms: 120_000 }

export class ManifestError extends Error {}

/** Parses and checks a plugin.json; every problem is named with its path. */
export function parseManifest(raw: unknown): Manifest {
  const withDefaults = Value.Default(ManifestSchema, structuredClone(raw))
  const first = Value.Errors(ManifestSchema, withDefaults).First()
  if (first) throw new ManifestError(`plugin.json${first.path.replaceAll('/', '.') || ''}: ${first.message}`)
  const m = withDefaults as Manifest
  if (!semver.valid(m.version)) throw new ManifestError(`plugin.json.version: "${m.version}" is not a semantic version`)
  try {
    parseNetGrant({ hosts: m.permissions.net ?? [] })
  } catch (err) {
    throw new ManifestError(`plugin.json.permissions.net: ${(err as Error).message}`)
  }
  for (const job of m.cron) {
    if (job.schedule.trim().split(/\s+/).length !== 5)
      throw new ManifestError(`plugin.json.cron.${job.name}: "${job.schedule}" must have five fields (minute hour day month weekday)`)
    try {
      new Cron(job.schedule, { paused: true, timezone: 'UTC' }).stop()
    } catch (err) {
      throw new ManifestError(`plugin.json.cron.${job.name}: ${(err as Error).message}`)
    }
  }
  const names = new Set<string>()
  for (const r of m.routes) {
    const key = `${r.method} ${r.path}`
    if (names.has(key)) throw new ManifestError(`plugin.json.routes: "${key}" is declared twice`)
    names.add(key)
  }
  const schema = m.config as { type?: unknown; properties?: Record<string, { secret?: boolean }> }
  if (schema.type !== 'object') throw new ManifestError('plugin.json.config: must be a JSON Schema with "type": "object"')
  for (const r of m.routes)
    if (r.signature && !schema.properties?.[r.signature.secret]?.secret)
      throw new ManifestError(`plugin.json.routes: "${r.method} ${r.path}" signs with "${r.signature.secret}", which is not a config property marked "secret": true`)
  for (const name of m.permissions.secrets ?? [])
    if (!schema.properties?.[name]?.secret)
      throw new ManifestError(`plugin.json.permissions.secrets: "${name}" is not a config property marked "secret": true`)
  return m
}

/** The config properties marked secret. */
export function secretFields(m: Manifest): string[] {
  const props = (m.config as { properties?: Record<string, { secret?: boolean }> }).properties ?? {}
  return Object.entries(props)
    .filter(([, p]) => p?.secret === true)
    .map(([k]) => k)
}

/** Checks settings against the plugin's own JSON Schema; returns the problems, or [] when valid. */
export function validateConfig(m: Manifest, value: unknown): string[] {
  const result = new Validator(m.config as Schema, '2020-12', false).validate(value)
  return result.valid ? [] : result.errors.filter((e) => e.keyword !== 'properties').map((e) => `${e.instanceLocation.replace(/^#/, '') || '/'}: ${e.error}`)
}

/** The manifest's limits, capped by the platform, in the sandbox's terms. */
export function sandboxLimits(m: Manifest): Limits {
  return {
    ...DEFAULT_LIMITS,
    memoryMb: Math.min(m.limits.memory_mb ?? DEFAULT_LIMITS.memoryMb, LIMIT_CAPS.memory_mb),
    cpuMs: Math.min(m.limits.cpu_ms ?? DEFAULT_LIMITS.cpuMs, LIMIT_CAPS.cpu_ms),
    wallMs: Math.min(m.limits.wall_ms ?? DEFAULT_LIMITS.wallMs, LIMIT_CAPS.wall_ms),
  }
}

/**
 * Whether `granted` covers everything `requested` asks for. A new version that asks for a host, model, collection,
 * secret, a bigger budget or quota than was granted needs a new grant.
 */
export function grantCovers(granted: Permissions | null, requested: Permissions): boolean {
  if (!granted) return false
  const sub = (a: readonly string[] | undefined, b: readonly string[] | undefined) => (a ?? []).every((x) => (b ?? []).includes(x))
  if (!sub(requested.net, granted.net)) return false
  if (!sub(requested.secrets, granted.secrets)) return false
  if (requested.llm && (!granted.llm || !sub(requested.llm.models, granted.llm.models) || requested.llm.budget_usd > granted.llm.budget_usd)) return false
  if (requested.rag && (!granted.rag || !sub(requested.rag.collections, granted.rag.collections))) return false
  if (requested.chatbots && (!granted.chatbots || !sub(requested.chatbots.invoke, granted.chatbots.invoke))) return false
  if (requested.kv && (!granted.kv || requested.kv.quota_kb > granted.kv.quota_kb)) return false
  return true
}
