import { t } from 'elysia'

export const ROLE_NAME_PATTERN = '^[a-z][a-z0-9_]{1,39}$'
export const RoleName = t.String({ pattern: ROLE_NAME_PATTERN, description: 'lower-case letters, digits and _, 2 to 40 characters, starting with a letter' })
/** Checked against the platform's permissions in the service, so the message can name the one that is unknown. */
const Permissions = t.Array(t.String({ minLength: 1, maxLength: 64 }), { maxItems: 64, description: 'permissions from GET /roles/permissions' })

export const CreateRoleBody = t.Object(
  {
    name: RoleName,
    description: t.Optional(t.String({ maxLength: 500 })),
    permissions: Permissions,
  },
  { additionalProperties: false },
)
export type CreateRoleInput = typeof CreateRoleBody.static

export const UpdateRoleBody = t.Object(
  {
    /** Renames the role; its users keep it under the new name. */
    name: t.Optional(RoleName),
    description: t.Optional(t.String({ maxLength: 500 })),
    permissions: t.Optional(Permissions),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type UpdateRoleInput = typeof UpdateRoleBody.static

export const RoleParams = t.Object({ name: t.String({ minLength: 1, maxLength: 64 }) })

export const RoleView = t.Object({
  name: t.String(),
  description: t.String(),
  permissions: t.Array(t.String()),
  builtin: t.Boolean(),
  /** Users who hold the role now. */
  users: t.Integer(),
  /** Whether you may grant it (and manage the users who hold it). */
  assignable: t.Boolean(),
  /** Whether you may change or delete it: a custom role whose every permission you hold. */
  editable: t.Boolean(),
  created_at: t.Nullable(t.Date()),
  updated_at: t.Nullable(t.Date()),
})
export type RoleViewValue = typeof RoleView.static

export const PermissionInfo = t.Object({ name: t.String(), description: t.String(), held: t.Boolean() })
