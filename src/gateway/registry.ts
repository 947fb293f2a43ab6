import type { Config } from '../config.ts'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { defaultPrices, type Prices } from './pricing.ts'
import { Provider, type ProviderKind, type ProviderSettings } from './provider.ts'
import type { SecretBox } from '../crypto/secretbox.ts'

export interface ResolvedModel {
  id: string
  provider: Provider
  upstreamId: string
  confidential: boolean
  prices: Prices
  /**
   * The most a request may generate: the model's own cap from its settings, or DEFAULT_MAX_OUTPUT_TOKENS. Imposed
   * on the upstream (a request asking for more is clamped) and used for worst-case budget reservations.
   */
  maxOutputTokens: number
  fallback: string | null
  /** A confidential model may fall back to a non-confidential one only when its settings say so (off by default). */
  fallbackLeavesTee: boolean
  /** Embeddings: vectors may be shortened to `dimensions` and re-normalised (Matryoshka-trained models). */
  truncatableDimensions: boolean
}

export interface ModelSettingsRow {
  id: string
  provider_name: string | null
  upstream_id: string | null
  input_price_per_million: string | null
  output_price_per_million: string | null
  max_output_tokens: number | null
  fallback_model: string | null
  fallback_leaves_tee: boolean
  truncatable_dimensions: boolean
  is_active: boolean
}

const REFRESH_MS = 60_000

export type ProviderDefaults = Pick<ProviderSettings, 'connectTimeoutMs' | 'firstByteTimeoutMs' | 'totalTimeoutMs' | 'maxRetries' | 'onCircuit' | 'maxResponseBytes'> & {
  /** DEFAULT_MAX_OUTPUT_TOKENS: the cap of models whose settings name none. */
  maxOutputTokens?: number
}

export const providerDefaults = (config: Config, log?: Logger): ProviderDefaults => ({
  onCircuit: (provider, state, reason) =>
    log?.warn({ provider, circuit: state, reason }, state === 'open' ? 'provider circuit opened: its requests are paused' : 'provider circuit closed'),
  connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT_MS,
  firstByteTimeoutMs: config.UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
  totalTimeoutMs: config.UPSTREAM_TOTAL_TIMEOUT_MS,
  maxResponseBytes: config.UPSTREAM_MAX_RESPONSE_MB * 1024 * 1024,
  maxRetries: config.UPSTREAM_MAX_RETRIES,
  maxOutputTokens: config.DEFAULT_MAX_OUTPUT_TOKENS,
})

/** The providers named by configuration: privatemode's proxy, one generic upstream, and the PROVIDERS list. */
export function providersFromConfig(config: Config, log?: Logger, common: ProviderDefaults = providerDefaults(config, log)): Provider[] {
  const providers: Provider[] = []
  if (config.PRIVATEMODE_URL)
    providers.push(
      new Provider({ ...common, name: 'privatemode', kind: 'privatemode', baseUrl: config.PRIVATEMODE_URL, apiKey: config.PRIVATEMODE_API_KEY }),
    )
  if (config.OPENAI_COMPAT_URL)
    providers.push(
      new Provider({
        ...common,
        name: 'openai-compatible',
        kind: 'openai-compatible',
        baseUrl: config.OPENAI_COMPAT_URL,
        apiKey: config.OPENAI_COMPAT_API_KEY,
      }),
    )
  for (const p of config.PROVIDERS)
    providers.push(new Provider({ ...common, name: p.name, kind: p.kind, baseUrl: p.base_url, apiKey: p.api_key }))
  return providers
}

export interface ProviderRow {
  id: string
  name: string
  kind: ProviderKind
  base_url: string
  api_key_encrypted: string | null
  is_active: boolean
  created_at: Date
  updated_at: Date
}

/** The AAD that ties a provider's sealed key to its name. */
export const providerKeyContext = (name: string) => `provider:${name}`

/**
 * Which model is served by which provider, at what price. The providers' own model lists are fetched and cached
 * (a failed refresh keeps the last good list); rows in `models` add prices, caps, fallbacks, or models a provider
 * does not list. The first provider to list a model id serves it.
 */
export class ModelRegistry {
  readonly #sql: Sql
  readonly #log: Logger
  readonly #box: SecretBox
  readonly #defaults: ProviderDefaults
  /** From configuration: fixed for the life of the process. */
  readonly configured: Provider[]
  /** From the providers table, keyed by name; rebuilt only when a row changes, so circuit state survives refreshes. */
  #stored = new Map<string, { provider: Provider; version: string }>()
  #discovered = new Map<string, Map<string, string>>()
  #settings = new Map<string, ModelSettingsRow>()
  #refreshedAt = 0
  #refreshing: Promise<void> | null = null

