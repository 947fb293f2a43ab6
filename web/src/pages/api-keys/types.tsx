/** The API-key API's shapes as the dashboard uses them (see src/api-keys/model.ts), and its paths. */

export const KEYS = '/api-internal/v1/api-keys'

export const SCOPES = [
  { id: 'llm', label: 'Models (chat, embeddings)' },
  { id: 'rag:read', label: 'Read documents' },
  { id: 'rag:write', label: 'Write documents' },
  { id: 'chatbots', label: 'Chatbots' },
  { id: 'plugins', label: 'Plugins' },
] as const
export type Scope = (typeof SCOPES)[number]['id']

export interface ApiKey {
  id: string
  user_id: string
  name: string
  key_prefix: string
  scopes: Scope[]
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
  expires_at: string | null
  is_active: boolean
  request_count: number
  created_at: string
  updated_at: string
  last_used_at: string | null
}

/** Only in the answers to create and regenerate: the one time the secret is shown. */
export interface KeyWithSecret extends ApiKey {
  key: string
}

export interface KeyList {
  data: ApiKey[]
  total: number
  limit: number
  offset: number
}

export interface UsageDay {
  day: string
  model: string
  requests: number
  errors: number
  prompt_tokens: number
  completion_tokens: number
  cost_usd: number
}

/** What create and update accept; the form builds it. */
export type KeyInput = Partial<Omit<ApiKey, 'id' | 'user_id' | 'key_prefix' | 'is_active' | 'request_count' | 'created_at' | 'updated_at' | 'last_used_at'>>

export type KeyStatus = 'active' | 'inactive' | 'expired'

export function keyStatus(k: ApiKey, now = Date.now()): KeyStatus {
  if (!k.is_active) return 'inactive'
  if (k.expires_at && new Date(k.expires_at).getTime() <= now) return 'expired'
  return 'active'
}

export function StatusBadge(props: { apiKey: ApiKey }) {
  const status = () => keyStatus(props.apiKey)
  return <span class={`badge ${status() === 'active' ? 'ok' : status() === 'expired' ? 'warn' : 'bad'}`}>{status()}</span>
}
