import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Type as T, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

/** Every setting, named exactly as its environment variable. A config file (ENCLAVA_CONFIG) uses the same names. */
export const ConfigSchema = T.Object({
  PORT: T.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: T.String({ minLength: 1, default: '127.0.0.1' }),
  DATA_DIR: T.String({ minLength: 1, default: './.data' }),
  DATABASE_URL: T.Optional(T.String({ pattern: '^postgres(ql)?://' })),
  REDIS_URL: T.Optional(T.String({ pattern: '^rediss?://' })),
  REDIS_PREFIX: T.String({ default: 'enclava:' }),
  QDRANT_URL: T.Optional(T.String({ pattern: '^https?://' })),
  ADMIN_EMAIL: T.String({ pattern: '^[^\\s@]+@[^\\s@]+$', description: 'an email address', default: 'admin@enclava.local' }),
  ADMIN_PASSWORD: T.Optional(T.String({ minLength: 12, maxLength: 256 })),
  JWT_SECRET: T.Optional(T.String({ minLength: 32 })),
  ENCRYPTION_KEY: T.Optional(T.String({ pattern: '^[0-9a-fA-F]{64}$' })),
  LOG_LEVEL: T.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => T.Literal(l)), {
    default: 'info',
  }),
  ACCESS_TOKEN_TTL_SECONDS: T.Integer({ minimum: 60, maximum: 86400, default: 900 }),
  REFRESH_TOKEN_TTL_SECONDS: T.Integer({ minimum: 3600, default: 30 * 86400 }),
  ALLOW_REGISTRATION: T.Boolean({ default: false }),
  TRUST_PROXY: T.Boolean({ default: false }),
  LOCKOUT_THRESHOLD: T.Integer({ minimum: 1, default: 5 }),
  LOCKOUT_MINUTES: T.Integer({ minimum: 1, default: 15 }),
  SHUTDOWN_TIMEOUT_MS: T.Integer({ minimum: 0, default: 10000 }),
  /** privatemode.ai's privatemode-proxy (attestation + end-to-end encryption), base URL ending in /v1. */
  PRIVATEMODE_URL: T.Optional(T.String({ pattern: '^https?://.+/v1/?$', description: 'an http(s) URL ending in /v1' })),
  PRIVATEMODE_API_KEY: T.Optional(T.String({ minLength: 1 })),
  /** One generic OpenAI-compatible upstream (vLLM, Ollama, OpenAI, ...) without the admin API. */
  OPENAI_COMPAT_URL: T.Optional(T.String({ pattern: '^https?://', description: 'an http(s) URL' })),
  OPENAI_COMPAT_API_KEY: T.Optional(T.String({ minLength: 1 })),
  /** More upstreams at once, e.g. from the config file: [{"name","kind","base_url","api_key"}]. JSON in the environment. */
  PROVIDERS: T.Array(
    T.Object(
      {
        name: T.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }),
        kind: T.Union([T.Literal('privatemode'), T.Literal('openai-compatible')]),
        base_url: T.String({ pattern: '^https?://' }),
        api_key: T.Optional(T.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    { default: [], description: 'a JSON array of {name, kind, base_url, api_key?}' },
  ),
  RATE_LIMIT_PUBLIC_PER_MINUTE: T.Integer({ minimum: 1, default: 1000 }),
  RATE_LIMIT_INTERNAL_PER_MINUTE: T.Integer({ minimum: 1, default: 300 }),
  UPSTREAM_CONNECT_TIMEOUT_MS: T.Integer({ minimum: 100, default: 5000 }),
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: T.Integer({ minimum: 100, default: 60000 }),
  UPSTREAM_TOTAL_TIMEOUT_MS: T.Integer({ minimum: 100, default: 600000 }),
  UPSTREAM_MAX_RETRIES: T.Integer({ minimum: 0, maximum: 10, default: 2 }),
  /** The output cap imposed on a model whose settings name none (and what a request without max_tokens reserves). */
  DEFAULT_MAX_OUTPUT_TOKENS: T.Integer({ minimum: 1, maximum: 1_000_000, default: 4096 }),
  /** JSON request bodies (the chat API, every other JSON route) of a caller who presents credentials. */
  MAX_JSON_BODY_MB: T.Number({ exclusiveMinimum: 0, maximum: 1024, default: 8 }),
  /** Any request body of a caller who presents no credentials (sign-in, the widget, public plugin routes...). */
  MAX_ANONYMOUS_BODY_KB: T.Integer({ minimum: 1, maximum: 1_048_576, default: 256 }),
  /** How long a replica trusts a cached API key before checking it again in the database (revocation without Redis). */
  API_KEY_RECHECK_SECONDS: T.Integer({ minimum: 0, maximum: 3600, default: 5 }),
  /** Where uploaded originals are kept, encrypted. Replicas must share it (a network volume). Default DATA_DIR/files. */
  FILE_STORAGE_DIR: T.Optional(T.String({ minLength: 1 })),
  /** Master key that wraps each file's data key; defaults to ENCRYPTION_KEY. */
  FILE_MASTER_KEY: T.Optional(T.String({ pattern: '^[0-9a-fA-F]{64}$' })),
  UPLOAD_MAX_FILE_MB: T.Number({ exclusiveMinimum: 0, default: 50 }),
  /** A whole upload request (a batch of files). */
  UPLOAD_MAX_REQUEST_MB: T.Number({ exclusiveMinimum: 0, default: 512 }),
  /** auto: Qdrant when QDRANT_URL is set, else pgvector when installed, else exact search over vectors in PostgreSQL. */
  VECTOR_STORE: T.Union([T.Literal('auto'), T.Literal('pgvector'), T.Literal('postgres'), T.Literal('qdrant')], { default: 'auto' }),
  QDRANT_API_KEY: T.Optional(T.String({ minLength: 1 })),
  /** Memory for in-process copies of collections' BM25 postings (per replica); SQL answers beyond it. */
  LEXICAL_CACHE_MB: T.Integer({ minimum: 0, default: 256 }),
  /** The built dashboard served at `/`; default web/dist of this checkout. */
  WEB_DIST_DIR: T.Optional(T.String({ minLength: 1 })),
  /** Folders searched for plugins at start-up (comma-separated). */
  PLUGINS_DIRS: T.String({ default: 'plugins' }),
  /** Requests per minute to one plugin from one caller (API key, user, or IP for public routes). */
  PLUGIN_RATE_LIMIT_PER_MINUTE: T.Integer({ minimum: 1, default: 600 }),
  /**
   * Served as the origin of plugin content (`https://plugins.example.com`), a host of its own that the dashboard's
   * cookies never reach. Unset: plugin responses are sandboxed instead (`Content-Security-Policy: sandbox`).
   */
  PLUGIN_ORIGIN: T.Optional(T.String({ pattern: '^https?://[^/?#]+$' })),
  /** Log lines kept per plugin: the newest PLUGIN_LOG_MAX_MB, none older than PLUGIN_LOG_RETENTION_DAYS. */
  PLUGIN_LOG_MAX_MB: T.Number({ exclusiveMinimum: 0, maximum: 10_000, default: 10 }),
  PLUGIN_LOG_RETENTION_DAYS: T.Integer({ minimum: 1, maximum: 3650, default: 7 }),
  /** Log bytes one plugin may write per minute; the rest are dropped and counted. */
  PLUGIN_LOG_BYTES_PER_MINUTE: T.Integer({ minimum: 1024, default: 1024 * 1024 }),
  /** kv writes (set, delete) per second per plugin and replica. */
  PLUGIN_KV_WRITES_PER_SECOND: T.Integer({ minimum: 1, default: 100 }),
  /** Chat widget messages per minute per chatbot and visitor IP (publishable keys are public by nature). */
  WIDGET_RATE_LIMIT_PER_MINUTE: T.Integer({ minimum: 1, default: 20 }),
  PLUGIN_UPLOAD_MAX_MB: T.Number({ exclusiveMinimum: 0, default: 5 }),
  /** Node.js >= 24 for the plugin sandbox; default: the one installed in node_modules. */
  SANDBOX_NODE_PATH: T.Optional(T.String({ minLength: 1 })),
  /** Documents indexed at once by this replica. */
  INGEST_CONCURRENCY: T.Integer({ minimum: 1, maximum: 16, default: 2 }),
  /** How long a background job stays claimed by a replica that stopped renewing it (crashed) before another takes it. */
  JOB_LEASE_SECONDS: T.Integer({ minimum: 1, maximum: 3600, default: 60 }),
})

