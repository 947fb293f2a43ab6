import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../../api.ts'
import { Empty, ErrorAlert, formatDate, formatNumber, Loading, PageHeader } from '../../ui.tsx'
import { roleLabel } from './access.tsx'
import { CreateUser, type Created } from './CreateUser.tsx'
import { RolesCard } from './Roles.tsx'
import { PasswordOnce } from './SecretOnce.tsx'
import { isLocked, USERS, type RoleInfo, type UserRecord } from './model.ts'
import { ResponsiveTable } from '../../table.tsx'

const PAGE_SIZE = 50

interface Query {
  q: string
  role: string
  status: '' | 'active' | 'inactive'
  offset: number
}

export interface RolesSource {
  /** The roles, or undefined while loading or after an error. */
  list: () => RoleInfo[] | undefined
  error: () => unknown
}

export function UserList(props: { roles: RolesSource; canManage: boolean }) {
  const [query, setQuery] = createSignal<Query>({ q: '', role: '', status: '', offset: 0 })
  const [users, { refetch }] = createResource(query, (q) => {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(q.offset) })
    if (q.q) params.set('q', q.q)
    if (q.role) params.set('role', q.role)
    if (q.status) params.set('is_active', String(q.status === 'active'))
    return api<{ data: UserRecord[]; total: number }>('GET', `${USERS}?${params}`)
  })
  // Never throws (a resource read rethrows its error); the Switch below shows the error itself.
  const current = () => (users.error ? undefined : users.latest)
  const [creating, setCreating] = createSignal(false)
  const [created, setCreated] = createSignal<Created | null>(null)

  function search(e: SubmitEvent) {
    e.preventDefault()
    const form = new FormData(e.currentTarget as HTMLFormElement)
    setQuery({
      q: String(form.get('q') ?? '').trim(),
      role: String(form.get('role') ?? ''),
      status: String(form.get('status') ?? '') as Query['status'],
      offset: 0,
    })
  }

  function onCreated(u: Created) {
    setCreating(false)
    setCreated(u)
    void refetch()
  }

  const page = () => {
    const total = current()?.total ?? 0
    const from = total === 0 ? 0 : query().offset + 1
    return { total, from, to: Math.min(query().offset + PAGE_SIZE, total) }
  }
  const move = (delta: number) => setQuery({ ...query(), offset: Math.max(0, query().offset + delta) })

  return (
    <section aria-labelledby="page-title">
      <PageHeader title="Users">
        <Show when={props.canManage && !creating()}>
          <button type="button" onClick={() => (setCreated(null), setCreating(true))}>New user</button>
        </Show>
      </PageHeader>
      <div class="stack">
        <Show when={created()}>
          {(u) => (
            <div class="card" role="status" aria-labelledby="created-title">
              <h2 id="created-title">User created</h2>
              <p>
                <A href={`/users/${u().id}`}>{u().email}</A> can now sign in as {roleLabel(u().role)}
                {u().force_password_change ? ' and must change the password first.' : '.'}
              </p>
              <Show when={u().temporary_password}>{(pw) => <PasswordOnce password={pw()} />}</Show>
              <div class="actions"><button class="secondary small" type="button" onClick={() => setCreated(null)}>Done</button></div>
            </div>
          )}
        </Show>
        <Show when={creating()}>
          <Show when={props.roles.list()} fallback={<Show when={props.roles.error()} fallback={<Loading />}><ErrorAlert error={props.roles.error()} /></Show>}>
            {(roles) => <CreateUser roles={roles()} onCreated={onCreated} onCancel={() => setCreating(false)} />}
          </Show>
        </Show>

        <form class="card users-filters" role="search" aria-label="Find users" onSubmit={search}>
          <div class="row">
            <div class="field">
              <label for="users-q">Search</label>
              <input id="users-q" name="q" type="search" maxlength="254" placeholder="Email or username" />
            </div>
            <div class="field">
              <label for="users-role">Role</label>
              <select id="users-role" name="role">
                <option value="">Any role</option>
                <For each={props.roles.list() ?? []}>{(r) => <option value={r.role}>{roleLabel(r.role)}</option>}</For>
              </select>
            </div>
            <div class="field">
              <label for="users-status">Status</label>
              <select id="users-status" name="status">
                <option value="">Any status</option>
                <option value="active">Active</option>
                <option value="inactive">Inactive</option>
              </select>
            </div>
            <div class="field users-filter-submit">
              <button type="submit" class="secondary">Search</button>
            </div>
          </div>
        </form>

        <Switch>
          <Match when={users.error}>
            <ErrorAlert error={users.error} retry={() => void refetch()} />
          </Match>
          <Match when={!current()}>
            <Loading label="Loading users…" />
          </Match>
          <Match when={current()?.total === 0}>
            <Empty title="No users match">Try another search or clear the filters.</Empty>
          </Match>
          <Match when={current()}>
            {(list) => (
              <>
                <ResponsiveTable label="Users">
                    <thead>
                      <tr>
                        <th scope="col">Email</th>
                        <th scope="col">Username</th>
                        <th scope="col">Role</th>
                        <th scope="col">Status</th>
                        <th scope="col">Last sign-in</th>
                        <th scope="col">Password</th>
                      </tr>
                    </thead>
                    <tbody>
                      <For each={list().data}>
                        {(u) => (
                          <tr>
                            <td class="users-email"><A href={`/users/${u.id}`}>{u.email}</A></td>
                            <td>{u.username}</td>
                            <td>{roleLabel(u.role)}</td>
                            <td class="users-badges">
                              {u.is_active ? <span class="badge ok">active</span> : <span class="badge bad">inactive</span>}
                              <Show when={isLocked(u)}> <span class="badge warn">locked</span></Show>
                            </td>
                            <td class="nowrap">{u.last_login_at ? formatDate(u.last_login_at) : 'never'}</td>
                            <td>{u.force_password_change ? <span class="badge warn">must change</span> : <span class="muted">—</span>}</td>
                          </tr>
                        )}
                      </For>
                    </tbody>

                </ResponsiveTable>
                <div class="users-pager">
                  <span class="muted" role="status">
                    {formatNumber(page().from)}–{formatNumber(page().to)} of {formatNumber(page().total)}
                  </span>
                  <div class="actions">
                    <button class="secondary small" type="button" disabled={query().offset === 0} onClick={() => move(-PAGE_SIZE)}>Previous</button>
                    <button class="secondary small" type="button" disabled={page().to >= page().total} onClick={() => move(PAGE_SIZE)}>Next</button>
                  </div>
                </div>
              </>
            )}
          </Match>
        </Switch>

        <Show when={props.roles.list()}>{(roles) => <RolesCard roles={roles()} />}</Show>
      </div>
    </section>
  )
}
