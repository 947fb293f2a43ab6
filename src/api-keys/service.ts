import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import { DEFAULT_SCOPES, type CreateKeyInput, type KeyView, type UpdateKeyInput } from './model.ts'
import { generateApiKey, hashApiKey, keyPrefix } from './keys.ts'
import { parseRange } from './ip-allowlist.ts'

export interface KeyRow {
  id: string
  user_id: string
  name: string
  key_prefix: string
  key_hash: string
  scopes: string[]
  allowed_models: string[]
  allowed_endpoints: string[]
  allowed_ips: string[]
  allowed_collections: string[]
  allowed_chatbots: string[]
  allowed_origins: string[]
  rate_limit_per_minute: number | null
  rate_limit_per_hour: number | null
  rate_limit_per_day: number | null
  rate_limit_tokens_per_minute: number | null
  expires_at: Date | null
  is_active: boolean
  /** Only confidential (TEE) models for this key. */
  confidential_only: boolean
  /** Data-loss prevention for this key; it can only tighten its owner's policy. NULL: its owner's. */
  dlp_mode: 'off' | 'redact' | 'block' | null
  /** Set when threat detection suspended the key; an administrator reinstates it. */
  suspended_at: Date | null
  suspended_reason: string | null
  request_count: string
  created_at: Date
  updated_at: Date
  last_used_at: Date | null
}

/** Whitelists the fields a key returns; the hash never leaves. */
export function presentKey(k: KeyRow): KeyView {
  return {
    id: k.id,
    user_id: k.user_id,
    name: k.name,
    key_prefix: k.key_prefix,
    scopes: k.scopes as KeyView['scopes'],
    allowed_models: k.allowed_models,
    allowed_endpoints: k.allowed_endpoints,
    allowed_ips: k.allowed_ips,
    allowed_collections: k.allowed_collections,
    allowed_chatbots: k.allowed_chatbots,
    allowed_origins: k.allowed_origins,
    rate_limit_per_minute: k.rate_limit_per_minute,
    rate_limit_per_hour: k.rate_limit_per_hour,
    rate_limit_per_day: k.rate_limit_per_day,
    rate_limit_tokens_per_minute: k.rate_limit_tokens_per_minute,
    expires_at: k.expires_at?.toISOString() ?? null,
    confidential_only: k.confidential_only,
    dlp_mode: k.dlp_mode,
    is_active: k.is_active,
    suspended_at: k.suspended_at?.toISOString() ?? null,
    suspended_reason: k.suspended_reason,
    request_count: Number(k.request_count),
    created_at: k.created_at.toISOString(),
    updated_at: k.updated_at.toISOString(),
    last_used_at: k.last_used_at?.toISOString() ?? null,
  }
}

function checkRestrictions(input: UpdateKeyInput): void {
  for (const entry of input.allowed_ips ?? [])
    if (!parseRange(entry))
      throw new ApiError('validation_failed', `allowed_ips: "${entry}" is not an IP address or CIDR range`, 'allowed_ips')
  if (input.expires_at && new Date(input.expires_at) <= new Date())
    throw new ApiError('validation_failed', 'expires_at must be in the future', 'expires_at')
}

/** Who is asking, for ownership: admins (api_keys:admin) reach every key, everyone else only their own. */
export interface KeyActor {
  userId: string
  isAdmin: boolean
}

/** Storage and lifecycle of API keys. Authentication of presented keys lives in the verifier. */
export class ApiKeyService {
  readonly #sql: Sql
  constructor(sql: Sql) {
    this.#sql = sql
  }

