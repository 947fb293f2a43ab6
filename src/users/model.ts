import { t } from 'elysia'
import { ROLES, type Role } from '../auth/roles.ts'

export const RoleSchema = t.Union(ROLES.map((r) => t.Literal(r)) as [ReturnType<typeof t.Literal<Role>>])
/** Data-loss prevention on requests leaving the TEE (null: the platform's setting). */
export const DlpModeSchema = t.Union([t.Literal('off'), t.Literal('redact'), t.Literal('block')])
export const EmailSchema = t.String({ format: 'email', maxLength: 254 })
export const UsernameSchema = t.String({ minLength: 3, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' })
/** The policy (length, not the email) is checked in the service so the message can name the rule. */
export const PasswordSchema = t.String({ minLength: 1, maxLength: 256 })

export const UserSchema = t.Object({
  id: t.String({ format: 'uuid' }),
  email: t.String(),
  username: t.String(),
  role: RoleSchema,
  is_active: t.Boolean(),
  force_password_change: t.Boolean(),
  failed_login_count: t.Integer(),
  locked_until: t.Nullable(t.String({ format: 'date-time' })),
  created_at: t.String({ format: 'date-time' }),
  updated_at: t.String({ format: 'date-time' }),
  last_login_at: t.Nullable(t.String({ format: 'date-time' })),
  confidential_only: t.Boolean(),
  dlp_mode: t.Nullable(DlpModeSchema),
})
export type UserView = typeof UserSchema.static

export const CreateUserBody = t.Object(
  {
    email: EmailSchema,
    username: UsernameSchema,
    password: t.Optional(PasswordSchema),
    role: t.Optional(RoleSchema),
    force_password_change: t.Optional(t.Boolean()),
  },
  { additionalProperties: false },
)

export const UpdateUserBody = t.Object(
  {
    email: t.Optional(EmailSchema),
    username: t.Optional(UsernameSchema),
    role: t.Optional(RoleSchema),
    is_active: t.Optional(t.Boolean()),
    force_password_change: t.Optional(t.Boolean()),
    /** Only confidential (TEE) models for everything this user does: the gateway, playground, chatbots, RAG, agents. */
    confidential_only: t.Optional(t.Boolean()),
    /** Data-loss prevention for this user's requests leaving the TEE; null: the platform's setting. */
    dlp_mode: t.Optional(t.Nullable(DlpModeSchema)),
  },
  { additionalProperties: false, minProperties: 1 },
)

export const ResetPasswordBody = t.Object(
  { new_password: t.Optional(PasswordSchema) },
  { additionalProperties: false },
)

export const ListUsersQuery = t.Object({
  q: t.Optional(t.String({ maxLength: 254 })),
  role: t.Optional(RoleSchema),
  is_active: t.Optional(t.Boolean()),
  limit: t.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: t.Integer({ minimum: 0, default: 0 }),
})

export const RoleInfoSchema = t.Object({
  role: RoleSchema,
  permissions: t.Array(t.String()),
  /** Whether the caller may hand this role out (and so manage users who hold it). */
  assignable: t.Boolean(),
})
