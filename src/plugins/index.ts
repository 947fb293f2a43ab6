import { Elysia, t } from 'elysia'
import { guards, requireApiKey, requirePermission } from '../auth/guards.ts'
import { readCapped } from '../http/read-capped.ts'
import { ApiError } from '../http/errors.ts'
import type { Services } from '../services.ts'
import type { UserRow } from '../users/service.ts'
import { matchRoute, signatureValid } from './routing.ts'
import { SandboxError, toResponse, toWireRequest, type RouteResult } from './sandbox/index.ts'
import { CronRunSchema, PermissionsSchema, PluginHostCallSchema, PluginLogSchema, PluginSchema, PluginSettingsSchema, PluginStatsSchema } from './model.ts'
import { presentPlugin, type PluginRow } from './store.ts'

const NameParams = t.Object({ name: t.String({ pattern: '^[a-z][a-z0-9-]{1,38}[a-z0-9]$' }) })
const MAX_REQUEST_BYTES = 5 * 1024 * 1024
/** Logs, audit and cron history: the newest `limit` entries. */
const NewestQuery = t.Object({ limit: t.Integer({ minimum: 1, maximum: 1000, default: 100 }) })

/** HTTP status of a failed invocation: limits are the platform refusing to go on (5xx), naming the limit. */
function invocationError(err: SandboxError): ApiError {
  if (err.code === 'route_not_found') return new ApiError('not_found', 'No route of this plugin matches the request')
  if (err.code === 'sandbox_unavailable' || err.code === 'plugin_quarantined' || err.code === 'concurrency_limit_exceeded')
    return new ApiError('service_unavailable', `Plugin unavailable: ${err.message}`)
  if (err.limit || err.code.endsWith('_exceeded') || err.code.endsWith('_too_large'))
    return new ApiError('plugin_limit_exceeded', `The plugin exceeded a limit (${err.code}): ${err.message}`)
  return new ApiError('plugin_error', `The plugin failed (${err.code})`)
}

/** The request body, refused as soon as it passes `max`: a chunked body declares no length, and may never end. */
function readBody(request: Request, max: number): Promise<Uint8Array> {
  const tooLarge = () => new ApiError('payload_too_large', `Plugin requests may carry at most ${max} bytes`)
  if (Number(request.headers.get('content-length') ?? 0) > max) throw tooLarge()
  return readCapped(request.body, (total) => (total > max ? tooLarge() : null))
}

/**
 * Plugin management for administrators (`/api-internal/v1/plugin-admin`), and the plugins' own routes:
 * `/api/v1/plugins/<name>/<path>` (API-key and public routes) and `/api-internal/v1/plugins/<name>/<path>` (JWT).
 */
