/**
 * Roles: the four built-in ones and custom ones with a chosen set of permissions. Only permissions you hold yourself
 * can be given (the server refuses the rest, and so does this form); a role is granted on the Users page, by name.
 * Deleting a role moves its users to read only.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api, ApiError, type Wire } from '../../api.ts'
import type { PermissionInfo, RoleView } from '../../../../src/roles/model.ts'
import { useMe } from '../../me.ts'
import { ResponsiveTable } from '../../table.tsx'
import { Badge, ConfirmButton, ErrorAlert, Field, fieldMessage, Loading, plural } from '../../ui.tsx'
import { toast } from '../../toast.tsx'

type Role = Wire<typeof RoleView.static>
type Permission = typeof PermissionInfo.static

const ROLES = '/api-internal/v1/roles'

function RoleForm(props: { role: Role | null; permissions: Permission[]; onDone: (saved: Role | null) => void }) {
  const [name, setName] = createSignal(props.role?.name ?? '')
  const [description, setDescription] = createSignal(props.role?.description ?? '')
  const [chosen, setChosen] = createSignal(new Set(props.role?.permissions ?? ['profile:read']))
  const [error, setError] = createSignal<unknown>(null)
  const [nameError, setNameError] = createSignal<string | null>(null)
  const [busy, setBusy] = createSignal(false)
  const toggle = (p: string, on: boolean) => {
    const next = new Set(chosen())
    if (on) next.add(p)
    else next.delete(p)
    setChosen(next)
  }
  async function save(e: Event) {
    e.preventDefault()
    setError(null)
    setNameError(null)
    setBusy(true)
    const body = { name: name().trim(), description: description(), permissions: [...chosen()] }
    try {
      const saved = props.role
        ? await api<Role>('PATCH', `${ROLES}/${props.role.name}`, { body: body.name === props.role.name ? { description: body.description, permissions: body.permissions } : body })
        : await api<Role>('POST', ROLES, { body })
      toast(props.role ? `Role ${saved.name} saved` : `Role ${saved.name} created`)
      props.onDone(saved)
    } catch (err) {
      if (err instanceof ApiError && err.param === 'name') setNameError(fieldMessage(err, { name: 'Name' }))
      else setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <form class="card stack" onSubmit={(e) => void save(e)} data-testid="role-form" aria-labelledby="role-form-title">
      <h2 id="role-form-title">{props.role ? `Edit ${props.role.name}` : 'New role'}</h2>
      <Field label="Name" for="role-name" hint="Lower-case letters, digits and _, e.g. auditor" error={nameError()}>
        <input id="role-name" required value={name()} onInput={(e) => setName(e.currentTarget.value)} aria-invalid={nameError() ? 'true' : undefined} />
      </Field>
      <Field label="Description" for="role-description">
        <input id="role-description" value={description()} maxLength={500} onInput={(e) => setDescription(e.currentTarget.value)} />
      </Field>
      <fieldset>
        <legend>Permissions</legend>
        <p class="hint">You can only give permissions your own role holds.</p>
        <div class="admin-permissions">
          <For each={props.permissions}>
            {(p) => (
              <label class="check" title={p.held ? undefined : 'Your role lacks this permission'}>
                <input type="checkbox" checked={chosen().has(p.name)} disabled={!p.held} onChange={(e) => toggle(p.name, e.currentTarget.checked)} />
                <span>
                  <code>{p.name}</code> <span class="muted small-text">{p.description}</span>
                </span>
              </label>
            )}
          </For>
        </div>
      </fieldset>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <div class="form-actions">
        <button type="submit" disabled={busy()}>{props.role ? 'Save role' : 'Create role'}</button>
        <button type="button" class="secondary" onClick={() => props.onDone(null)}>Cancel</button>
      </div>
    </form>
  )
}

export function RolesPanel() {
  const { can } = useMe()
  const [roles, { refetch }] = createResource(() => api<{ data: Role[] }>('GET', ROLES).then((r) => r.data))
  const [permissions] = createResource(() => api<{ data: Permission[] }>('GET', `${ROLES}/permissions`).then((r) => r.data))
  const [editing, setEditing] = createSignal<Role | 'new' | null>(null)
  const done = () => {
    setEditing(null)
    void refetch()
  }
  return (
    <div class="stack">
      <Show when={can('users:manage') && editing() === null}>
        <div class="actions"><button type="button" onClick={() => setEditing('new')}>New role</button></div>
      </Show>
      <Show when={editing() !== null && permissions.latest}>
        <RoleForm role={editing() === 'new' ? null : (editing() as Role)} permissions={permissions.latest!} onDone={done} />
      </Show>
      <Switch>
        <Match when={roles.error}><ErrorAlert error={roles.error} retry={refetch} /></Match>
        <Match when={!roles.latest}><Loading label="Loading roles…" /></Match>
        <Match when={roles.latest}>
          {(list) => (
            <ResponsiveTable label="Roles" testid="roles">
              <thead>
                <tr><th>Role</th><th>Permissions</th><th>Users</th><th>You may grant it</th><th><span class="sr-only">Actions</span></th></tr>
              </thead>
              <tbody>
                <For each={list()}>
                  {(r) => (
                    <tr>
                      <td>
                        <strong>{r.name}</strong> <Show when={r.builtin}><Badge>built-in</Badge></Show>
                        <div class="muted small-text">{r.description}</div>
                      </td>
                      <td>
                        <details>
                          <summary>{plural(r.permissions.length, 'permission')}</summary>
                          <ul class="admin-permission-list"><For each={r.permissions}>{(p) => <li><code>{p}</code></li>}</For></ul>
                        </details>
                      </td>
                      <td>{r.users}</td>
                      <td>{r.assignable ? 'Yes' : 'No'}</td>
                      <td>
                        <Show when={r.editable && can('users:manage')}>
                          <div class="actions">
                            <button type="button" class="secondary small" onClick={() => setEditing(r)} aria-label={`Edit ${r.name}`}>Edit</button>
                            <ConfirmButton
                              label="Delete"
                              ariaLabel={`Delete ${r.name}`}
                              title={`Delete the role ${r.name}?`}
                              message={r.users > 0 ? `Its ${plural(r.users, 'user')} will fall back to read only, at once on every replica (each move is audited).` : 'Nobody holds it.'}
                              action={async () => {
                                await api('DELETE', `${ROLES}/${r.name}`)
                                await refetch()
                              }}
                              done={`Role ${r.name} deleted`}
                            />
                          </div>
                        </Show>
                      </td>
                    </tr>
                  )}
                </For>
              </tbody>
            </ResponsiveTable>
          )}
        </Match>
      </Switch>
    </div>
  )
}
