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
> & { owner: { id: string; username: string; email: string; role: string; is_active: boolean } }

/** A verdict, not an error: infrastructure failures throw instead. */
export type Verdict =
  | { ok: true; key: VerifiedKey }
  | { ok: false; reason: 'NOT_FOUND' | 'EXPIRED' | 'DISABLED' | 'IP_NOT_ALLOWED' | 'ENDPOINT_NOT_ALLOWED'; key?: VerifiedKey }

const INVALIDATE_CHANNEL = 'api-keys:invalidate'
const CACHE_TTL_MS = 60_000
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

  constructor(sql: Sql, cache: CacheStore, log: Logger) {
    this.#sql = sql
    this.#cache = cache
    this.#log = log
  }

  async start(): Promise<void> {
    this.#unsubscribe = await this.#cache.subscribe(INVALIDATE_CHANNEL, (message) => this.#drop(message))
  }

  async stop(): Promise<void> {
    await this.#unsubscribe?.()
    this.#unsubscribe = null
  }

  /** `target` is `key:<id>` or `user:<id>` (all of that user's keys). */
  async invalidate(target: `key:${string}` | `user:${string}`): Promise<void> {
    this.#drop(target)
    await this.#cache.publish(INVALIDATE_CHANNEL, target)
  }

  #drop(target: string): void {
    this.#generation++
    const [kind, id] = target.split(':')
    for (const [hash, entry] of this.#entries)
      if ((kind === 'key' && entry.key.id === id) || (kind === 'user' && entry.key.user_id === id))
        this.#entries.delete(hash)
  }

  async #lookup(presented: string): Promise<VerifiedKey | null> {
    const hash = hashApiKey(presented)
    const cached = this.#entries.get(hash)
    if (cached && Date.now() - cached.at < CACHE_TTL_MS) return cached.key
    const generation = this.#generation
    const candidates = await this.#sql<(Omit<VerifiedKey, 'owner'> & { username: string; email: string; role: string; owner_active: boolean })[]>`
      SELECT k.id, k.name, k.key_prefix, k.key_hash, k.user_id, k.scopes, k.allowed_models, k.allowed_endpoints,
             k.allowed_ips, k.allowed_collections, k.allowed_chatbots, k.allowed_origins, k.rate_limit_per_minute, k.rate_limit_per_hour, k.rate_limit_per_day, k.rate_limit_tokens_per_minute,
             k.expires_at,
             k.is_active, u.username, u.email, u.role, u.is_active AS owner_active
      FROM api_keys k JOIN users u ON u.id = k.user_id
      WHERE k.key_prefix = ${keyPrefix(presented)}`
    const row = candidates.find((c) => hashesEqual(c.key_hash, hash))
    if (!row) return null
    const { username, email, role, owner_active, ...rest } = row
    const key: VerifiedKey = { ...rest, owner: { id: row.user_id, username, email, role, is_active: owner_active } }
    // An invalidation arrived while the query ran: the row may predate it, so answer this request but keep nothing.
    if (generation !== this.#generation) return key
    if (this.#entries.size >= CACHE_MAX) {
      const oldest = this.#entries.keys().next()
      if (!oldest.done) this.#entries.delete(oldest.value)
    }
    this.#entries.set(hash, { key, at: Date.now() })
    return key
  }

  /** `path` is relative to the public API root, e.g. "/chat/completions". */
  async verify(presented: string, ctx: { ip: string | null; path: string }): Promise<Verdict> {
    if (!KEY_PATTERN.test(presented)) return { ok: false, reason: 'NOT_FOUND' }
    const key = await this.#lookup(presented)
    if (!key) return { ok: false, reason: 'NOT_FOUND' }
    if (!key.is_active || !key.owner.is_active) return { ok: false, reason: 'DISABLED', key }
    if (key.expires_at && key.expires_at <= new Date()) return { ok: false, reason: 'EXPIRED', key }
    if (!ipAllowed(ctx.ip, key.allowed_ips)) {
      this.#log.warn({ api_key_id: key.id, ip: ctx.ip }, 'api key used from a disallowed address')
      return { ok: false, reason: 'IP_NOT_ALLOWED', key }
    }
    if (!endpointAllowed(ctx.path, key.allowed_endpoints)) return { ok: false, reason: 'ENDPOINT_NOT_ALLOWED', key }
    return { ok: true, key }
  }
}
