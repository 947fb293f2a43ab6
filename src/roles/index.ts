import { Elysia, t } from 'elysia'
import { guards } from '../auth/guards.ts'
import { PERMISSIONS } from '../auth/roles.ts'
import type { Services } from '../services.ts'
import { CreateRoleBody, PermissionInfo, RoleParams, RoleView, UpdateRoleBody } from './model.ts'
import { PERMISSION_DESCRIPTIONS } from './service.ts'

/**
 * Roles: the four built-in ones and custom ones with a chosen set of permissions (`/api-internal/v1/roles`).
 * Reading needs users:read, changing users:manage, and nobody creates, edits or deletes a role holding a permission
 * they lack. A user gets a role through the user's `role` field (PATCH /users/{id}), by name.
 */
export function roleRoutes(s: Services) {
  return new Elysia({ prefix: '/api-internal/v1/roles', tags: ['roles'] })
    .use(guards(s.guardDeps))
    .model({ Role: RoleView })
    .get('/', async ({ user }) => ({ data: await s.roleAdmin.list(user) }), {
      permission: 'users:read',
      response: t.Object({ data: t.Array(RoleView) }),
      detail: { summary: 'Every role: built-in ones lowest first, then custom ones, with permissions, users and what you may do with each' },
    })
    .get(
      '/permissions',
      ({ user }) => ({ data: PERMISSIONS.map((p) => ({ name: p, description: PERMISSION_DESCRIPTIONS[p], held: s.roles.can(user.role, p) })) }),
      {
        permission: 'users:read',
        response: t.Object({ data: t.Array(PermissionInfo) }),
        detail: { summary: 'Every permission a role may hold, with what it allows and whether you hold it' },
      },
    )
    .get('/:name', ({ user, params }) => s.roleAdmin.get(user, params.name), {
      permission: 'users:read',
      params: RoleParams,
      response: RoleView,
      detail: { summary: 'One role' },
    })
    .post(
      '/',
      async ({ user, body, meta, set }) => {
        const created = await s.roleAdmin.create(user, body, meta)
        set.status = 201
        return created
      },
      {
        permission: 'users:manage',
        body: CreateRoleBody,
        response: { 201: RoleView },
        detail: { summary: 'Create a custom role (only with permissions you hold yourself)' },
      },
    )
    .patch('/:name', ({ user, params, body, meta }) => s.roleAdmin.update(user, params.name, body, meta), {
      permission: 'users:manage',
      params: RoleParams,
      body: UpdateRoleBody,
      response: RoleView,
      detail: { summary: 'Rename a custom role, or change its description or permissions (only a role whose every permission you hold)' },
    })
    .delete('/:name', ({ user, params, meta }) => s.roleAdmin.delete(user, params.name, meta), {
      permission: 'users:manage',
      params: RoleParams,
      response: t.Object({ users_moved: t.Integer() }),
      detail: { summary: 'Delete a custom role; its users fall back to read_only (each move audited)' },
    })
}
