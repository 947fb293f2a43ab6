import type { CacheStore } from '../cache/types.ts'
import type { SecretBox } from '../crypto/secretbox.ts'
import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { ProviderKind } from './provider.ts'
import { providerKeyContext, type ModelRegistry, type ModelSettingsRow, type ProviderRow } from './registry.ts'

export const PRIVATEMODE_DEFAULT_URL = 'http://localhost:8080/v1'

export interface ModelSettings {
  provider_name?: string | null | undefined
  upstream_id?: string | null | undefined
  input_price_per_million?: number | null | undefined
  output_price_per_million?: number | null | undefined
  max_output_tokens?: number | null | undefined
  fallback_model?: string | null | undefined
  fallback_leaves_tee?: boolean | undefined
  truncatable_dimensions?: boolean | undefined
  is_active?: boolean | undefined
}

/**
 * Providers and model settings kept in the database. API keys are sealed with ENCRYPTION_KEY before they are
 * stored and are never returned. Every change tells all replicas to reload.
 */
export class GatewayAdmin {
  constructor(
    readonly sql: Sql,
    readonly box: SecretBox,
    readonly registry: ModelRegistry,
    readonly cache: CacheStore,
    readonly channel: string,
  ) {}

  async #changed(): Promise<void> {
    this.registry.invalidate()
    await this.cache.publish(this.channel, 'changed')
  }

  #assertNotConfigured(name: string) {
    if (this.registry.configured.some((p) => p.name === name))
      throw new ApiError('conflict', `Provider ${name} comes from the configuration; change it there`, 'name')
  }

  async listProviders(): Promise<ProviderRow[]> {
    return this.sql<ProviderRow[]>`SELECT * FROM providers ORDER BY created_at, name`
  }

  async getProvider(name: string): Promise<ProviderRow> {
    const [row] = await this.sql<ProviderRow[]>`SELECT * FROM providers WHERE name = ${name}`
    if (!row) throw new ApiError('not_found', `Provider ${name} not found`)
    return row
  }

  async createProvider(input: { name: string; kind: ProviderKind; base_url?: string | undefined; api_key?: string | undefined; is_active?: boolean | undefined }) {
    this.#assertNotConfigured(input.name)
    const baseUrl = input.base_url ?? (input.kind === 'privatemode' ? PRIVATEMODE_DEFAULT_URL : undefined)
    if (!baseUrl) throw new ApiError('validation_failed', 'base_url is required for an openai-compatible provider', 'base_url')
    try {
      const [row] = await this.sql<ProviderRow[]>`
        INSERT INTO providers (name, kind, base_url, api_key_encrypted, is_active)
        VALUES (${input.name}, ${input.kind}, ${baseUrl},
          ${input.api_key ? this.box.seal(input.api_key, providerKeyContext(input.name)) : null}, ${input.is_active ?? true})
        RETURNING *`
      await this.#changed()
      return row as ProviderRow
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new ApiError('conflict', `Provider ${input.name} exists`, 'name')
      throw err
    }
  }

  /** `api_key: null` removes the key; leaving it out keeps the stored one. */
  async updateProvider(name: string, patch: { base_url?: string | undefined; api_key?: string | null | undefined; is_active?: boolean | undefined }) {
    await this.getProvider(name)
    const fields: Record<string, unknown> = {}
    if (patch.base_url !== undefined) fields.base_url = patch.base_url
    if (patch.is_active !== undefined) fields.is_active = patch.is_active
    if (patch.api_key !== undefined)
      fields.api_key_encrypted = patch.api_key === null ? null : this.box.seal(patch.api_key, providerKeyContext(name))
    const [row] = await this.sql<ProviderRow[]>`
      UPDATE providers SET ${this.sql(fields)}, updated_at = now() WHERE name = ${name} RETURNING *`
    await this.#changed()
    return row as ProviderRow
  }

  async deleteProvider(name: string): Promise<void> {
    await this.getProvider(name)
    await this.sql`DELETE FROM providers WHERE name = ${name}`
    await this.#changed()
  }

  async listModelSettings() {
    return this.sql<ModelSettingsRow[]>`SELECT * FROM models ORDER BY id`
  }

  async putModelSettings(id: string, s: ModelSettings): Promise<ModelSettingsRow> {
    if (s.provider_name && !this.registry.provider(s.provider_name) && !(await this.sql`SELECT 1 FROM providers WHERE name = ${s.provider_name}`).length)
      throw new ApiError('validation_failed', `No provider named ${s.provider_name}`, 'provider_name')
    const values = {
      id,
      provider_name: s.provider_name ?? null,
      upstream_id: s.upstream_id ?? null,
      input_price_per_million: s.input_price_per_million ?? null,
      output_price_per_million: s.output_price_per_million ?? null,
      max_output_tokens: s.max_output_tokens ?? null,
      fallback_model: s.fallback_model ?? null,
      fallback_leaves_tee: s.fallback_leaves_tee ?? false,
      truncatable_dimensions: s.truncatable_dimensions ?? false,
      is_active: s.is_active ?? true,
    }
    const [row] = await this.sql<ModelSettingsRow[]>`
      INSERT INTO models ${this.sql(values)}
      ON CONFLICT (id) DO UPDATE SET provider_name = EXCLUDED.provider_name, upstream_id = EXCLUDED.upstream_id,
        input_price_per_million = EXCLUDED.input_price_per_million, output_price_per_million = EXCLUDED.output_price_per_million,
        max_output_tokens = EXCLUDED.max_output_tokens, fallback_model = EXCLUDED.fallback_model,
        fallback_leaves_tee = EXCLUDED.fallback_leaves_tee, truncatable_dimensions = EXCLUDED.truncatable_dimensions,
        is_active = EXCLUDED.is_active, updated_at = now()
      RETURNING *`
    await this.#changed()
    return row!
  }

  async deleteModelSettings(id: string): Promise<void> {
    const rows = await this.sql`DELETE FROM models WHERE id = ${id}`
    if (!rows.count) throw new ApiError('not_found', `No settings for model ${id}`)
    await this.#changed()
  }
}
