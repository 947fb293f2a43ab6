import type { CacheStore } from '../cache/types.ts'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { KEY_PATTERN, hashApiKey, hashesEqual, keyPrefix } from './keys.ts'
import { ipAllowed } from './ip-allowlist.ts'
import type { KeyRow } from './service.ts'

/** What a verified key may do, with its owner; cached per replica. */
export type VerifiedKey = Pick<
  KeyRow,
  | 'id'
  | 'name'
  | 'key_prefix'
  | 'key_hash'
  | 'user_id'
  | 'scopes'
  | 'allowed_models'
  | 'allowed_endpoints'
  | 'allowed_ips'
  | 'allowed_collections'
  | 'allowed_chatbots'
  | 'allowed_origins'
  | 'rate_limit_per_minute'
  | 'rate_limit_per_hour'
  | 'rate_limit_per_day'
  | 'rate_limit_tokens_per_minute'
  | 'expires_at'
  | 'is_active'
  | 'confidential_only'
  | 'dlp_mode'
  | 'suspended_at'
  | 'suspended_reason'
> & {
  owner: {
    id: string
    username: string
    email: string
    role: string
    is_active: boolean
    /** The owner's own policy (set by administrators), kept with the key so the gateway's hot path reads no more. */
    confidential_only: boolean
    dlp_mode: KeyRow['dlp_mode']
  }
}

/** A verdict, not an error: infrastructure failures throw instead. */
export type Verdict =
  | { ok: true; key: VerifiedKey }
  | {
      ok: false
      reason: 'NOT_FOUND' | 'EXPIRED' | 'DISABLED' | 'SUSPENDED' | 'PUBLISHABLE_KEY' | 'IP_NOT_ALLOWED' | 'ENDPOINT_NOT_ALLOWED'
      key?: VerifiedKey
    }

/**
 * A key with `allowed_origins` is the chat widget's publishable key: it sits in a public web page, so anyone has it.
 * It works only where the widget's own limits hold (the widget API checks the origin, limits each visitor and
 * returns only what the widget shows); anywhere else it would be a full `chatbots` key (snippets, document ids,
 * metadata, no per-visitor limit), or more if it had other scopes.
 */
export const isPublishable = (key: Pick<VerifiedKey, 'allowed_origins'>) => key.allowed_origins.length > 0

/** Carries `key:<id>` and `user:<id>`: a key, or a user and all their keys, changed. Others may listen (user policies). */
export const INVALIDATE_CHANNEL = 'api-keys:invalidate'
const CACHE_MAX = 10_000
/** Every key may introspect itself, whatever its endpoint list says. */
const ALWAYS_ALLOWED = ['/me']

