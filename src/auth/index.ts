import { Elysia } from 'elysia'
import type { Services } from '../services.ts'
import { presentUser } from '../users/service.ts'
import { guards } from './guards.ts'
import { ChangePasswordBody, LoginBody, MeResponse, RefreshBody, RegisterBody, TokenPairSchema, withPermissions } from './model.ts'

/** Sign-in and session routes of the internal API. Login, refresh and register are the only public ones. */
export function authRoutes(s: Services) {
  return new Elysia({ prefix: '/api-internal/v1/auth', tags: ['auth'] })
    .use(guards(s.guardDeps))
    .post('/login', ({ body, meta }) => s.auth.login(body.email, body.password, meta), {
      body: LoginBody,
      response: TokenPairSchema,
      detail: { summary: 'Sign in with email and password', security: [] },
    })
    .post('/refresh', ({ body, meta }) => s.auth.refresh(body.refresh_token, meta), {
      body: RefreshBody,
      response: TokenPairSchema,
      detail: { summary: 'Trade a refresh token for a new pair (the old one stops working)', security: [] },
    })
    .post(
      '/register',
      async ({ body, meta, set }) => {
        const pair = await s.auth.register(body, meta)
        set.status = 201
        return pair
      },
      {
        body: RegisterBody,
        response: { 201: TokenPairSchema },
        detail: { summary: 'Create an account (only when ALLOW_REGISTRATION is on)', security: [] },
      },
    )
    .post(
      '/logout',
      async ({ user, sessionId, meta, set }) => {
        await s.auth.logout(user, sessionId, meta)
        set.status = 204
      },
      { session: true, detail: { summary: 'End this session; its access and refresh tokens stop working' } },
    )
    .get('/me', ({ user }) => withPermissions(presentUser(user)), {
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
}
