import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Type as T, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

/**
 * Every setting, named exactly as its environment variable. A config file (ENCLAVA_CONFIG) uses the same names.
 * Each carries its meaning (`description`, listed by `enclava --help` and kept in step with the README's table);
 * `expected` says what a valid value looks like in the error that names a bad one, and `unset` what an optional
 * setting left unset means.
 */
export const ConfigSchema = T.Object({
  PORT: T.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'HTTP port (0: any free port)' }),
  HOST: T.String({ minLength: 1, default: '127.0.0.1', description: 'address to bind (0.0.0.0 in containers)' }),
  DATA_DIR: T.String({ minLength: 1, default: './.data', description: 'embedded database, generated secrets, files (and the single binary\'s unpacked runtime)' }),
  DATABASE_URL: T.Optional(
    T.String({
      pattern: '^postgres(ql)?://',
      description: 'postgres://user:pass@host:5432/db (?search_path=schema selects a schema)',
      unset: 'embedded PGlite in DATA_DIR',
    }),
  ),
  REDIS_URL: T.Optional(T.String({ pattern: '^rediss?://', description: 'redis://host:6379, required for several replicas', unset: 'in-process cache' })),
  REDIS_PREFIX: T.String({ default: 'enclava:', description: 'namespace of keys and channels in Redis' }),
  QDRANT_URL: T.Optional(T.String({ pattern: '^https?://', description: 'Qdrant for RAG vectors', unset: 'pgvector, else exact search in PostgreSQL' })),
  ADMIN_EMAIL: T.String({
    pattern: '^[^\\s@]+@[^\\s@]+$',
    expected: 'an email address',
    default: 'admin@enclava.local',
    description: 'the super-admin created on first start',
  }),
  ADMIN_PASSWORD: T.Optional(
    T.String({ minLength: 12, maxLength: 256, description: 'its password (min. 12 characters)', unset: 'generated, printed once, must be changed' }),
  ),
  JWT_SECRET: T.Optional(T.String({ minLength: 32, description: 'signs access tokens (min. 32 characters)', unset: 'generated once into DATA_DIR/secrets.json' })),
  ENCRYPTION_KEY: T.Optional(
    T.String({
      pattern: '^[0-9a-fA-F]{64}$',
      description: '64 hex characters; encrypts secrets and files at rest',
      unset: 'generated once into DATA_DIR/secrets.json',
    }),
  ),
  LOG_LEVEL: T.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => T.Literal(l)), {
    default: 'info',
    description: 'fatal, error, warn, info, debug, trace or silent',
  }),
  ACCESS_TOKEN_TTL_SECONDS: T.Integer({ minimum: 60, maximum: 86400, default: 900, description: 'access token lifetime' }),
  REFRESH_TOKEN_TTL_SECONDS: T.Integer({ minimum: 3600, default: 30 * 86400, description: 'session (refresh token family) lifetime' }),
  ALLOW_REGISTRATION: T.Boolean({ default: false, description: 'public self-registration' }),
  TRUST_PROXY: T.Boolean({ default: false, description: 'take the client IP from X-Forwarded-For (only behind a proxy you control)' }),
  LOCKOUT_THRESHOLD: T.Integer({ minimum: 1, default: 5, description: 'failed sign-ins before a lockout' }),
  LOCKOUT_MINUTES: T.Integer({ minimum: 1, default: 15, description: 'lockout length' }),
  SHUTDOWN_TIMEOUT_MS: T.Integer({ minimum: 0, default: 10000, description: 'how long shutdown waits for requests in flight' }),
  /** privatemode.ai's privatemode-proxy (attestation + end-to-end encryption), base URL ending in /v1. */
  PRIVATEMODE_URL: T.Optional(
    T.String({
      pattern: '^https?://.+/v1/?$',
      expected: 'an http(s) URL ending in /v1',
      description: 'privatemode-proxy base URL ending in /v1 (confidential inference)',
    }),
  ),
  PRIVATEMODE_API_KEY: T.Optional(T.String({ minLength: 1, description: 'its API key, if it needs one' })),
  /** One generic OpenAI-compatible upstream (vLLM, Ollama, OpenAI, ...) without the admin API. */
  OPENAI_COMPAT_URL: T.Optional(
    T.String({ pattern: '^https?://', expected: 'an http(s) URL', description: 'one OpenAI-compatible upstream (vLLM, Ollama, OpenAI, ...)' }),
  ),
  OPENAI_COMPAT_API_KEY: T.Optional(T.String({ minLength: 1, description: 'its API key' })),
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
    {
      default: [],
      expected: 'a JSON array of {name, kind, base_url, api_key?}',
      description: 'more upstreams: JSON [{"name","kind":"privatemode"|"openai-compatible","base_url","api_key"}]',
    },
  ),
  RATE_LIMIT_PUBLIC_PER_MINUTE: T.Integer({ minimum: 1, default: 1000, description: 'default requests per minute per API key' }),
  RATE_LIMIT_INTERNAL_PER_MINUTE: T.Integer({ minimum: 1, default: 300, description: 'requests per minute per user on the internal API' }),
  UPSTREAM_CONNECT_TIMEOUT_MS: T.Integer({ minimum: 100, default: 5000, description: "a connection to an upstream (and a model list's answer)" }),
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: T.Integer({ minimum: 100, default: 60000, description: "until a stream's first event, or a non-streamed answer" }),
  UPSTREAM_TOTAL_TIMEOUT_MS: T.Integer({ minimum: 100, default: 600000, description: 'a whole upstream exchange' }),
  /** Room for 2,048 embeddings of 3,072 dimensions as JSON numbers. */
  UPSTREAM_MAX_RESPONSE_MB: T.Number({ exclusiveMinimum: 0, maximum: 4096, default: 128, description: "an upstream's answer (a non-streamed body), read no further" }),
  UPSTREAM_MAX_RETRIES: T.Integer({
    minimum: 0,
    maximum: 10,
    default: 2,
    description: 'retries of requests that provably started nothing (connection refused, 429, 503)',
  }),
  /** The output cap imposed on a model whose settings name none (and what a request without max_tokens reserves). */
  DEFAULT_MAX_OUTPUT_TOKENS: T.Integer({ minimum: 1, maximum: 1_000_000, default: 4096, description: 'output cap imposed on models whose settings name none' }),
  /** JSON request bodies (the chat API, every other JSON route) of a caller who presents credentials. */
  MAX_JSON_BODY_MB: T.Number({ exclusiveMinimum: 0, maximum: 1024, default: 8, description: 'JSON (and text) request bodies of callers with valid credentials' }),
  /** Any request body of a caller who presents no credentials (sign-in, the widget, public plugin routes...). */
  MAX_ANONYMOUS_BODY_KB: T.Integer({ minimum: 1, maximum: 1_048_576, default: 256, description: 'any request body of a caller without valid credentials' }),
  /** How long a replica trusts a cached API key before checking it again in the database (revocation without Redis). */
  API_KEY_RECHECK_SECONDS: T.Integer({
    minimum: 0,
    maximum: 3600,
    default: 5,
    description: 'how long a replica trusts a cached API key before checking it again',
  }),
  /** Where uploaded originals are kept, encrypted. Replicas must share it (a network volume). Default DATA_DIR/files. */
  FILE_STORAGE_DIR: T.Optional(
    T.String({ minLength: 1, description: 'encrypted originals (shared volume with several replicas)', unset: 'DATA_DIR/files' }),
  ),
  /** Master key that wraps each file's data key; defaults to ENCRYPTION_KEY. */
  FILE_MASTER_KEY: T.Optional(T.String({ pattern: '^[0-9a-fA-F]{64}$', description: "64 hex characters; wraps each file's data key", unset: 'ENCRYPTION_KEY' })),
  UPLOAD_MAX_FILE_MB: T.Number({ exclusiveMinimum: 0, default: 50, description: 'size of one uploaded file' }),
  /** A whole upload request (a batch of files). */
  UPLOAD_MAX_REQUEST_MB: T.Number({ exclusiveMinimum: 0, default: 512, description: 'size of one upload request (a batch of files)' }),
  /** auto: Qdrant when QDRANT_URL is set, else pgvector when installed, else exact search over vectors in PostgreSQL. */
  VECTOR_STORE: T.Union([T.Literal('auto'), T.Literal('pgvector'), T.Literal('postgres'), T.Literal('qdrant')], {
    default: 'auto',
    description: 'auto, pgvector, postgres (exact, in process) or qdrant',
  }),
  QDRANT_API_KEY: T.Optional(T.String({ minLength: 1, description: "Qdrant's API key" })),
  /** Memory for in-process BM25 indexes of collections (per replica); SQL answers beyond it, about ten times slower. */
  LEXICAL_CACHE_MB: T.Integer({ minimum: 0, default: 256, description: 'in-memory BM25 indexes per replica (0: every query in SQL, slow)' }),
  /** Memory for rows of chunks that searches showed (per replica), so showing them again skips reading them in SQL. */
  CHUNK_CACHE_MB: T.Integer({ minimum: 0, default: 64, description: 'rows of chunks searches showed, kept per replica for the next searches (0: always read in SQL)' }),
  /** The built dashboard served at `/`; default web/dist of this checkout. */
  WEB_DIST_DIR: T.Optional(
    T.String({ minLength: 1, description: 'the built dashboard served at /', unset: "web/dist of the checkout; the single binary's own copy" }),
  ),
  /** Folders searched for plugins at start-up (comma-separated). */
  PLUGINS_DIRS: T.String({
    default: 'plugins',
    description: "comma-separated folders searched for plugins (the single binary's default: its shipped plugins)",
  }),
  /** Requests per minute to one plugin from one caller (API key, user, or IP for public routes). */
  PLUGIN_RATE_LIMIT_PER_MINUTE: T.Integer({
    minimum: 1,
    default: 600,
    description: 'requests per minute to one plugin from one caller (key, user or client IP)',
  }),
  /**
   * Served as the origin of plugin content (`https://plugins.example.com`), a host of its own that the dashboard's
   * cookies never reach. Unset: plugin responses are sandboxed instead (`Content-Security-Policy: sandbox`).
   */
  PLUGIN_ORIGIN: T.Optional(
    T.String({
      pattern: '^https?://[^/?#]+$',
      description: 'a host of its own for plugin content (https://plugins.example.com), which then serves plugin routes only',
      unset: 'plugin responses are sandboxed (Content-Security-Policy: sandbox)',
    }),
  ),
  /** Log lines kept per plugin: the newest PLUGIN_LOG_MAX_MB, none older than PLUGIN_LOG_RETENTION_DAYS. */
  PLUGIN_LOG_MAX_MB: T.Number({ exclusiveMinimum: 0, maximum: 10_000, default: 10, description: 'plugin log kept per plugin (newest first)' }),
  PLUGIN_LOG_RETENTION_DAYS: T.Integer({ minimum: 1, maximum: 3650, default: 7, description: 'days of plugin log kept (audit rows and stats too)' }),
  /** Log bytes one plugin may write per minute; the rest are dropped and counted. */
  PLUGIN_LOG_BYTES_PER_MINUTE: T.Integer({
    minimum: 1024,
    default: 1024 * 1024,
    description: 'log bytes one plugin may write per minute; the rest are dropped and counted',
  }),
  /** kv writes (set, delete) per second per plugin and replica. */
  PLUGIN_KV_WRITES_PER_SECOND: T.Integer({ minimum: 1, default: 100, description: 'kv writes per second per plugin and replica' }),
  PLUGIN_KV_CACHE_MB: T.Integer({ minimum: 0, default: 16, description: 'plugins\' kv values kept in memory for reads, on the embedded database only (this process is its one writer); 0: every kv.get reads the database' }),
  /** Chat widget messages per minute per chatbot and visitor IP (publishable keys are public by nature). */
  WIDGET_RATE_LIMIT_PER_MINUTE: T.Integer({ minimum: 1, default: 20, description: 'chat widget messages per chatbot and visitor IP' }),
  PLUGIN_UPLOAD_MAX_MB: T.Number({ exclusiveMinimum: 0, default: 5, description: 'size of an uploaded plugin archive' }),
  /**
   * Once a plugin is enabled, one sandbox process is kept started and unused, so the next plugin enabled (or restarted
   * after its process was replaced) starts in milliseconds instead of a Node start (~120 ms). It costs one idle Node
   * process (~85 MB) while any plugin runs; none before.
   */
  PLUGIN_SPARE_SANDBOX: T.Boolean({ default: true, description: 'keep one started sandbox process ready for the next plugin' }),
  /** Node.js >= 24 for the plugin sandbox; default: the one installed in node_modules. */
  SANDBOX_NODE_PATH: T.Optional(
    T.String({ minLength: 1, description: 'Node.js >= 24 for the plugin sandbox', unset: "node_modules/.bin/node of the checkout; the single binary's own" }),
  ),
  /** The plugin sandbox's sources (main.ts, bundler.ts, runtime/), with isolated-vm and esbuild-wasm in a node_modules above. */
  SANDBOX_DIR: T.Optional(
    T.String({
      minLength: 1,
      description: "the plugin sandbox's sources, with isolated-vm and esbuild-wasm in a node_modules above them",
      unset: "sandbox/ of the checkout; the single binary's own",
    }),
  ),
  /** Documents indexed at once by this replica. */
  INGEST_CONCURRENCY: T.Integer({ minimum: 1, maximum: 16, default: 2, description: 'documents indexed at once per replica' }),
  /** How long a background job stays claimed by a replica that stopped renewing it (crashed) before another takes it. */
  JOB_LEASE_SECONDS: T.Integer({ minimum: 1, maximum: 3600, default: 60, description: "how long a crashed replica's job stays claimed" }),
  /** Only confidential (TEE) models are listed and callable, for everyone; users, keys and chatbots can require it too. */
  CONFIDENTIAL_ONLY: T.Boolean({ default: false, description: 'only confidential (TEE) models, for every caller and feature' }),
  /** Data-loss prevention on requests to providers outside the TEE; users and keys may set their own (dlp_mode). */
  DLP_MODE: T.Union([T.Literal('off'), T.Literal('redact'), T.Literal('block')], {
    default: 'redact',
    description: 'data-loss prevention on requests leaving the TEE: off, redact or block (the starting value of the security setting)',
  }),
  DLP_DETECT_CONTACTS: T.Boolean({ default: false, description: 'DLP also finds email addresses and phone numbers' }),
  /** A gateway model asked about chunks the heuristics find suspicious but not conclusive; unset: heuristics only. */
  INJECTION_JUDGE_MODEL: T.Optional(
    T.String({ minLength: 1, maxLength: 200, description: 'a model that judges borderline prompt-injection chunks at ingestion', unset: 'heuristics only' }),
  ),
  LOGIN_IP_MAX_FAILURES: T.Integer({ minimum: 1, default: 20, description: 'failed sign-ins from one address that, once exceeded, block it' }),
  LOGIN_IP_MIN_ACCOUNTS: T.Integer({ minimum: 1, default: 5, description: 'different accounts those failures must name' }),
  LOGIN_IP_WINDOW_MINUTES: T.Integer({ minimum: 1, maximum: 1440, default: 10, description: 'the window the failures are counted in' }),
  LOGIN_IP_BLOCK_MINUTES: T.Integer({ minimum: 1, maximum: 10080, default: 15, description: 'how long such an address is blocked' }),
  PROBE_THRESHOLD: T.Integer({ minimum: 1, default: 10, description: 'probing requests (traversal, injection, scanners) from one address that block it' }),
  PROBE_WINDOW_MINUTES: T.Integer({ minimum: 1, maximum: 1440, default: 10, description: 'the window probes are counted in' }),
  PROBE_BLOCK_MINUTES: T.Integer({ minimum: 1, maximum: 10080, default: 60, description: 'how long a probing address is blocked' }),
  KEY_ANOMALY_POLICY: T.Union([T.Literal('alert'), T.Literal('suspend')], {
    default: 'alert',
    description: 'what an API key anomaly does: alert (a security event) or suspend the key',
  }),
  /** Addresses never blocked (load balancers' health checks, an office, the load test): comma-separated IPs or CIDRs. */
  SECURITY_TRUSTED_IPS: T.String({ default: '', description: 'comma-separated IPs or CIDR ranges never blocked by threat detection' }),
  /** The model a chatbot created without one gets (the settings' default_chatbot_model starts here). */
  DEFAULT_CHATBOT_MODEL: T.Optional(T.String({ minLength: 1, maxLength: 200, description: 'the model of a chatbot created without one', unset: 'a chatbot must name its model' })),
  /** The embeddings model of a collection created without `embedding_model`. */
  DEFAULT_EMBEDDING_MODEL: T.Optional(
    T.String({ minLength: 1, maxLength: 200, description: 'the embeddings model of a collection created without one', unset: 'such a collection is lexical-only' }),
  ),
  /** Origins the chat widget may serve at all (each key still names its own): comma-separated, e.g. https://shop.example.com. */
  WIDGET_ALLOWED_ORIGINS: T.String({ default: '', description: 'comma-separated origins the chat widget may be used from at all (empty: any a widget key names)' }),
  RETENTION_AUDIT_DAYS: T.Optional(T.Integer({ minimum: 1, maximum: 36500, description: 'days audit events are kept', unset: 'kept' })),
  /** Usage records are summed per day (usage_rollups) before they are deleted; analytics look back 30 days. */
  RETENTION_USAGE_DAYS: T.Optional(T.Integer({ minimum: 31, maximum: 36500, description: 'days usage records are kept (then summed per day)', unset: 'kept' })),
  RETENTION_CONVERSATIONS_DAYS: T.Optional(
    T.Integer({ minimum: 1, maximum: 36500, description: 'days a chatbot conversation is kept after its last message', unset: 'kept' }),
  ),
  RETENTION_RESPONSES_DAYS: T.Optional(
    T.Integer({ minimum: 1, maximum: 36500, description: 'days stored responses and Responses-API conversations are kept', unset: 'kept' }),
  ),
  /** The mail server for email notifications: smtp://user:pass@host:587 (STARTTLS when offered) or smtps://...:465. */
  SMTP_URL: T.Optional(
    T.String({ pattern: '^smtps?://', expected: 'an smtp:// or smtps:// URL', description: 'mail server for email notifications (smtp://user:pass@host:587, smtps://...:465)', unset: 'no email' }),
  ),
  SMTP_FROM: T.String({ default: 'Enclava <enclava@localhost>', maxLength: 320, description: 'the sender of notification emails' }),
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