export type Config = Static<typeof ConfigSchema> & { JWT_SECRET: string; ENCRYPTION_KEY: string }
type RawConfig = Static<typeof ConfigSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

function readConfigFile(path: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new ConfigError(`ENCLAVA_CONFIG: cannot read ${path}: ${(err as Error).message}`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConfigError(`ENCLAVA_CONFIG: ${path} must hold a JSON object of settings`)
  return parsed as Record<string, unknown>
}

function describe(schema: TSchema): string {
  if (typeof schema.description === 'string') return schema.description
  if (schema.type === 'integer') return 'an integer'
  if (schema.type === 'boolean') return 'true or false'
  if (schema.anyOf) return `one of ${schema.anyOf.map((s: TSchema) => s.const).join(', ')}`
  if (schema.pattern) return `a value matching ${schema.pattern}`
  return 'a valid value'
}

/**
 * Environment (+ optional JSON file named by ENCLAVA_CONFIG) -> one validated config.
 * The environment wins over the file; an unknown key in the file or a bad value anywhere is an error naming it.
 */
export function parseConfig(env: Record<string, string | undefined> = process.env): RawConfig {
  const known = Object.keys(ConfigSchema.properties)
  const file = env.ENCLAVA_CONFIG ? readConfigFile(env.ENCLAVA_CONFIG) : {}
  for (const key of Object.keys(file))
    if (!known.includes(key)) throw new ConfigError(`${key}: unknown setting in ${env.ENCLAVA_CONFIG}`)

  const raw: Record<string, unknown> = {}
  for (const key of known) {
    const fromEnv = env[key]
    let value: unknown = fromEnv !== undefined && fromEnv !== '' ? fromEnv : file[key]
    // Structured settings arrive from the environment as JSON text.
    if (typeof value === 'string' && ConfigSchema.properties[key as keyof RawConfig].type === 'array') {
      try {
        value = JSON.parse(value)
      } catch {
        throw new ConfigError(`${key}: expected ${describe(ConfigSchema.properties[key as keyof RawConfig])}, got text that is not JSON`)
      }
    }
    if (value !== undefined) raw[key] = value
  }
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, raw))
  const firstError = Value.Errors(ConfigSchema, converted).First()
  if (firstError) {
    const segments = firstError.path.split('/').filter(Boolean)
    const key = segments[0] ?? ''
    const schema = ConfigSchema.properties[key as keyof RawConfig] as TSchema | undefined
    const secret = /SECRET|PASSWORD|KEY/i.test(firstError.path)
    if (segments.length > 1)
      throw new ConfigError(`${segments.join('.')}: ${firstError.message}${secret ? '' : `, got ${JSON.stringify(firstError.value)}`}`)
    const shown = secret ? '<hidden>' : JSON.stringify(raw[key])
    throw new ConfigError(`${key}: expected ${schema ? describe(schema) : 'a valid value'}, got ${shown}`)
  }
  return converted as RawConfig
}

