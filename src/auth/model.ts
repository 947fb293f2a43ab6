import { t } from 'elysia'
import { EmailSchema, PasswordSchema, UserSchema, UsernameSchema } from '../users/model.ts'
import type { RoleRegistry } from '../roles/registry.ts'

export const LoginBody = t.Object(
  {
    email: t.String({ minLength: 1, maxLength: 254 }),
    password: PasswordSchema,
    /** The dashboard: the refresh token goes into an httpOnly cookie instead of the body. */
    cookie: t.Optional(t.Boolean()),
  },
  { additionalProperties: false },
)
/** Without refresh_token, the refresh cookie is used (and the X-CSRF-Token header must match the CSRF cookie). */
export const RefreshBody = t.Object(
  { refresh_token: t.Optional(t.String({ minLength: 1, maxLength: 512 })) },
  { additionalProperties: false },
)
export const RegisterBody = t.Object(
  {
    email: EmailSchema,
    username: UsernameSchema,
    password: PasswordSchema,
    /** As at login: the refresh token goes into the httpOnly session cookie (the dashboard's sign-up). */
    cookie: t.Optional(t.Boolean()),
  },
  { additionalProperties: false },
)
export const ChangePasswordBody = t.Object(
  { current_password: PasswordSchema, new_password: PasswordSchema },
  { additionalProperties: false },
)
export const TokenPairSchema = t.Object({
  access_token: t.String(),
  /** Absent in cookie mode. */
  refresh_token: t.Optional(t.String()),
  token_type: t.Literal('bearer'),
  expires_in: t.Integer(),
  user: UserSchema,
})
export const MeResponse = t.Composite([UserSchema, t.Object({ permissions: t.Array(t.String()) })])

export const withPermissions = <U extends { role: string }>(user: U, roles: RoleRegistry) => ({ ...user, permissions: roles.permissionsOf(user.role) })

export const SessionSchema = t.Object({
  id: t.String({ format: 'uuid' }),
  created_at: t.Date(),
  expires_at: t.Date(),
  /** When a token of this session was last issued (sign-in or refresh). */
  last_active_at: t.Date(),
  ip: t.Nullable(t.String()),
  user_agent: t.Nullable(t.String()),
  /** The session this request was made with. */
  current: t.Boolean(),
})
export const SessionIdParams = t.Object({ id: t.String({ format: 'uuid' }) })