function endpointAllowed(path: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0 || ALWAYS_ALLOWED.includes(path)) return true
  return allowed.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`))
}

/**
 * Authenticates presented API keys, cheapest check first: format, local cache, database by prefix with a
 * constant-time hash compare, then active, expiry, IP and endpoint. Changes anywhere publish an invalidation that
 * every replica applies, so a revoked key stops at once everywhere.
 */
export class ApiKeyVerifier {
  readonly #sql: Sql
  readonly #cache: CacheStore
  readonly #log: Logger
  readonly #entries = new Map<string, { key: VerifiedKey; at: number }>()
  /** Bumped by every invalidation, so a lookup that read the database before one does not cache what it read. */
  #generation = 0
  #unsubscribe: (() => Promise<void>) | null = null

  /**
   * How long a cached key is trusted before the database is asked again. Invalidations over the cache's pub/sub
   * reach every replica at once; this bounds what a replica trusts when they cannot (Redis down, a message lost):
   * a revoked key stops everywhere within it.
   */
  readonly #recheckMs: number
  /** One database lookup per key at a time: concurrent requests with a key due for a check share it. */
  readonly #lookups = new Map<string, Promise<VerifiedKey | null>>()

  constructor(sql: Sql, cache: CacheStore, log: Logger, options: { recheckMs?: number } = {}) {
    this.#sql = sql
    this.#cache = cache
    this.#log = log
    this.#recheckMs = options.recheckMs ?? 5_000
  }

  async start(): Promise<void> {
    this.#unsubscribe = await this.#cache.subscribe(INVALIDATE_CHANNEL, (message) => this.#drop(message))
  }

  async stop(): Promise<void> {
    await this.#unsubscribe?.()
    this.#unsubscribe = null
  }

  /**
   * `target` is `key:<id>` or `user:<id>` (all of that user's keys). Called after the change is committed, so it
   * never fails: true when every replica was told at once, false when the cache could not carry the message (the
   * other replicas then stop trusting their cached copy within the recheck interval).
   */
  async invalidate(target: `key:${string}` | `user:${string}`): Promise<boolean> {
    this.#drop(target)
    try {
      await this.#cache.publish(INVALIDATE_CHANNEL, target)
      return true
    } catch (err) {
      this.#log.warn({ target, err: (err as Error).message, recheck_ms: this.#recheckMs }, 'key change not broadcast: the cache is unavailable')
      return false
    }
  }

  /** Seconds within which a change reaches every replica without the cache. */
  get recheckSeconds(): number {
    return Math.ceil(this.#recheckMs / 1000)
  }

  #drop(target: string): void {
    this.#generation++
    // A lookup already running may have read the row before the change: later requests must not join it.
    this.#lookups.clear()
    const [kind, id] = target.split(':')
    for (const [hash, entry] of this.#entries)
      if ((kind === 'key' && entry.key.id === id) || (kind === 'user' && entry.key.user_id === id))
        this.#entries.delete(hash)
  }

  async #lookup(presented: string): Promise<VerifiedKey | null> {
    const hash = hashApiKey(presented)
    const cached = this.#entries.get(hash)
    if (cached && Date.now() - cached.at < this.#recheckMs) return cached.key
    let lookup = this.#lookups.get(hash)
    if (lookup === undefined) {
      lookup = this.#fromDatabase(presented, hash).finally(() => this.#lookups.delete(hash))
      this.#lookups.set(hash, lookup)
    }
    return lookup
  }

  async #fromDatabase(presented: string, hash: string): Promise<VerifiedKey | null> {
    const generation = this.#generation
    const candidates = await this.#sql<
      (Omit<VerifiedKey, 'owner'> & {
        username: string
        email: string
        role: string
        owner_active: boolean
        owner_confidential_only: boolean
        owner_dlp_mode: KeyRow['dlp_mode']
      })[]
    >`
      SELECT k.id, k.name, k.key_prefix, k.key_hash, k.user_id, k.scopes, k.allowed_models, k.allowed_endpoints,
             k.allowed_ips, k.allowed_collections, k.allowed_chatbots, k.allowed_origins, k.rate_limit_per_minute, k.rate_limit_per_hour, k.rate_limit_per_day, k.rate_limit_tokens_per_minute,
             k.expires_at, k.confidential_only, k.dlp_mode, k.suspended_at, k.suspended_reason,
             k.is_active, u.username, u.email, u.role, u.is_active AS owner_active,
             u.confidential_only AS owner_confidential_only, u.dlp_mode AS owner_dlp_mode
      FROM api_keys k JOIN users u ON u.id = k.user_id
      WHERE k.key_prefix = ${keyPrefix(presented)}`
    const row = candidates.find((c) => hashesEqual(c.key_hash, hash))
    if (!row) {
      this.#entries.delete(hash)
      return null
    }
    const { username, email, role, owner_active, owner_confidential_only, owner_dlp_mode, ...rest } = row
    const key: VerifiedKey = {
      ...rest,
      owner: { id: row.user_id, username, email, role, is_active: owner_active, confidential_only: owner_confidential_only, dlp_mode: owner_dlp_mode },
    }
    // An invalidation arrived while the query ran: the row may predate it, so answer this request but keep nothing.
    if (generation !== this.#generation) return key
    if (this.#entries.size >= CACHE_MAX) {
      const oldest = this.#entries.keys().next()
      if (!oldest.done) this.#entries.delete(oldest.value)
    }
    this.#entries.set(hash, { key, at: Date.now() })
    return key
  }

  /** Whether `presented` is a key that could pass: known, active, unexpired (for sizing what its request may send). */
  async recognises(presented: string): Promise<boolean> {
    if (!KEY_PATTERN.test(presented)) return false
    const key = await this.#lookup(presented)
    return key !== null && key.is_active && key.owner.is_active && !key.suspended_at && !(key.expires_at && key.expires_at <= new Date())
  }

  /**
   * `path` is relative to the public API root, e.g. "/chat/completions". `widget`: the route is the widget's, the
   * only kind a publishable key may call (deny by default: every other caller leaves it out).
   */
  async verify(presented: string, ctx: { ip: string | null; path: string; widget?: boolean }): Promise<Verdict> {
    if (!KEY_PATTERN.test(presented)) return { ok: false, reason: 'NOT_FOUND' }
    const key = await this.#lookup(presented)
    if (!key) return { ok: false, reason: 'NOT_FOUND' }
    if (!key.is_active || !key.owner.is_active) return { ok: false, reason: 'DISABLED', key }
    if (key.expires_at && key.expires_at <= new Date()) return { ok: false, reason: 'EXPIRED', key }
    if (key.suspended_at) return { ok: false, reason: 'SUSPENDED', key }
    if (isPublishable(key) && !ctx.widget) return { ok: false, reason: 'PUBLISHABLE_KEY', key }
    if (!ipAllowed(ctx.ip, key.allowed_ips)) {
      this.#log.warn({ api_key_id: key.id, ip: ctx.ip }, 'api key used from a disallowed address')
      return { ok: false, reason: 'IP_NOT_ALLOWED', key }
    }
    if (!endpointAllowed(ctx.path, key.allowed_endpoints)) return { ok: false, reason: 'ENDPOINT_NOT_ALLOWED', key }
    return { ok: true, key }
  }
}
