/**
 * User management for administrators: the list (search, role and status filters, paged), creating a user, and a
 * detail view per user (`/users/:id`) for role, activation, password reset and deletion. What the person may do
 * comes from the server: `users:read` to see, `users:manage` to change, and `/users/roles` says which roles they
 * may grant (and so whom they may manage).
 */
import { createResource, Match, Switch } from 'solid-js'
import { useParams } from '@solidjs/router'
import { api } from '../api.ts'
import { ErrorAlert, Loading, PageHeader } from '../ui.tsx'
import { NoPermission, useMe } from './users/access.tsx'
import { UserDetail } from './users/UserDetail.tsx'
import { UserList, type RolesSource } from './users/UserList.tsx'
import { USERS, type RoleInfo } from './users/model.ts'
import './Users.css'

export default function Users() {
  const params = useParams()
  const { me, can } = useMe()
  const [roles] = createResource(
    () => can('users:read'),
    () => api<{ data: RoleInfo[] }>('GET', `${USERS}/roles`).then((r) => r.data),
  )
  const source: RolesSource = { list: () => (roles.error ? undefined : roles()), error: () => roles.error }

  return (
    <Switch>
      <Match when={me.error}>
        <PageHeader title="Users" />
        <ErrorAlert error={me.error} />
      </Match>
      <Match when={me.loading}>
        <PageHeader title="Users" />
        <Loading />
      </Match>
      <Match when={!can('users:read')}>
        <PageHeader title="Users" />
        <NoPermission what="see or manage users" permission="users:read" role={me()?.role} />
      </Match>
      <Match when={params.id ? me() : undefined}>
        {(self) => (
          <UserDetail id={params.id ?? ''} me={self()} roles={source} canManage={can('users:manage')} canAudit={can('audit:read')} />
        )}
      </Match>
      <Match when={true}>
        <UserList roles={source} canManage={can('users:manage')} />
      </Match>
    </Switch>
  )
}
