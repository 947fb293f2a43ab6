import { Elysia, t } from 'elysia'
import { requireApiKey, requirePermission } from '../auth/guards.ts'
import { ApiError } from '../http/errors.ts'
import type { Services } from '../services.ts'
import type { PluginIdentity } from './boundary.ts'
import { IDLE_GRACE_S, invocationError, MAX_REQUEST_BYTES, readBody } from './invoke-routes.ts'
import { SandboxError } from './sandbox/index.ts'

type IpServer = Parameters<typeof requireApiKey>[2] & { timeout?: (request: Request, seconds: number) => void }

const ExecuteResult = t.Object({ plugin: t.String(), result: t.Unknown() })

/** `{"input": ...}`: anything JSON; nothing else. The error names the field. */
function parseBody(raw: Uint8Array): unknown {
  if (raw.byteLength === 0) return null
  let body: unknown
  try {
    body = JSON.parse(new TextDecoder().decode(raw))
  } catch {
    throw new ApiError('invalid_json', 'The body is not JSON: send {"input": ...}')
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError('validation_failed', 'The body must be a JSON object: {"input": ...}')
  for (const key of Object.keys(body)) if (key !== 'input') throw new ApiError('validation_failed', `Unknown field "${key}": the body is {"input": ...}`, key)
  return (body as { input?: unknown }).input ?? null
}

/**
 * A plugin's `execute(ctx)` (BasePlugin's entry point for a plain call): `POST /api/v1/plugins/{name}/execute`
 * `{input}` with an API key that has the `plugins` scope, and `POST /api-internal/v1/plugins/{name}/execute` for the
 * dashboard. Under the same limits and audit as the plugin's routes: the caller's identity (never their credentials)
 * in `ctx.identity`, the per-caller rate limit (PLUGIN_RATE_LIMIT_PER_MINUTE), the 5 MB request cap, the plugin's
 * granted CPU, memory, wall-time and result-size limits, host calls checked against its grant and audited, the
 * invocation counted in its stats (kind "execute") and towards automatic disabling when it breaks a limit.
 * `/execute` is therefore not available as a plugin route of its own on these two prefixes.
 */
export function pluginExecuteRoutes(s: Services) {
  const { plugins } = s

  async function execute(surface: 'public' | 'internal', name: string, request: Request, server: IpServer | null, set: { headers: Record<string, string | number> }) {
    let identity: PluginIdentity
    let caller: string
    if (surface === 'internal') {
      const { user } = await requirePermission(s.guardDeps, request, set.headers, 'profile:read')
      identity = { source: 'internal', user_id: user.id, role: user.role }
      caller = `user:${user.id}`
    } else {
      const key = await requireApiKey(s.guardDeps, request, server, new URL(request.url).pathname, set.headers, 'plugins')
      identity = { source: 'api', user_id: key.user_id, api_key_id: key.id, scopes: [...key.scopes] }
      caller = `key:${key.id}`
    }
    const loaded = plugins.isLoaded(name) ? plugins.loaded(name) : undefined
    if (!loaded) throw new ApiError('not_found', `No enabled plugin "${name}" here`)
    if (!loaded.meta.hooks.execute) throw new ApiError('not_found', `The plugin "${name}" has no execute method`)
    await s.limiter.take(`plugin:${name}:${caller}`, { perMinute: s.config.PLUGIN_RATE_LIMIT_PER_MINUTE }, set.headers)
    const input = parseBody(await readBody(request, MAX_REQUEST_BYTES))
    server?.timeout?.(request, Math.ceil(loaded.limits.wallMs / 1000) + IDLE_GRACE_S)
    try {
      const result = await plugins.invoke(name, 'execute', { input, identity }, 'execute', undefined, request.signal)
      return { plugin: name, result: result ?? null }
    } catch (err) {
      if (err instanceof SandboxError) throw invocationError(err)
      throw err
    }
  }

  const detail = (who: string) => ({
    summary: `Run a plugin's execute(ctx) with {input} (${who}); the answer is {plugin, result}`,
    tags: ['plugins'],
  })
  return new Elysia()
    .post('/api/v1/plugins/:name/execute', ({ params, request, server, set }) => execute('public', params.name, request, server as IpServer | null, set as never), {
      parse: 'none',
      response: ExecuteResult,
      detail: detail('API key with the plugins scope'),
    })
    .post('/api-internal/v1/plugins/:name/execute', ({ params, request, server, set }) => execute('internal', params.name, request, server as IpServer | null, set as never), {
      parse: 'none',
      response: ExecuteResult,
      detail: detail('signed in'),
    })
}
