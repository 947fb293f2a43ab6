import { For, Show } from 'solid-js'
import { roleLabel } from './access.tsx'
import { permissionText, type RoleInfo } from './model.ts'

/** Each role with what it may do; a higher role has every permission of the ones below it. */
export function RolesCard(props: { roles: RoleInfo[] }) {
  return (
    <div class="card" aria-labelledby="roles-title">
      <h2 id="roles-title">Roles and what each may do</h2>
      <p class="muted">Lowest first; each role can do everything the one before it can. You can grant a role, and manage the people who hold it, only where it says so.</p>
      <For each={props.roles}>
        {(r, i) => (
          <details class="users-role">
            <summary>
              <strong>{roleLabel(r.role)}</strong>{' '}
              <span class="muted">— {r.permissions.length} permissions{r.assignable ? ', you can grant it' : ''}</span>
            </summary>
            <Show when={r.permissions.includes('users:manage')}>
              <p class="users-manages">
                Manages {r.role === 'super_admin' ? 'everyone, other super admins included' : `users with a lower role (${props.roles.slice(0, i()).map((x) => roleLabel(x.role)).join(', ')})`}.
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
