import { For, Show } from 'solid-js'
import { roleLabel } from './access.tsx'
import { permissionText, type RoleInfo } from './model.ts'

/**
 * What sets a role apart from the one below it: the permissions it adds, or, when it has the same permissions (a
 * super admin's are an admin's), whom it may manage.
 */
function summary(r: RoleInfo, below: RoleInfo | undefined): string {
  if (!below) return `${r.permissions.length} permissions`
  const added = r.permissions.filter((p) => !below.permissions.includes(p)).length
  if (added > 0) return `${r.permissions.length} permissions, ${added} more than ${roleLabel(below.role)}`
  if (r.role === 'super_admin') return `everything ${roleLabel(below.role)} may do, and manages administrators and other super admins`
  return `the permissions of ${roleLabel(below.role)}, and manages those below it`
}

/** Each role with what it may do; a higher role has every permission of the ones below it. */
export function RolesCard(props: { roles: RoleInfo[] }) {
  return (
    <div class="card" aria-labelledby="roles-title">
      <h2 id="roles-title">Roles and what each may do</h2>
      <p class="muted">Built-in roles lowest first (each can do everything the one before it can), then custom roles (Platform, Roles). You can grant a role, and manage the people who hold it, only where it says so.</p>
      <For each={props.roles}>
        {(r, i) => (
          <details class="users-role">
            <summary>
              <strong>{roleLabel(r.role)}</strong>{' '}
              <span class="muted">— {summary(r, props.roles[i() - 1])}{r.assignable ? '; you can grant it' : ''}</span>
            </summary>
            <Show when={r.permissions.includes('users:manage')}>
              <p class="users-manages">
                Manages {r.role === 'super_admin'
                  ? 'everyone, other super admins included'
                  : r.builtin
                    ? `users with a lower role (${props.roles.slice(0, i()).filter((x) => x.builtin).map((x) => roleLabel(x.role)).join(', ')})`
                    : 'users whose role holds only some of its permissions (a custom role)'}.
              </p>
            </Show>
            <ul>
              <For each={r.permissions}>
                {(p) => (
                  <li>
                    {permissionText(p)} <code class="muted">{p}</code>
                  </li>
                )}
              </For>
            </ul>
          </details>
        )}
      </For>
    </div>
  )
}