/**
 * Secrets that were not configured are generated once and kept in DATA_DIR/secrets.json (mode 0600), so a
 * laptop install needs no set-up and restarts keep sessions and encrypted data readable.
 */
function withPersistedSecrets(config: RawConfig): Config {
  if (config.JWT_SECRET && config.ENCRYPTION_KEY)
    return { ...config, JWT_SECRET: config.JWT_SECRET, ENCRYPTION_KEY: config.ENCRYPTION_KEY }
  mkdirSync(config.DATA_DIR, { recursive: true, mode: 0o700 })
  const path = join(config.DATA_DIR, 'secrets.json')
  const stored: { JWT_SECRET?: string; ENCRYPTION_KEY?: string } = existsSync(path)
    ? JSON.parse(readFileSync(path, 'utf8'))
    : {}
  const secrets = {
    JWT_SECRET: stored.JWT_SECRET ?? randomBytes(48).toString('base64url'),
    ENCRYPTION_KEY: stored.ENCRYPTION_KEY ?? randomBytes(32).toString('hex'),
  }
  if (stored.JWT_SECRET !== secrets.JWT_SECRET || stored.ENCRYPTION_KEY !== secrets.ENCRYPTION_KEY) {
    writeFileSync(path, JSON.stringify(secrets, null, 2), { mode: 0o600 })
    chmodSync(path, 0o600)
  }
  return {
    ...config,
    JWT_SECRET: config.JWT_SECRET ?? secrets.JWT_SECRET,
    ENCRYPTION_KEY: config.ENCRYPTION_KEY ?? secrets.ENCRYPTION_KEY,
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = parseConfig(env)
  return withPersistedSecrets({ ...parsed, DATA_DIR: resolve(parsed.DATA_DIR) })
}
