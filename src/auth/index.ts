import { Elysia, t } from 'elysia'
import type { Services } from '../services.ts'
import { presentUser } from '../users/service.ts'
import { ApiError } from '../http/errors.ts'
import { clearSessionCookies, cookieRefreshToken, isHttps, setSessionCookies } from './cookies.ts'
import { guards } from './guards.ts'
import type { TokenPair } from './service.ts'
import {
  ChangePasswordBody,
  LoginBody,
  MeResponse,
  RefreshBody,
  RegisterBody,
  SessionIdParams,
  SessionSchema,
  TokenPairSchema,
  withPermissions,
} from './model.ts'

/** Sign-in and session routes of the internal API. Login, refresh and register are the only public ones. */
export function authRoutes(s: Services) {
  const toCookies = (pair: TokenPair, cookie: Parameters<typeof setSessionCookies>[0], request: Request) => {
    const { refresh_token, ...rest } = pair
    setSessionCookies(cookie, refresh_token, s.config.REFRESH_TOKEN_TTL_SECONDS, isHttps(request, s.config.TRUST_PROXY))
    return rest
  }

  return new Elysia({ prefix: '/api-internal/v1/auth', tags: ['auth'] })
    .use(guards(s.guardDeps))
    .post(
      '/login',
      async ({ body, meta, cookie, request }) => {
        const pair = await s.auth.login(body.email, body.password, meta)
        return body.cookie ? toCookies(pair, cookie, request) : pair
      },
      {
        body: LoginBody,
        response: TokenPairSchema,
        detail: { summary: 'Sign in with email and password (`cookie: true`: the refresh token goes into an httpOnly cookie)', security: [] },
      },
    )
    .post(
      '/refresh',
      async ({ body, meta, cookie, request }) => {
        if (body.refresh_token) return s.auth.refresh(body.refresh_token, meta)
        try {
          return toCookies(await s.auth.refresh(cookieRefreshToken(cookie, request.headers), meta), cookie, request)
        } catch (err) {
          // A dead session's cookies are of no further use to the browser.
          if (err instanceof ApiError && err.status === 401) clearSessionCookies(cookie, isHttps(request, s.config.TRUST_PROXY))
          throw err
        }
      },
      {
        body: RefreshBody,
        response: TokenPairSchema,
        detail: {
          summary: 'Trade a refresh token (body, or the session cookie with X-CSRF-Token) for a new pair; the old one stops working',
          security: [],
        },
      },
    )
    .get('/options', () => ({ registration: s.auth.registrationEnabled }), {
      response: t.Object({ registration: t.Boolean({ description: 'Self-registration (auth/register) is open' }) }),
      detail: { summary: 'What the sign-in page may offer: whether self-registration is open', security: [] },
    })
    .post(
      '/register',
      async ({ body: { cookie: useCookie, ...input }, meta, set, cookie, request }) => {
        const pair = await s.auth.register(input, meta)
        set.status = 201
        return useCookie ? toCookies(pair, cookie, request) : pair
      },
      {
        body: RegisterBody,
        response: { 201: TokenPairSchema },
        detail: { summary: 'Create an account (only when ALLOW_REGISTRATION is on)', security: [] },
      },
    )
    .post(
      '/logout',
      async ({ user, sessionId, meta, set, cookie, request }) => {
        await s.auth.logout(user, sessionId, meta)
        clearSessionCookies(cookie, isHttps(request, s.config.TRUST_PROXY))
        set.status = 204
      },
      { session: true, detail: { summary: 'End this session; its access and refresh tokens stop working' } },
    )
    .get('/me', async ({ user }) => {
      await s.roles.ensure(user.role)
      return withPermissions(presentUser(user), s.roles)
    }, {
      session: true,
      response: MeResponse,
      detail: { summary: 'The signed-in user and their permissions' },
    })
    .post(
      '/change-password',
      async ({ body, user, sessionId, meta, set }) => {
        await s.auth.changePassword(user, sessionId, body.current_password, body.new_password, meta)
        set.status = 204
      },
      {
        session: true,
        body: ChangePasswordBody,
        detail: { summary: 'Change your password; every other session is signed out' },
      },
    )
    .get(
      '/sessions',
      async ({ user, sessionId }) => ({
        data: (await s.auth.listSessions(user.id)).map((row) => ({ ...row, current: row.id === sessionId })),
      }),
      {
        session: true,
        response: t.Object({ data: t.Array(SessionSchema) }),
        detail: { summary: 'Your active sessions (one per sign-in), most recently active first' },
      },
    )
    .post(
      '/sessions/revoke-others',
      async ({ user, sessionId, meta }) => ({ revoked: await s.auth.revokeOtherSessions(user, sessionId, meta) }),
      {
        session: true,
        response: t.Object({ revoked: t.Integer() }),
        detail: { summary: 'Sign out every other session of yours; this one stays' },
      },
    )
    .delete(
      '/sessions/:id',
      async ({ params, user, meta, set }) => {
        await s.auth.revokeOwnSession(user, params.id, meta)
        set.status = 204
      },
      {
        session: true,
        params: SessionIdParams,
        detail: { summary: 'Sign out one of your sessions (its access and refresh tokens stop working)' },
      },
    )
}
