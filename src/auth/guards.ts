import { Elysia } from 'elysia'
import type { ApiKeyVerifier, VerifiedKey } from '../api-keys/verifier.ts'
import type { KeyUsageRecorder } from '../api-keys/usage-recorder.ts'
import type { Scope } from '../api-keys/model.ts'
import { ApiError, type ErrorCode } from '../http/errors.ts'
import { requestMeta, type IpSource } from '../http/request-meta.ts'
import type { UserRow } from '../users/service.ts'
import type { RateLimiter } from '../rate-limit/limiter.ts'
import { holds, type Permission } from './roles.ts'
import type { RoleRegistry } from '../roles/registry.ts'
import type { AuthService } from './service.ts'

export interface GuardDeps {
  /** Makes the plugin unique per app instance (tests run several apps in one process). */
  instanceId: string
  auth: AuthService
  verifier: ApiKeyVerifier
  keyUsage: KeyUsageRecorder
  limiter: RateLimiter
  /** Every role's permissions (built-in and custom), as this replica knows them. */
  roles: RoleRegistry
  /** Requests per minute: per key on the public API (unless the key sets its own), per user on the internal one. */
  publicPerMinute: number
  internalPerMinute: number
  trustProxy: boolean
  /** Hears every accepted key with the client's address (threat detection learns each key's networks); must be cheap. */
  onKeyUse?: ((keyId: string, ip: string | null) => void) | undefined
}

const PUBLIC_API_ROOT = '/api/v1'

export function bearer(value: string | null): string | null {
  if (!value) return null
  const match = /^Bearer\s+(\S+)$/i.exec(value)
  return match?.[1] ?? null
}

const VERDICT_ERRORS: Record<string, [ErrorCode, string]> = {
  NOT_FOUND: ['invalid_api_key', 'Incorrect API key provided'],
  EXPIRED: ['invalid_api_key', 'This API key has expired'],
  DISABLED: ['invalid_api_key', 'This API key is deactivated'],
  SUSPENDED: ['api_key_suspended', 'This API key was suspended by threat detection (unusual use); an administrator can reinstate it'],
  IP_NOT_ALLOWED: ['ip_not_allowed', 'This API key may not be used from your IP address'],
  ENDPOINT_NOT_ALLOWED: ['endpoint_not_allowed', 'This API key may not call this endpoint'],
  PUBLISHABLE_KEY: [
    'permission_denied',
    'This is a publishable widget key (it has allowed_origins): it works only on the widget API, POST /api/v1/widget/{chatbot}/chat. ' +
      'Use a key without allowed_origins here',
  ],
}

/**
 * The central access checks, as macros a route opts into:
 * - `permission: 'users:manage'` — a valid JWT session whose role grants the permission;
 * - `session: true` — any signed-in user, even one who must still change their password;
 * - `apiKey: 'llm' | true` — a valid API key (with that scope) for the public API.
 * Every route also gets `meta` (request id, client IP, user agent) for services and the audit log.
 */
async function signedIn(deps: GuardDeps, headers: Headers): Promise<{ user: UserRow; sessionId: string }> {
  const token = bearer(headers.get('authorization'))
  if (!token) throw new ApiError('authentication_required', 'Sign in first: send Authorization: Bearer <access token>')
  const session = await deps.auth.authenticate(token)
  if (!session) throw new ApiError('invalid_token', 'The access token is invalid, expired or revoked')
  // The role's permissions as this replica knows them (custom roles included); routes check them with holds().
  await deps.roles.ensure(session.user.role)
  session.user.permissions = new Set(deps.roles.permissionsOf(session.user.role))
  return session
}

