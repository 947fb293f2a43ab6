/**
 * The plugin admin API's shapes (the server's own schemas in src/plugins/model.ts, imported as types only) and
 * the small pure helpers the pages share: the status a person reads, and whether a grant covers what a manifest asks for (the same rule the
 * server applies in manifest.ts grantCovers, so the form can say why Enable would be refused before sending).
 */

import type { Wire } from '../../api.ts'
import type { GrantedLimitsSchema, GrantSchema, PermissionsSchema, PluginSchema, PluginStatsSchema } from '../../../../src/plugins/model.ts'

export const ADMIN = '/api-internal/v1/plugin-admin/plugins'

export type Permissions = typeof PermissionsSchema.static
export type Grant = typeof GrantSchema.static
export type GrantedLimits = typeof GrantedLimitsSchema.static
export type Plugin = Wire<typeof PluginSchema.static>
export type PluginStats = typeof PluginStatsSchema.static
type PluginRoute = Plugin['routes'][number]

export const pluginPath = (name: string) => `${ADMIN}/${encodeURIComponent(name)}`

const subset = (a: readonly string[] | undefined, b: readonly string[] | undefined) => (a ?? []).every((x) => (b ?? []).includes(x))

/** The platform's defaults: a limit above one needs a grant (LIMIT_CAPS and DEFAULT_LIMITS on the server). */
export const LIMIT_DEFAULTS: Required<GrantedLimits> = { memory_mb: 64, cpu_ms: 1_000, wall_ms: 30_000 }
export const LIMIT_CAPS: Required<GrantedLimits> = { memory_mb: 256, cpu_ms: 10_000, wall_ms: 120_000 }
export const LIMIT_NAMES = ['memory_mb', 'cpu_ms', 'wall_ms'] as const

/**
 * Mirrors the server's grantCovers: a grant must include everything requested (it may add to it), limits above
 * the defaults included.
 */
export function grantCovers(granted: Grant | null, requested: Permissions, limits: GrantedLimits = {}): boolean {
  if (!granted) return false
  if (LIMIT_NAMES.some((k) => (limits[k] ?? 0) > Math.max(LIMIT_DEFAULTS[k], granted.limits?.[k] ?? 0))) return false
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
  return grantCovers(p.granted_permissions, p.requested_permissions, p.requested_limits) ? 'disabled' : 'needs grant'
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