/** What a valid value looks like, for the error that names a bad one. */
function describe(schema: TSchema): string {
  if (typeof schema.expected === 'string') return schema.expected
  if (schema.type === 'integer') return 'an integer'
  if (schema.type === 'number') return 'a number'
  if (schema.type === 'boolean') return 'true or false'
  if (schema.anyOf) return `one of ${schema.anyOf.map((s: TSchema) => s.const).join(', ')}`
  if (schema.pattern) return `a value matching ${schema.pattern}`
  return 'a valid value'
}

/** Settings as text, as the environment gives them. */
export type ConfigDefaults = Partial<Record<keyof RawConfig, string>>

/**
 * Environment (+ optional JSON file named by ENCLAVA_CONFIG) -> one validated config.
 * The environment wins over the file, and both over `defaults` (the single binary's paths to its unpacked files),
 * which win over the schema's; an unknown key in the file or a bad value anywhere is an error naming it.
 */
export function parseConfig(env: Record<string, string | undefined> = process.env, defaults: ConfigDefaults = {}): RawConfig {
  const known = Object.keys(ConfigSchema.properties)
  const file = env.ENCLAVA_CONFIG ? readConfigFile(env.ENCLAVA_CONFIG) : {}
  for (const key of Object.keys(file))
    if (!known.includes(key)) throw new ConfigError(`${key}: unknown setting in ${env.ENCLAVA_CONFIG}`)

  const raw: Record<string, unknown> = {}
  for (const key of known) {
    const fromEnv = env[key]
    let value: unknown = fromEnv !== undefined && fromEnv !== '' ? fromEnv : (file[key] ?? defaults[key as keyof RawConfig])
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
    const secret = /SECRET|PASSWORD|KEY|SMTP_URL/i.test(firstError.path)
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

export function loadConfig(env: Record<string, string | undefined> = process.env, defaults: ConfigDefaults = {}): Config {
  const parsed = parseConfig(env, defaults)
  return withPersistedSecrets({ ...parsed, DATA_DIR: resolve(parsed.DATA_DIR) })
}