  constructor(deps: { sql: Sql; box: SecretBox; configured: Provider[]; defaults: ProviderDefaults; log: Logger }) {
    this.#sql = deps.sql
    this.#box = deps.box
    this.configured = deps.configured
    this.#defaults = deps.defaults
    this.#log = deps.log
  }

  get providers(): Provider[] {
    return [...this.configured, ...[...this.#stored.values()].map((s) => s.provider)]
  }

  async #loadStored(): Promise<void> {
    const rows = await this.#sql<ProviderRow[]>`SELECT * FROM providers WHERE is_active ORDER BY created_at, name`
    const next = new Map<string, { provider: Provider; version: string }>()
    for (const row of rows) {
      if (this.configured.some((p) => p.name === row.name)) continue
      const version = `${row.kind}|${row.base_url}|${row.api_key_encrypted ?? ''}`
      const current = this.#stored.get(row.name)
      if (current?.version === version) {
        next.set(row.name, current)
        continue
      }
      let apiKey: string | undefined
      try {
        apiKey = row.api_key_encrypted ? this.#box.open(row.api_key_encrypted, providerKeyContext(row.name)) : undefined
      } catch {
        this.#log.error({ provider: row.name }, 'cannot decrypt the provider API key (was ENCRYPTION_KEY changed?); provider skipped')
        continue
      }
      next.set(row.name, { provider: new Provider({ ...this.#defaults, name: row.name, kind: row.kind, baseUrl: row.base_url, apiKey }), version })
    }
    this.#stored = next
  }

  provider(name: string): Provider | undefined {
    return this.providers.find((p) => p.name === name)
  }

  /** Forces the next lookup to refetch, e.g. after an admin changed model settings. */
  invalidate(): void {
    this.#refreshedAt = 0
  }

  async #refresh(): Promise<void> {
    await this.#loadStored()
    for (const name of this.#discovered.keys()) if (!this.provider(name)) this.#discovered.delete(name)
    await Promise.all(
      this.providers.map(async (p) => {
        try {
          const ids = await p.listModels()
          this.#discovered.set(p.name, new Map(ids.map((id) => [id, id])))
        } catch (err) {
          this.#log.warn({ provider: p.name, err: (err as Error).message }, 'model list refresh failed; keeping the last one')
        }
      }),
    )
    const rows = await this.#sql<ModelSettingsRow[]>`SELECT * FROM models`
    this.#settings = new Map(rows.map((r) => [r.id, r]))
    this.#refreshedAt = Date.now()
  }

  async #fresh(): Promise<void> {
    if (Date.now() - this.#refreshedAt < REFRESH_MS) return
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = null))
    await this.#refreshing
  }

  #build(id: string): ResolvedModel | null {
    const settings = this.#settings.get(id)
    if (settings && !settings.is_active) return null
    let provider: Provider | undefined
    let upstreamId: string | undefined
    if (settings?.provider_name) {
      provider = this.provider(settings.provider_name)
      upstreamId = settings.upstream_id ?? id
    } else {
      for (const p of this.providers) {
        const found = this.#discovered.get(p.name)?.get(id)
        if (found) {
          provider = p
          upstreamId = found
          break
        }
      }
    }
    if (!provider || !upstreamId) return null
    const defaults = defaultPrices(id, provider.confidential)
    return {
      id,
      provider,
      upstreamId,
      confidential: provider.confidential,
      prices: {
        input: settings?.input_price_per_million != null ? Number(settings.input_price_per_million) : defaults.input,
        output: settings?.output_price_per_million != null ? Number(settings.output_price_per_million) : defaults.output,
      },
      maxOutputTokens: settings?.max_output_tokens ?? this.#defaults.maxOutputTokens ?? 4096,
      fallback: settings?.fallback_model ?? null,
      fallbackLeavesTee: settings?.fallback_leaves_tee ?? false,
      truncatableDimensions: settings?.truncatable_dimensions ?? false,
    }
  }

  async resolve(id: string): Promise<ResolvedModel | null> {
    await this.#fresh()
    return this.#build(id)
  }

  async list(): Promise<ResolvedModel[]> {
    await this.#fresh()
    const ids = new Set<string>()
    for (const models of this.#discovered.values()) for (const id of models.keys()) ids.add(id)
    for (const id of this.#settings.keys()) ids.add(id)
    return [...ids]
      .sort()
      .map((id) => this.#build(id))
      .filter((m): m is ResolvedModel => m !== null)
  }
}