  async create(ownerId: string, input: CreateKeyInput): Promise<{ row: KeyRow; key: string }> {
    checkRestrictions(input)
    const key = generateApiKey()
    const sql = this.#sql
    const [row] = await sql<KeyRow[]>`
      INSERT INTO api_keys ${sql({
        user_id: ownerId,
        name: input.name,
        key_prefix: keyPrefix(key),
        key_hash: hashApiKey(key),
        scopes: input.scopes ?? DEFAULT_SCOPES,
        allowed_models: input.allowed_models ?? [],
        allowed_endpoints: input.allowed_endpoints ?? [],
        allowed_ips: input.allowed_ips ?? [],
        allowed_collections: input.allowed_collections ?? [],
        allowed_chatbots: input.allowed_chatbots ?? [],
        allowed_origins: input.allowed_origins ?? [],
        rate_limit_per_minute: input.rate_limit_per_minute ?? null,
        rate_limit_per_hour: input.rate_limit_per_hour ?? null,
        rate_limit_per_day: input.rate_limit_per_day ?? null,
        rate_limit_tokens_per_minute: input.rate_limit_tokens_per_minute ?? null,
        expires_at: input.expires_at ?? null,
        confidential_only: input.confidential_only ?? false,
        dlp_mode: input.dlp_mode ?? null,
      })}
      RETURNING *`
    if (!row) throw new Error('insert returned no row')
    return { row, key }
  }

  /** Another user's key is reported as missing, not forbidden, so ids cannot be probed. */
  async get(id: string, actor: KeyActor): Promise<KeyRow> {
    const [row] = await this.#sql<KeyRow[]>`
      SELECT * FROM api_keys WHERE id = ${id} AND (${actor.isAdmin} OR user_id = ${actor.userId})`
    if (!row) throw new ApiError('not_found', `API key ${id} not found`)
    return row
  }

  async list(
    actor: KeyActor,
    q: { all: boolean; user_id?: string | undefined; limit: number; offset: number },
  ): Promise<{ items: KeyRow[]; total: number }> {
    const sql = this.#sql
    const owner = actor.isAdmin ? (q.user_id ?? (q.all ? null : actor.userId)) : actor.userId
    const clause = sql`WHERE (${owner}::uuid IS NULL OR user_id = ${owner})`
    const items = await sql<KeyRow[]>`
      SELECT * FROM api_keys ${clause} ORDER BY created_at DESC, id LIMIT ${q.limit} OFFSET ${q.offset}`
    const [count] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM api_keys ${clause}`
    return { items: [...items], total: count?.n ?? 0 }
  }

  async update(id: string, actor: KeyActor, patch: UpdateKeyInput): Promise<KeyRow> {
    await this.get(id, actor)
    checkRestrictions(patch)
    const sql = this.#sql
    const fields = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined))
    const [row] = await sql<KeyRow[]>`
      UPDATE api_keys SET ${sql(fields)}, updated_at = now() WHERE id = ${id} RETURNING *`
    if (!row) throw new ApiError('not_found', `API key ${id} not found`)
    return row
  }

  async setActive(id: string, actor: KeyActor, active: boolean): Promise<KeyRow> {
    await this.get(id, actor)
    const [row] = await this.#sql<KeyRow[]>`
      UPDATE api_keys SET is_active = ${active}, updated_at = now() WHERE id = ${id} RETURNING *`
    if (!row) throw new ApiError('not_found', `API key ${id} not found`)
    return row
  }

  /** A new secret for the same key record: the old secret stops working at once. */
  async regenerate(id: string, actor: KeyActor): Promise<{ row: KeyRow; key: string }> {
    await this.get(id, actor)
    const key = generateApiKey()
    const [row] = await this.#sql<KeyRow[]>`
      UPDATE api_keys SET key_prefix = ${keyPrefix(key)}, key_hash = ${hashApiKey(key)}, updated_at = now()
      WHERE id = ${id} RETURNING *`
    if (!row) throw new ApiError('not_found', `API key ${id} not found`)
    return { row, key }
  }

  async delete(id: string, actor: KeyActor): Promise<KeyRow> {
    const row = await this.get(id, actor)
    await this.#sql`DELETE FROM api_keys WHERE id = ${id}`
    return row
  }
}
