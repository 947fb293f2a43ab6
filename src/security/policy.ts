/**
 * What a caller of the gateway is held to: whether only confidential (TEE) models may serve it, and what data-loss
 * prevention applies to what it sends outside the TEE. Every model call of the platform (the API, the playground,
 * chatbots, document indexing and search, plugins, agents) goes through GatewayService, which asks this once per
 * call; features add their own demand on the Caller (`confidentialOnly: 'the chatbot "Support"'`).
 *
 * Confidential-only is the union of the platform's setting, the user's, the key's and the feature's: any one of them
 * is enough, and none can lift another. DLP is the user's mode (an administrator's choice, else the platform's),
 * made stricter by the key's when the key asks for more; a key never relaxes its owner's policy.
 */
import type { CacheStore } from '../cache/types.ts'
import type { Sql } from '../db/client.ts'
import type { Caller } from '../gateway/service.ts'
import type { ResolvedModel } from '../gateway/registry.ts'
import { ApiError } from '../http/errors.ts'
import { INVALIDATE_CHANNEL } from '../api-keys/verifier.ts'
import { stricter, type DlpMode } from './dlp.ts'
import type { SecuritySettings } from './settings.ts'

export interface CallerPolicy {
  /** Who demands confidential models only ("this platform", "your account", 'the API key "ci"'), or null. */
  confidentialOnlyBy: string | null
  dlpMode: DlpMode
}

interface UserFlags {
  confidential_only: boolean
  dlp_mode: DlpMode | null
}

/** As long as a replica trusts a cached API key (the same revocation promise: changes are also broadcast). */
const USER_FLAGS_TTL_MS = 5_000
const USER_FLAGS_MAX = 10_000

export class CallerPolicies {
  readonly #sql: Sql
  readonly #cache: CacheStore
  readonly #settings: SecuritySettings
  readonly #users = new Map<string, { flags: UserFlags; at: number }>()
  /** One policy per request: a chatbot turn embeds its query and then chats, both for the same caller. */
  readonly #memo = new WeakMap<Caller, { policy: CallerPolicy; feature: string | undefined }>()
  #unsubscribe: (() => Promise<void>) | null = null

  constructor(sql: Sql, cache: CacheStore, settings: SecuritySettings) {
    this.#sql = sql
    this.#cache = cache
    this.#settings = settings
  }

  async start(): Promise<void> {
    this.#unsubscribe = await this.#cache.subscribe(INVALIDATE_CHANNEL, (target) => {
      if (target.startsWith('user:')) this.#users.delete(target.slice(5))
    })
  }

  async stop(): Promise<void> {
    await this.#unsubscribe?.()
    this.#unsubscribe = null
  }

  /** A user's own flags: from the key when the caller has one (the verifier keeps them), else cached for a few seconds. */
  async #userFlags(caller: Caller): Promise<UserFlags> {
    const key = caller.apiKey
    if (key && key.user_id === caller.userId) return { confidential_only: key.owner.confidential_only, dlp_mode: key.owner.dlp_mode }
    const cached = this.#users.get(caller.userId)
    if (cached && Date.now() - cached.at < USER_FLAGS_TTL_MS) return cached.flags
    const [row] = await this.#sql<UserFlags[]>`SELECT confidential_only, dlp_mode FROM users WHERE id = ${caller.userId}`
    const flags = row ?? { confidential_only: false, dlp_mode: null }
    if (this.#users.size >= USER_FLAGS_MAX) this.#users.clear()
    this.#users.set(caller.userId, { flags, at: Date.now() })
    return flags
  }

  async of(caller: Caller): Promise<CallerPolicy> {
    // A feature may add its demand to a caller it was handed (a chatbot's turn): the memo holds only while it is the same.
    const memo = this.#memo.get(caller)
    if (memo && memo.feature === caller.confidentialOnly) return memo.policy
    const settings = this.#settings.current
    const user = await this.#userFlags(caller)
    const key = caller.apiKey
    const confidentialOnlyBy = settings.confidential_only
      ? 'this platform'
      : user.confidential_only
        ? 'your account'
        : key?.confidential_only
          ? `the API key "${key.name}"`
          : (caller.confidentialOnly ?? null)
    const userMode = user.dlp_mode ?? settings.dlp_mode
    const policy = { confidentialOnlyBy, dlpMode: key?.dlp_mode ? stricter(userMode, key.dlp_mode) : userMode }
    this.#memo.set(caller, { policy, feature: caller.confidentialOnly })
    return policy
  }
}

/**
 * Refuses a model that is not served confidentially when the policy demands confidential models: the 403 names the
 * model, its provider and who demands it.
 */
export function requireConfidential(model: ResolvedModel, policy: CallerPolicy): void {
  if (model.confidential || policy.confidentialOnlyBy === null) return
  throw new ApiError(
    'confidentiality_required',
    `The model '${model.id}' is not served confidentially (provider ${model.provider.name} is outside a TEE), and ${policy.confidentialOnlyBy} ` +
      'requires confidential models only',
    'model',
  )
}
