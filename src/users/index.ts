import { Elysia, t } from 'elysia'
import type { Services } from '../services.ts'
import { guards } from '../auth/guards.ts'
import { ApiError } from '../http/errors.ts'
import { CreateUserBody, RoleInfoSchema, ListUsersQuery, ResetPasswordBody, UpdateUserBody, UserSchema } from './model.ts'
import { presentUser } from './service.ts'
import { isBuiltinRole, ROLES } from '../auth/roles.ts'

const IdParams = t.Object({ id: t.String({ format: 'uuid' }) })

/** Admin user management (users:manage; reading needs users:read). */
export function userRoutes(s: Services) {
  return new Elysia({ prefix: '/api-internal/v1/users', tags: ['users'] })
    .use(guards(s.guardDeps))
    .get(
      '/',
      async ({ query }) => {
        if (query.role) {
          await s.roles.ensure(query.role)
          if (!s.roles.exists(query.role)) throw new ApiError('validation_failed', `role: there is no role named ${query.role}`, 'role')
        }
        const { items, total } = await s.userAdmin.list(query)
        return { data: items.map(presentUser), total, limit: query.limit, offset: query.offset }
      },
      {
        permission: 'users:read',
        query: ListUsersQuery,
        response: t.Object({ data: t.Array(UserSchema), total: t.Integer(), limit: t.Integer(), offset: t.Integer() }),
        detail: { summary: 'List users' },
      },
    )
    .get(
      '/roles',
      ({ user }) => ({
        data: [...ROLES, ...s.roles.custom().map((r) => r.name)].map((role) => ({
          role,
          builtin: isBuiltinRole(role),
          permissions: s.roles.permissionsOf(role),
          assignable: s.roles.canAssign(user, role),
        })),
      }),
      {
        permission: 'users:read',
        response: t.Object({ data: t.Array(RoleInfoSchema) }),
        detail: { summary: 'The roles (built-in ones lowest first, then custom ones), with their permissions and whether you may grant each' },
      },
    )
    .get('/:id', async ({ params }) => presentUser(await s.userAdmin.get(params.id)), {
      permission: 'users:read',
      params: IdParams,
      response: UserSchema,
      detail: { summary: 'Get a user' },
    })
    .post(
      '/',
      async ({ body, user, meta, set }) => {
        const { user: created, generatedPassword } = await s.userAdmin.create(user, body, meta)
        set.status = 201
        return { ...presentUser(created), temporary_password: generatedPassword }
      },
      {
        permission: 'users:manage',
        body: CreateUserBody,
        response: { 201: t.Composite([UserSchema, t.Object({ temporary_password: t.Nullable(t.String()) })]) },
        detail: { summary: 'Create a user (a generated password is returned once and must be changed)' },
      },
    )
    .patch(
      '/:id',
      async ({ params, body, user, meta }) =>
        presentUser(await s.userAdmin.update(user, params.id, body, meta)),
      {
        permission: 'users:manage',
        params: IdParams,
        body: UpdateUserBody,
        response: UserSchema,
        detail: { summary: 'Update a user: email, username, role, active flag' },
      },
    )
    .post(
      '/:id/deactivate',
      async ({ params, user, meta }) =>
        presentUser(await s.userAdmin.update(user, params.id, { is_active: false }, meta)),
      { permission: 'users:manage', params: IdParams, response: UserSchema, detail: { summary: 'Deactivate a user' } },
    )
    .post(
      '/:id/activate',
      async ({ params, user, meta }) =>
        presentUser(await s.userAdmin.update(user, params.id, { is_active: true }, meta)),
      { permission: 'users:manage', params: IdParams, response: UserSchema, detail: { summary: 'Reactivate a user' } },
    )
    .post(
      '/:id/reset-password',
      ({ params, body, user, meta }) =>
        s.userAdmin.resetPassword(user, params.id, body.new_password, meta),
      {
        permission: 'users:manage',
        params: IdParams,
        body: ResetPasswordBody,
        response: t.Object({ temporary_password: t.Nullable(t.String()) }),
        detail: { summary: 'Set a new password (generated when omitted); the user must change it at next sign-in' },
      },
    )
    .delete(
      '/:id',
      async ({ params, user, meta, set }) => {
        await s.userAdmin.delete(user, params.id, meta)
        set.status = 204
      },
      { permission: 'users:manage', params: IdParams, detail: { summary: 'Delete a user with their keys and sessions' } },
    )
}
