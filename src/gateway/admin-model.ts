import { t } from 'elysia'
import type { ModelSettingsRow } from './registry.ts'

/** Shapes of the provider and model administration API, shared by validation, OpenAPI and the dashboard. */

export const ProviderName = t.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' })
export const ProviderKindSchema = t.Union([t.Literal('privatemode'), t.Literal('openai-compatible')])
const Url = t.String({ pattern: '^https?://', maxLength: 2048 })
const Price = t.Nullable(t.Number({ minimum: 0, maximum: 100_000 }))
const UpstreamKey = t.String({ minLength: 1, maxLength: 4096 })

export const CreateProviderBody = t.Object(
  { name: ProviderName, kind: ProviderKindSchema, base_url: t.Optional(Url), api_key: t.Optional(UpstreamKey), is_active: t.Optional(t.Boolean()) },
  { additionalProperties: false },
)

export const UpdateProviderBody = t.Object(
  { base_url: t.Optional(Url), api_key: t.Optional(t.Nullable(UpstreamKey)), is_active: t.Optional(t.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
)

export const ModelSettingsBody = t.Object(
  {
    provider_name: t.Optional(t.Nullable(ProviderName)),
    upstream_id: t.Optional(t.Nullable(t.String({ minLength: 1, maxLength: 256 }))),
    input_price_per_million: t.Optional(Price),
    output_price_per_million: t.Optional(Price),
    max_output_tokens: t.Optional(t.Nullable(t.Integer({ minimum: 1, maximum: 1_000_000 }))),
    fallback_model: t.Optional(t.Nullable(t.String({ minLength: 1, maxLength: 256 }))),
    /**
     * A confidential (TEE) model may fall back to a model that is not confidential only when this is true (default
     * false): the fallback would send the prompt outside the TEE. Every such fallback is audited.
     */
    fallback_leaves_tee: t.Optional(t.Boolean()),
    /** Embedding models trained to be shortened (Matryoshka): `dimensions` cuts and re-normalises their vectors. */
    truncatable_dimensions: t.Optional(t.Boolean()),
    is_active: t.Optional(t.Boolean()),
  },
  { additionalProperties: false },
)

/**
 * What is known of a confidential provider's attestation. privatemode-proxy verifies the deployment's attestation
 * itself and forwards nothing until it has; it exposes no attestation endpoint of its own (the versions we checked),
 * so a successful exchange through it is the evidence: `verified_at` is the last one.
 */
export const AttestationSchema = t.Object({
  verified_by: t.Literal('privatemode-proxy'),
  status: t.Union([t.Literal('verified'), t.Literal('failing'), t.Literal('unknown')]),
  verified_at: t.Nullable(t.String({ format: 'date-time' })),
})

export const ProviderHealthSchema = t.Object({
  confidential: t.Boolean(),
  circuit: t.Union([t.Literal('closed'), t.Literal('open'), t.Literal('half-open')]),
  consecutive_failures: t.Integer(),
  last_error: t.Nullable(t.String()),
  last_success_at: t.Nullable(t.String({ format: 'date-time' })),
  attestation: t.Optional(t.Nullable(AttestationSchema)),
})

/** An upstream API key only ever goes in: no field carries one back. */
export const ProviderViewSchema = t.Object({
  name: t.String(),
  kind: ProviderKindSchema,
  base_url: t.String(),
  /** Configuration providers are fixed at start-up and cannot be changed through the API. */
  source: t.Union([t.Literal('configuration'), t.Literal('database')]),
  is_active: t.Boolean(),
  has_api_key: t.Optional(t.Boolean()),
  /** Null for an inactive provider (not loaded). */
  health: t.Nullable(ProviderHealthSchema),
})

export const ModelSettingsSchema = t.Object({
  id: t.String(),
  provider_name: t.Nullable(t.String()),
  upstream_id: t.Nullable(t.String()),
  input_price_per_million: t.Nullable(t.Number()),
  output_price_per_million: t.Nullable(t.Number()),
  max_output_tokens: t.Nullable(t.Integer()),
  fallback_model: t.Nullable(t.String()),
  fallback_leaves_tee: t.Boolean(),
  truncatable_dimensions: t.Boolean(),
  is_active: t.Boolean(),
})

export const CatalogModelSchema = t.Object({
  id: t.String(),
  provider: t.Nullable(t.String()),
  confidential: t.Nullable(t.Boolean()),
  /** Served right now: listed by a provider or routed to one, and not switched off. */
  available: t.Boolean(),
  input_price_per_million: t.Nullable(t.Number()),
  output_price_per_million: t.Nullable(t.Number()),
  settings: t.Nullable(ModelSettingsSchema),
})

export const ProviderTestSchema = t.Object({
  ok: t.Boolean(),
  error: t.Nullable(t.String()),
  models: t.Array(t.String()),
  latency_ms: t.Nullable(t.Number()),
})

export type ProviderView = typeof ProviderViewSchema.static
export type ModelSettingsView = typeof ModelSettingsSchema.static

const price = (v: string | null) => (v === null ? null : Number(v))

/** PostgreSQL's numeric arrives as a string; the API answers with numbers. */
export function presentModelSettings(row: ModelSettingsRow): ModelSettingsView {
  return {
    id: row.id,
    provider_name: row.provider_name,
    upstream_id: row.upstream_id,
    input_price_per_million: price(row.input_price_per_million),
    output_price_per_million: price(row.output_price_per_million),
    max_output_tokens: row.max_output_tokens,
    fallback_model: row.fallback_model,
    fallback_leaves_tee: row.fallback_leaves_tee,
    truncatable_dimensions: row.truncatable_dimensions,
    is_active: row.is_active,
  }
}
