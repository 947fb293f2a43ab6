import { Elysia } from 'elysia'
import { guards, requireApiKey, requirePermission } from '../auth/guards.ts'
import { ApiError } from '../http/errors.ts'
import { readCapped } from '../http/read-capped.ts'
import { requestMeta } from '../http/request-meta.ts'
import type { Services } from '../services.ts'
import { pluginHost, pluginRequestHeaderPairs, pluginResponse, type PluginIdentity } from './boundary.ts'
import { matchRoute, signatureValid } from './routing.ts'
import { SandboxError, type RouteResult, type WireRequest } from './sandbox/index.ts'

export const MAX_REQUEST_BYTES = 5 * 1024 * 1024
/** How long the connection of a plugin call may stay silent beyond the plugin's own wall-clock limit. */
export const IDLE_GRACE_S = 10

type IpServer = Parameters<typeof requireApiKey>[2] & { timeout?: (request: Request, seconds: number) => void }

/** HTTP status of a failed invocation: limits are the platform refusing to go on (5xx), naming the limit. */
export function invocationError(err: SandboxError): ApiError {
  if (err.code === 'route_not_found') return new ApiError('not_found', 'No route of this plugin matches the request')
  if (err.code === 'concurrency_limit_exceeded')
    return new ApiError('service_unavailable', `Plugin busy: ${err.message}; retry shortly`, undefined, { 'retry-after': '1' })
  if (err.code === 'sandbox_unavailable' || err.code === 'plugin_quarantined' || err.code === 'isolate_recycled' || err.code === 'plugin_not_loaded')
    return new ApiError('service_unavailable', `Plugin unavailable: ${err.message}`, undefined, { 'retry-after': '1' })
  if (err.limit || err.code.endsWith('_exceeded') || err.code.endsWith('_too_large'))
    return new ApiError('plugin_limit_exceeded', `The plugin exceeded a limit (${err.code}): ${err.message}`)
  return new ApiError('plugin_error', `The plugin failed (${err.code})`)
}

/** The request body, refused as soon as it passes `max`: a chunked body declares no length, and may never end. */
export function readBody(request: Request, max: number): Promise<Uint8Array> {
  const tooLarge = () => new ApiError('payload_too_large', `Plugin requests may carry at most ${max} bytes`)
  if (Number(request.headers.get('content-length') ?? 0) > max) throw tooLarge()
  return readCapped(request.body, (total) => (total > max ? tooLarge() : null))
}

/**
 * The plugins' own routes: `/api/v1/plugins/<name>/<path>` (API-key and public routes) and
 * `/api-internal/v1/plugins/<name>/<path>` (JWT). The route's declared auth decides who may call; the plugin then
 * gets the request without the caller's credentials, and its answer is served sandboxed (see boundary.ts).
 */
export function pluginInvokeRoutes(s: Services) {
  const { plugins } = s
  const ownHost = pluginHost(s.config.PLUGIN_ORIGIN)

  async function dispatch(surface: 'public' | 'internal', name: string, request: Request, server: IpServer | null, set: { headers: Record<string, string | number> }) {
    // Every internal plugin route is a JWT route: who is asking is settled before anything about plugins is said.
    const session = surface === 'internal' ? await requirePermission(s.guardDeps, request, set.headers, 'profile:read') : null
    const prefix = surface === 'public' ? `/api/v1/plugins/${name}` : `/api-internal/v1/plugins/${name}`
    const url = new URL(request.url)
    const path = url.pathname.slice(prefix.length) || '/'
    const loaded = plugins.isLoaded(name) ? plugins.loaded(name) : undefined
    const route = loaded && matchRoute(loaded.row.manifest.routes, request.method, path)
    const onSurface = route && (surface === 'internal' ? route.auth === 'jwt' : route.auth !== 'jwt')
    if (!loaded || !route || !onSurface) throw new ApiError('not_found', `No route ${request.method} ${path} of an enabled plugin "${name}" here`)

    let identity: PluginIdentity
    let caller: string
    if (session) {
      identity = { source: 'internal', user_id: session.user.id, role: session.user.role }
      caller = `user:${session.user.id}`
    } else if (route.auth === 'api_key') {
      const key = await requireApiKey(s.guardDeps, request, server, url.pathname, set.headers, route.scope ?? 'plugins')
      identity = { source: 'api', user_id: key.user_id, api_key_id: key.id, scopes: [...key.scopes] }
      caller = `key:${key.id}`
    } else {
      identity = { source: 'public', user_id: null }
      caller = `ip:${requestMeta(request, server, s.config.TRUST_PROXY).ip ?? 'unknown'}`
    }
    // Per caller: one anonymous caller flooding a public route cannot use up the plugin's calls for everyone else.
    await s.limiter.take(`plugin:${name}:${caller}`, { perMinute: s.config.PLUGIN_RATE_LIMIT_PER_MINUTE }, set.headers)

    const raw = request.method === 'GET' || request.method === 'HEAD' ? new Uint8Array() : await readBody(request, MAX_REQUEST_BYTES)
    if (route.signature) {
      const config = plugins.host.config(loaded.row, { ...loaded.row.granted, secrets: [route.signature.secret] })
      const secret = config[route.signature.secret]
      if (typeof secret !== 'string' || !signatureValid(route.signature, secret, raw, request.headers.get(route.signature.header)))
        throw new ApiError('invalid_request', `The ${route.signature.header} signature is missing or does not match`)
    }
    // Built directly rather than through a Request and toWireRequest: the same pairs and bytes, without a Request,
    // two Headers and an extra copy of the body per call.
    const wire: WireRequest = {
      method: request.method,
      url: new URL(`http://plugin${path}${url.search}`).href,
      headers: pluginRequestHeaderPairs(request.headers),
      body: raw.byteLength === 0 ? null : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64'),
      bodyEncoding: 'base64',
    }
    // Bun closes a connection that stays silent for 10 s; a plugin may take up to its wall-clock limit.
    server?.timeout?.(request, Math.ceil(loaded.limits.wallMs / 1000) + IDLE_GRACE_S)
    try {
      const result = (await plugins.invoke(name, 'route', { request: wire, path, routeKey: `${route.method} ${route.path}`, identity }, 'route')) as RouteResult
      return pluginResponse(result, ownHost !== null && url.host.toLowerCase() === ownHost)
    } catch (err) {
      if (err instanceof SandboxError) throw invocationError(err)
      throw err
    }
  }

  // Each method on its own: a method-specific route wins over ALL in Elysia's router, so `.all` would lose GETs to
  // the dashboard's catch-all.
  const invoke = new Elysia().use(guards(s.guardDeps))
  for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
    invoke
      .route(method, '/api/v1/plugins/:name/*', ({ params, request, server, set }) => dispatch('public', params.name, request, server as IpServer | null, set as never), {
        parse: 'none',
        detail: { summary: "A plugin's API-key or public (webhook) route", tags: ['plugins'] },
      })
      .route(method, '/api-internal/v1/plugins/:name/*', ({ params, request, server, set }) => dispatch('internal', params.name, request, server as IpServer | null, set as never), {
        parse: 'none',
        detail: { summary: "A plugin's JWT route", tags: ['plugins'] },
      })
  return invoke
}
