/** Shapes of the admin provider API (src/gateway/admin.ts). API keys only ever go in: no field carries one back. */
export type ProviderKind = 'privatemode' | 'openai-compatible'

export interface ProviderHealth {
  confidential: boolean
  circuit: 'closed' | 'open' | 'half-open'
  consecutive_failures: number
  last_error: string | null
  last_success_at: string | null
}

export interface ProviderView {
  name: string
  kind: ProviderKind
  base_url: string
  /** Configuration providers are fixed at start-up and cannot be changed here. */
  source: 'configuration' | 'database'
  is_active: boolean
  has_api_key?: boolean
  /** Null for an inactive provider (not loaded). */
  health: ProviderHealth | null
}

export interface ModelSettings {
  provider_name: string | null
  upstream_id: string | null
  input_price_per_million: number | null
  output_price_per_million: number | null
  max_output_tokens: number | null
  fallback_model: string | null
  is_active: boolean
}

export interface CatalogModel {
  id: string
  provider: string | null
  confidential: boolean | null
  available: boolean
  input_price_per_million: number | null
  output_price_per_million: number | null
  settings: ModelSettings | null
}

export interface TestResult {
  ok: boolean
  error: string | null
  models: string[]
  latency_ms: number | null
}

export const PROVIDERS = '/api-internal/v1/llm/providers'
export const CATALOG = '/api-internal/v1/llm/model-catalog'
/** Model ids may contain slashes; each segment is encoded, the slashes kept (the route is a wildcard). */
export const settingsPath = (id: string) => `/api-internal/v1/llm/model-settings/${id.split('/').map(encodeURIComponent).join('/')}`
