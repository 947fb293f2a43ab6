import { t } from 'elysia'
/** A role by name: read_only, user, admin, super_admin, or a custom role (GET /api-internal/v1/roles). */
export const RoleSchema = t.String({ pattern: '^[a-z][a-z0-9_]{1,39}$', description: 'read_only, user, admin, super_admin or a custom role (GET /roles)' })
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
  /** A built-in role (ranked) or a custom one (src/roles). */
  builtin: t.Boolean(),
  permissions: t.Array(t.String()),
  /** Whether the caller may hand this role out (and so manage users who hold it). */
  assignable: t.Boolean(),
})