/** A signed-in user whose role grants `permission` (rate-limited per user); for routes whose guard is decided at run time. */
export async function requirePermission(
  deps: GuardDeps,
  request: Request,
  headers: Record<string, string | number>,
  permission: Permission | null,
): Promise<{ user: UserRow; sessionId: string }> {
  const session = await signedIn(deps, request.headers)
  await deps.limiter.take(`user:${session.user.id}`, { perMinute: deps.internalPerMinute }, headers)
  if (permission === null) return session
  if (session.user.force_password_change)
    throw new ApiError('password_change_required', 'Change your password first (POST /api-internal/v1/auth/change-password)')
  if (!holds(session.user, permission)) throw new ApiError('permission_denied', `Your role (${session.user.role}) lacks the permission ${permission}`)
  return session
}

/**
 * A valid API key with `scope` (restrictions and rate limits applied); for routes whose guard is decided at run time.
 * `widget: true` only on the chat widget's routes: the one place a publishable key (with allowed_origins) works.
 */
export async function requireApiKey(
  deps: GuardDeps,
  request: Request,
  server: IpSource | null,
  path: string,
  headers: Record<string, string | number>,
  scope: string | true,
  opts: { widget?: boolean } = {},
): Promise<VerifiedKey> {
  const presented = bearer(request.headers.get('authorization')) ?? request.headers.get('x-api-key')
  if (!presented) throw new ApiError('invalid_api_key', 'Send your API key as Authorization: Bearer en_... or X-API-Key')
  const ip = requestMeta(request, server, deps.trustProxy).ip
  const verdict = await deps.verifier.verify(presented, {
    ip,
    path: path.startsWith(PUBLIC_API_ROOT) ? path.slice(PUBLIC_API_ROOT.length) || '/' : path,
    widget: opts.widget === true,
  })
  if (!verdict.ok) {
    const [code, message] = VERDICT_ERRORS[verdict.reason] ?? ['invalid_api_key', 'Incorrect API key provided']
    throw new ApiError(code, message)
  }
  if (scope !== true && !verdict.key.scopes.includes(scope)) throw new ApiError('permission_denied', `This API key lacks the scope "${scope}"`)
  const k = verdict.key
  await deps.limiter.take(
    `key:${k.id}`,
    { perMinute: k.rate_limit_per_minute ?? deps.publicPerMinute, perHour: k.rate_limit_per_hour, perDay: k.rate_limit_per_day },
    headers,
  )
  deps.keyUsage.touch(k.id)
  deps.onKeyUse?.(k.id, ip)
  return k
}

export function guards(deps: GuardDeps) {
  // Who is asking is settled in `transform`, which Elysia runs before validation: an anonymous caller gets a 401,
  // never a 400 that would describe the body it should send. `resolve` (after validation) hands the result on.
  const sessions = new WeakMap<Request, { user: UserRow; sessionId: string }>()
  const keys = new WeakMap<Request, VerifiedKey>()
  const settled = <T>(map: WeakMap<Request, T>, request: Request): T => {
    const value = map.get(request)
    if (value === undefined) throw new Error('access check did not run before resolve')
    return value
  }

  return new Elysia({ name: 'guards', seed: deps.instanceId })
    .derive(({ request, server }) => ({ meta: requestMeta(request, server, deps.trustProxy) }))
    .macro({
      session: (enabled: true) => ({
        async transform({ request, set }) {
          void enabled
          sessions.set(request, await requirePermission(deps, request, set.headers as Record<string, string>, null))
        },
        resolve: ({ request }) => settled(sessions, request),
      }),
      permission: (permission: Permission) => ({
        async transform({ request, set }) {
          sessions.set(request, await requirePermission(deps, request, set.headers as Record<string, string>, permission))
        },
        resolve: ({ request }) => settled(sessions, request),
      }),
      apiKey: (scope: Scope | true) => ({
        async transform({ request, server, path, set }) {
          keys.set(request, await requireApiKey(deps, request, server, path, set.headers as Record<string, string>, scope))
        },
        resolve: ({ request }) => ({ apiKey: settled(keys, request) }),
      }),
    })
    .as('scoped')
}
