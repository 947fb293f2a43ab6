/** The API-key API's shapes, from the server's schemas, and its paths. */
import type { KeySchema, KeyUsageDaySchema, KeyWithSecretSchema, Scope as ServerScope, UpdateKeyInput } from '../../../../src/api-keys/model.ts'

export const KEYS = '/api-internal/v1/api-keys'

export const SCOPES = [
  { id: 'llm', label: 'Models (chat, embeddings)' },
  { id: 'rag:read', label: 'Read documents' },
  { id: 'rag:write', label: 'Write documents' },
  { id: 'chatbots', label: 'Chatbots' },
  { id: 'plugins', label: 'Plugins' },
  { id: 'agents', label: 'Agents (runs, with their tools)' },
  { id: 'mcp', label: 'MCP endpoint (documents and chatbots for MCP clients)' },
] as const satisfies readonly { id: ServerScope; label: string }[]
export type Scope = ServerScope

export type ApiKey = typeof KeySchema.static

/** Only in the answers to create and regenerate: the one time the secret is shown. */
export type KeyWithSecret = typeof KeyWithSecretSchema.static

export interface KeyList {
  data: ApiKey[]
  total: number
  limit: number
  offset: number
}

export type UsageDay = typeof KeyUsageDaySchema.static

/** What update accepts (create also needs a name); the form builds it. */
export type KeyInput = UpdateKeyInput

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