export function pluginRoutes(s: Services) {
  const { plugins } = s
  const present = (row: PluginRow) => presentPlugin(row, { loaded: plugins.isLoaded(row.name) })
  const audit = (user: UserRow, action: string, name: string, meta: Parameters<typeof s.audit.record>[1], details: Record<string, unknown> = {}) =>
    s.audit.record({ action, outcome: 'success', actor: { userId: user.id, label: user.email }, resource: { type: 'plugin', id: name }, details }, meta)

  const admin = new Elysia({ prefix: '/api-internal/v1/plugin-admin/plugins', tags: ['plugins'] })
    .use(guards(s.guardDeps))
    .get('/', async () => ({ data: (await plugins.store.list()).map(present) }), {
      permission: 'plugins:manage',
      response: t.Object({ data: t.Array(PluginSchema) }),
      detail: { summary: 'Installed and discovered plugins with requested and granted permissions' },
    })
    .post(
      '/discover',
      async ({ user, meta }) => {
        const result = await plugins.discover()
        await audit(user, 'plugin.discover', '*', meta, { found: result.found.length, failed: result.failed.length })
        return result
      },
      { permission: 'plugins:manage', detail: { summary: 'Scan the plugin folders again' } },
    )
    .post(
      '/install',
      async ({ body, user, meta, set }) => {
        if (body.archive.size > s.config.PLUGIN_UPLOAD_MAX_MB * 1024 * 1024)
          throw new ApiError('payload_too_large', `Plugin archives may be at most ${s.config.PLUGIN_UPLOAD_MAX_MB} MB`, 'archive')
        const row = await plugins.install(new Uint8Array(await body.archive.arrayBuffer()))
        await audit(user, 'plugin.install', row.name, meta, { version: row.version, code_hash: row.code_hash })
        set.status = 201
        return present(row)
      },
      {
        permission: 'plugins:manage',
        body: t.Object({ archive: t.File() }, { additionalProperties: false }),
        response: { 201: PluginSchema },
        detail: { summary: 'Install a plugin from a .zip (plugin.json + source); it stays disabled until granted' },
      },
    )
    .get('/:name', async ({ params }) => present(await plugins.get(params.name)), {
      permission: 'plugins:manage',
      params: NameParams,
      response: PluginSchema,
      detail: { summary: 'One plugin' },
    })
    .post(
      '/:name/enable',
      async ({ params, body, user, meta }) => {
        const row = await plugins.get(params.name)
        const grant = body.grant ?? row.manifest.permissions
        const enabled = await plugins.enable(params.name, grant, user.id)
        await audit(user, 'plugin.enable', params.name, meta, { version: row.version, grant })
        return present(enabled)
      },
      {
        permission: 'plugins:manage',
        params: NameParams,
        body: t.Object({ grant: t.Optional(PermissionsSchema) }, { additionalProperties: false }),
        response: PluginSchema,
        detail: { summary: 'Grant permissions (at least those requested; default exactly those) and enable' },
      },
    )
    .post(
      '/:name/disable',
      async ({ params, user, meta }) => {
        const row = await plugins.disable(params.name)
        await audit(user, 'plugin.disable', params.name, meta)
        return present(row)
      },
      { permission: 'plugins:manage', params: NameParams, response: PluginSchema, detail: { summary: 'Disable' } },
    )
    .post(
      '/:name/reload',
      async ({ params, user, meta }) => {
        const row = await plugins.reload(params.name)
        await audit(user, 'plugin.reload', params.name, meta, { code_hash: row.code_hash })
        return present(row)
      },
      { permission: 'plugins:manage', params: NameParams, response: PluginSchema, detail: { summary: 'Read the plugin folder again' } },
    )
    .delete(
      '/:name',
      async ({ params, user, meta, set }) => {
        await plugins.uninstall(params.name)
        await audit(user, 'plugin.uninstall', params.name, meta)
        set.status = 204
      },
      { permission: 'plugins:manage', params: NameParams, detail: { summary: 'Uninstall (its settings and kv data go with it)' } },
    )
    .get('/:name/config', ({ params }) => plugins.settings(params.name), {
      permission: 'plugins:manage',
      params: NameParams,
      response: PluginSettingsSchema,
      detail: { summary: 'Settings; secret fields only as set or not' },
    })
    .put(
      '/:name/config',
      async ({ params, body, user, meta }) => {
        await plugins.saveSettings(params.name, body.values)
        await audit(user, 'plugin.config', params.name, meta, { fields: Object.keys(body.values) })
        return plugins.settings(params.name)
      },
      {
        permission: 'plugins:manage',
        params: NameParams,
        body: t.Object({ values: t.Record(t.String({ maxLength: 64 }), t.Unknown()) }, { additionalProperties: false }),
        response: PluginSettingsSchema,
        detail: { summary: 'Replace settings (validated against the plugin schema; omitted secrets are kept, null clears one)' },
      },
    )
    .get('/:name/stats', ({ params }) => plugins.stats(params.name), {
      permission: 'plugins:manage',
      params: NameParams,
      response: PluginStatsSchema,
      detail: { summary: 'Invocations, errors, limit violations, latency p50/p99 (7 days), CPU' },
    })
    .get(
      '/:name/logs',
      async ({ params, query }) => ({
        data: await s.sql`SELECT id, invocation_id, level, message, created_at FROM plugin_logs WHERE plugin = ${params.name} ORDER BY id DESC LIMIT ${query.limit}`,
      }),
      { permission: 'plugins:manage', params: NameParams, query: NewestQuery, response: t.Object({ data: t.Array(PluginLogSchema) }), detail: { summary: 'Plugin log lines, newest first' } },
    )
    .get(
      '/:name/audit',
      async ({ params, query }) => ({
        data: await s.sql`SELECT id, invocation_id, call, allowed, detail, created_at FROM plugin_audit WHERE plugin = ${params.name} ORDER BY id DESC LIMIT ${query.limit}`,
      }),
      { permission: 'plugins:manage', params: NameParams, query: NewestQuery, response: t.Object({ data: t.Array(PluginHostCallSchema) }), detail: { summary: 'Host calls, allowed and refused, newest first' } },
    )
    .get(
      '/:name/cron',
      async ({ params, query }) => ({
        data: await s.sql`
          SELECT id, job, scheduled_for, started_at, finished_at, status, duration_ms, error FROM plugin_cron_runs
          WHERE plugin = ${params.name} ORDER BY id DESC LIMIT ${query.limit}`,
      }),
      { permission: 'plugins:manage', params: NameParams, query: NewestQuery, response: t.Object({ data: t.Array(CronRunSchema) }), detail: { summary: 'Cron run history' } },
    )

  /** Runs a plugin route on one surface; the route's own auth decides who may call it. */
  async function dispatch(surface: 'public' | 'internal', name: string, request: Request, server: Parameters<typeof requireApiKey>[2], set: { headers: Record<string, string | number> }) {
    // Every internal plugin route is a JWT route: who is asking is settled before anything about plugins is said.
    const session = surface === 'internal' ? await requirePermission(s.guardDeps, request, set.headers, 'profile:read') : null
    const prefix = surface === 'public' ? `/api/v1/plugins/${name}` : `/api-internal/v1/plugins/${name}`
    const url = new URL(request.url)
    const path = url.pathname.slice(prefix.length) || '/'
    const loaded = (() => {
      try {
        return plugins.loaded(name)
      } catch {
        return undefined
      }
    })()
    const route = loaded && matchRoute(loaded.row.manifest.routes, request.method, path)
    const onSurface = route && (surface === 'internal' ? route.auth === 'jwt' : route.auth !== 'jwt')
    if (!loaded || !route || !onSurface) throw new ApiError('not_found', `No route ${request.method} ${path} of an enabled plugin "${name}" here`)

    let identity: Record<string, unknown>
    if (session) identity = { user_id: session.user.id, source: 'internal' }
    else if (route.auth === 'api_key') {
      const key = await requireApiKey(s.guardDeps, request, server, url.pathname, set.headers, route.scope ?? 'plugins')
      identity = { user_id: key.user_id, api_key_id: key.id, source: 'api' }
    } else identity = { user_id: null, source: 'public' }
    await s.limiter.take(`plugin:${name}`, { perMinute: s.config.PLUGIN_RATE_LIMIT_PER_MINUTE }, set.headers)

    const raw = request.method === 'GET' || request.method === 'HEAD' ? new Uint8Array() : await readBody(request, MAX_REQUEST_BYTES)
    if (route.signature) {
      const config = plugins.host.config(loaded.row, { ...loaded.row.granted, secrets: [route.signature.secret] })
      const secret = config[route.signature.secret]
      if (typeof secret !== 'string' || !signatureValid(route.signature, secret, raw, request.headers.get(route.signature.header)))
        throw new ApiError('invalid_request', `The ${route.signature.header} signature is missing or does not match`)
    }
    const wire = await toWireRequest(
      new Request(`http://plugin${path}${url.search}`, { method: request.method, headers: request.headers, ...(raw.byteLength ? { body: raw } : {}) }),
    )
    try {
      const result = (await plugins.invoke(name, 'route', { request: wire, path, routeKey: `${route.method} ${route.path}`, identity }, 'route')) as RouteResult
      return toResponse(result)
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
      .route(method, '/api/v1/plugins/:name/*', ({ params, request, server, set }) => dispatch('public', params.name, request, server, set as never), {
        parse: 'none',
        detail: { summary: "A plugin's API-key or public (webhook) route", tags: ['plugins'] },
      })
      .route(method, '/api-internal/v1/plugins/:name/*', ({ params, request, server, set }) => dispatch('internal', params.name, request, server, set as never), {
        parse: 'none',
        detail: { summary: "A plugin's JWT route", tags: ['plugins'] },
      })

  return new Elysia().use(admin).use(invoke)
}
