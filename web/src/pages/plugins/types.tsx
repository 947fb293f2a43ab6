/**
 * The plugin admin API's shapes (the server's own schemas in src/plugins/model.ts, imported as types only) and
 * the small pure helpers the pages share: the status a person reads, and whether a grant covers what a manifest asks for (the same rule the
 * server applies in manifest.ts grantCovers, so the form can say why Enable would be refused before sending).
 */

import type { Wire } from '../../api.ts'
import type { PermissionsSchema, PluginSchema, PluginStatsSchema } from '../../../../src/plugins/model.ts'

export const ADMIN = '/api-internal/v1/plugin-admin/plugins'

export type Permissions = typeof PermissionsSchema.static
export type Plugin = Wire<typeof PluginSchema.static>
export type PluginStats = typeof PluginStatsSchema.static
type PluginRoute = Plugin['routes'][number]

export const pluginPath = (name: string) => `${ADMIN}/${encodeURIComponent(name)}`

const subset = (a: readonly string[] | undefined, b: readonly string[] | undefined) => (a ?? []).every((x) => (b ?? []).includes(x))

/** Mirrors the server's grantCovers: a grant must include everything requested (it may add to it). */
export function grantCovers(granted: Permissions | null, requested: Permissions): boolean {
  if (!granted) return false
  if (!subset(requested.net, granted.net) || !subset(requested.secrets, granted.secrets)) return false
  if (requested.llm && (!granted.llm || !subset(requested.llm.models, granted.llm.models) || requested.llm.budget_usd > granted.llm.budget_usd)) return false
  if (requested.rag && (!granted.rag || !subset(requested.rag.collections, granted.rag.collections))) return false
  if (requested.chatbots && (!granted.chatbots || !subset(requested.chatbots.invoke, granted.chatbots.invoke))) return false
  if (requested.kv && (!granted.kv || requested.kv.quota_kb > granted.kv.quota_kb)) return false
  return true
}

export type PluginStatus = 'enabled' | 'disabled' | 'needs grant'

/** "needs grant": never granted, or a newer version asks for more than the stored grant. */
export function pluginStatus(p: Plugin): PluginStatus {
  if (p.enabled) return 'enabled'
  return grantCovers(p.granted_permissions, p.requested_permissions) ? 'disabled' : 'needs grant'
}

export function StatusBadge(props: { plugin: Plugin }) {
  const status = () => pluginStatus(props.plugin)
  return <span class={`badge ${status() === 'enabled' ? 'ok' : status() === 'needs grant' ? 'warn' : 'bad'}`}>{status()}</span>
}

/** How a route is reached, in words. */
export function routeAccess(r: PluginRoute): string {
  if (r.auth === 'public') return 'public, no sign-in (webhooks)'
  if (r.auth === 'jwt') return 'signed-in dashboard users'
  return 'API keys with the plugin scope'
}

/** Where a route is mounted, as the docs describe it. */
export function routeUrl(plugin: string, r: PluginRoute): string {
  return `${r.auth === 'jwt' ? '/api-internal/v1' : '/api/v1'}/plugins/${plugin}${r.path}`
}
