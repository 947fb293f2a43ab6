import { Elysia } from 'elysia'
import { ApiError } from '../http/errors.ts'
import type { RouteResult } from './sandbox/index.ts'
import { toResponse } from './sandbox/index.ts'

/**
 * What crosses between a caller and a plugin, in both directions. A plugin is third-party code: it never sees the
 * caller's credentials (who is calling reaches it as plain data, `ctx.identity`), and what it answers never runs
 * with the dashboard's authority (an opaque origin, no cookies set on the platform's origin).
 */

/** Request headers a plugin never receives: credentials, and what proxies say about the client. */
const WITHHELD = new Set(['authorization', 'cookie', 'x-api-key', 'x-csrf-token', 'forwarded', 'x-real-ip', 'true-client-ip', 'cf-connecting-ip', 'x-client-ip'])

export function withheldRequestHeader(name: string): boolean {
  const n = name.toLowerCase()
  return WITHHELD.has(n) || n.startsWith('proxy-') || n.startsWith('x-forwarded-') || n.startsWith('x-enclava-')
}

/** The caller's request headers as the plugin may see them, as the pairs a route invocation carries. */
export function pluginRequestHeaderPairs(headers: Headers): [string, string][] {
  const out: [string, string][] = []
  for (const pair of headers) if (!withheldRequestHeader(pair[0])) out.push(pair)
  return out
}

/** The caller's request headers as the plugin may see them. */
export function pluginRequestHeaders(headers: Headers): Headers {
  return new Headers(pluginRequestHeaderPairs(headers))
}

/**
 * Response headers a plugin may not set: cookies on the platform's origin, wiping the dashboard's storage
 * (Clear-Site-Data), pinning transport or service-worker scope for the whole host, and credentialed CORS.
 */
const REFUSED_RESPONSE = new Set([
  'set-cookie',
  'set-cookie2',
  'clear-site-data',
  'strict-transport-security',
  'service-worker-allowed',
  'access-control-allow-credentials',
  'alt-svc',
  'x-request-id',
  'server-timing',
])

/**
 * An opaque origin: scripts and forms may run, but as no origin at all, so they cannot read the dashboard's cookies
 * or storage, and requests they make are cross-site (the session cookies are SameSite=Strict and never go along).
 */
export const PLUGIN_CSP = 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads'

/**
 * The HTTP response of a plugin's route result. `ownOrigin`: served from PLUGIN_ORIGIN, a host the dashboard's
 * cookies never reach, where the content may keep its origin; everywhere else it is sandboxed.
 */
export function pluginResponse(result: RouteResult, ownOrigin: boolean): Response {
  // One list, one Response: editing the Response's Headers afterwards cost a Headers object and three calls per
  // request. The platform's own values replace the plugin's, as Headers.set did.
  const headers: [string, string][] = []
  for (const pair of result.headers) {
    const name = pair[0].toLowerCase()
    if (!REFUSED_RESPONSE.has(name) && name !== 'x-content-type-options' && name !== 'cross-origin-opener-policy') headers.push(pair)
  }
  if (!ownOrigin) headers.push(['content-security-policy', PLUGIN_CSP])
  headers.push(['x-content-type-options', 'nosniff'])
  // A page opened from the dashboard keeps no handle on the dashboard's window.
  headers.push(['cross-origin-opener-policy', 'same-origin'])
  return toResponse({ ...result, headers })
}

/** Who is calling, as the plugin sees it: ids, role and scopes, never a token. */
export type PluginIdentity =
  | { source: 'internal'; user_id: string; role: string }
  | { source: 'api'; user_id: string; api_key_id: string; scopes: string[] }
  | { source: 'public'; user_id: null }
  | { source: 'cron'; user_id: null }
  /** A model called one of the plugin's tools in an agent's run, for this user (and API key, if one started it). */
  | { source: 'tool'; user_id: string; api_key_id: string | null; tool: string }

/** The host:port of PLUGIN_ORIGIN, or null. */
export function pluginHost(pluginOrigin: string | undefined): string | null {
  return pluginOrigin ? new URL(pluginOrigin).host.toLowerCase() : null
}

const PLUGIN_PATH = /^\/(api\/v1|api-internal\/v1)\/plugins\//

/**
 * With PLUGIN_ORIGIN, that host serves plugin routes and nothing else: the dashboard and the rest of the API
 * answer 404 there, so plugin content on it shares an origin with nothing of the platform's.
 */
export function pluginOriginGuard(pluginOrigin: string | undefined) {
  const host = pluginHost(pluginOrigin)
  const app = new Elysia({ name: 'plugin-origin' })
  if (host === null) return app
  return app.onRequest(({ request }) => {
    const url = new URL(request.url)
    if (url.host.toLowerCase() === host && !PLUGIN_PATH.test(url.pathname))
      throw new ApiError('not_found', `${pluginOrigin} serves plugin routes only (/api/v1/plugins/..., /api-internal/v1/plugins/...)`)
  }).as('global')
}
