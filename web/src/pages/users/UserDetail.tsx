import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A, useNavigate } from '@solidjs/router'
import { api, ApiError } from '../../api.ts'
import { BackLink, ConfirmButton, Empty, ErrorAlert, Field, formatDate, Loading } from '../../ui.tsx'
import { roleLabel, type Me } from './access.tsx'
import { TemporaryPassword } from './SecretOnce.tsx'
import type { RolesSource } from './UserList.tsx'
import { isLocked, USERS, type UserRecord } from './model.ts'

type Patch = Partial<Pick<UserRecord, 'email' | 'username' | 'role' | 'force_password_change' | 'confidential_only' | 'dlp_mode'>>

/** One user: profile and role, activation, password reset and deletion, each as the server's rules allow. */
export function UserDetail(props: { id: string; me: Me; roles: RolesSource; canManage: boolean; canAudit: boolean }) {
  const navigate = useNavigate()
  const [user, { refetch, mutate }] = createResource(
    () => props.id,
    (id) => api<UserRecord>('GET', `${USERS}/${encodeURIComponent(id)}`),
  )
  const current = () => (user.error ? undefined : user())
  const [saveError, setSaveError] = createSignal<unknown>(null)
  const [saved, setSaved] = createSignal<string | null>(null)
  const [busy, setBusy] = createSignal(false)
  const [accountError, setAccountError] = createSignal<unknown>(null)
  const [tempPassword, setTempPassword] = createSignal<string | null>(null)

  const notFound = () => user.error instanceof ApiError && (user.error.status === 404 || user.error.status === 400)
  const isSelf = () => current()?.id === props.me.id
  /** Mirrors the server: not yourself, and only a role you could grant (a super admin manages everyone). */
  const manageable = () => {
    const u = current()
    if (!u || !props.canManage || isSelf()) return false
    return props.roles.list()?.find((r) => r.role === u.role)?.assignable ?? false
  }
  const invalid = (param: string) => {
    const e = saveError()
    return e instanceof ApiError && e.param === param
  }

  async function save(e: SubmitEvent) {
    e.preventDefault()
    const u = current()
    if (!u) return
    const form = new FormData(e.currentTarget as HTMLFormElement)
    const next: Patch = {
      email: String(form.get('email') ?? '').trim(),
      username: String(form.get('username') ?? '').trim(),
      role: String(form.get('role') ?? u.role) as UserRecord['role'],
      force_password_change: form.get('force_password_change') === 'on',
      confidential_only: form.get('confidential_only') === 'on',
      dlp_mode: (String(form.get('dlp_mode') ?? '') || null) as UserRecord['dlp_mode'],
    }
    const patch = Object.fromEntries(Object.entries(next).filter(([k, v]) => u[k as keyof Patch] !== v)) as Patch
    setSaved(null)
    setSaveError(null)
    if (Object.keys(patch).length === 0) {
      setSaved('Nothing changed.')
      return
    }
    setBusy(true)
    try {
      mutate(await api<UserRecord>('PATCH', `${USERS}/${u.id}`, { body: patch }))
      setSaved('Changes saved.')
    } catch (err) {
      setSaveError(err)
    } finally {
      setBusy(false)
    }
  }

  async function setActive(active: boolean) {
    const u = current()
    if (!u) return
    mutate(await api<UserRecord>('POST', `${USERS}/${u.id}/${active ? 'activate' : 'deactivate'}`))
    setSaved(active ? 'The user is active again.' : 'The user is deactivated and signed out.')
  }

  async function resetPassword() {
    const u = current()
    if (!u) return
    const res = await api<{ temporary_password: string | null }>('POST', `${USERS}/${u.id}/reset-password`, { body: {} })
    setTempPassword(res.temporary_password)
    await refetch()
  }

  async function remove() {
    const u = current()
    if (!u) return
    await api('DELETE', `${USERS}/${u.id}`)
    navigate('/users', { replace: true })
  }

  /** The role picker: roles you can grant, plus the user's current one (shown, not selectable, if you cannot). */
  const roleOptions = (role: string) =>
    (props.roles.list() ?? []).filter((r) => r.assignable || r.role === role).map((r) => ({ role: r.role, disabled: !r.assignable }))

  return (
    <section aria-labelledby="page-title">
      <BackLink href="/users" label="All users" />
      <Switch>
        <Match when={notFound()}>
          <h1 id="page-title">User</h1>
          <Empty title="No such user">They may have been deleted, or the link is mistyped.</Empty>
        </Match>
        <Match when={user.error}>
          <h1 id="page-title">User</h1>
          <ErrorAlert error={user.error} retry={() => void refetch()} />
        </Match>
        <Match when={!current()}>
          <h1 id="page-title">User</h1>
          <Loading />
        </Match>
        <Match when={current()}>
          {(u) => (
            <div class="stack">
              <div class="page-header">
                <h1 id="page-title" class="users-title">{u().email}</h1>
                <span class={`badge ${u().is_active ? 'ok' : 'bad'}`} data-testid="user-status">{u().is_active ? 'active' : 'inactive'}</span>
                <Show when={isLocked(u())}><span class="badge warn">locked</span></Show>
              </div>
              <Show when={!manageable()}>
                <p class="muted" role="note">
                  {isSelf()
                    ? 'This is you. Nobody changes their own email, username, role or status: another administrator does. Your password, theme and sessions are under Settings.'
                    : props.canManage
                      ? `Your role cannot manage a ${roleLabel(u().role)}; this view is read-only.`
                      : 'Your role can see users but not change them; this view is read-only.'}
                </p>
              </Show>
              <Show when={saved()}><p class="users-saved" role="status">{saved()}</p></Show>
              <Show when={tempPassword()}>
                {(pw) => <TemporaryPassword password={pw()} who={u().email} onDismiss={() => setTempPassword(null)} />}
              </Show>

              <form class="card" onSubmit={save} aria-labelledby="profile-title">
                <h2 id="profile-title">Profile and role</h2>
                <Show when={saveError()}><ErrorAlert error={saveError()} /></Show>
                <fieldset class="users-fieldset" disabled={!manageable() || busy()}>
                  <div class="row">
                    <Field label="Email" for="user-email">
                      <input id="user-email" name="email" type="email" required maxlength="254" value={u().email} aria-invalid={invalid('email')} />
                    </Field>
                    <Field label="Username" for="user-username">
                      <input id="user-username" name="username" required minlength="3" maxlength="64" pattern="[A-Za-z0-9_.\-]+"
                        value={u().username} aria-invalid={invalid('username')} />
                    </Field>
                    <Field label="Role" for="user-role">
                      <select id="user-role" name="role" aria-invalid={invalid('role')}>
                        <For each={roleOptions(u().role)}>
                          {(r) => <option value={r.role} selected={r.role === u().role} disabled={r.disabled}>{roleLabel(r.role)}</option>}
                        </For>
                      </select>
                    </Field>
                  </div>
                  <div class="field">
                    <label class="users-check">
                      <input type="checkbox" name="force_password_change" checked={u().force_password_change} />
                      Must change the password at next sign-in
                    </label>
                  </div>
                  <div class="field">
                    <label class="users-check">
                      <input type="checkbox" name="confidential_only" checked={u().confidential_only} />
                      Confidential models only (everything this user does: keys, playground, chatbots, documents)
                    </label>
                  </div>
                  <Field label="Data-loss prevention" for="user-dlp">
                    <select id="user-dlp" name="dlp_mode">
                      <option value="" selected={u().dlp_mode === null}>The platform's setting</option>
                      <option value="off" selected={u().dlp_mode === 'off'}>Off</option>
                      <option value="redact" selected={u().dlp_mode === 'redact'}>Redact what is found</option>
                      <option value="block" selected={u().dlp_mode === 'block'}>Block the request</option>
                    </select>
                  </Field>
                  <Show when={manageable()}>
                    <div class="actions">
                      <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : 'Save changes'}</button>
                    </div>
                  </Show>
                </fieldset>
              </form>

              <div class="card" aria-labelledby="account-title">
                <h2 id="account-title">Account</h2>
                <Show when={accountError()}><ErrorAlert error={accountError()} /></Show>
                <dl>
                  <dt>Created</dt><dd>{formatDate(u().created_at)}</dd>
                  <dt>Last sign-in</dt><dd>{u().last_login_at ? formatDate(u().last_login_at) : 'never'}</dd>
                  <dt>Failed sign-ins</dt><dd>{u().failed_login_count}</dd>
                  <Show when={isLocked(u())}><dt>Locked until</dt><dd>{formatDate(u().locked_until)}</dd></Show>
                  <dt>User id</dt><dd><code>{u().id}</code></dd>
                </dl>
                <Show when={props.canAudit}>
                  <p>
                    <A href={`/audit-log?resource_type=user&resource_id=${u().id}`}>Audit events about this user</A>
                    {' · '}
                    <A href={`/audit-log?actor=${u().id}`}>Audit events by this user</A>
                  </p>
                </Show>
                <Show when={manageable()}>
                  <div class="actions users-danger">
                    <Show
                      when={u().is_active}
                      fallback={<button class="secondary small" type="button" onClick={() => (setAccountError(null), void setActive(true).catch(setAccountError))}>Activate</button>}
                    >
                      <ConfirmButton
                        label="Deactivate"
                        title={`Deactivate ${u().email}?`}
                        message="They are signed out at once, their API keys stop working, and they cannot sign in until someone activates the account again."
                        action={() => setActive(false)}
                      />
                    </Show>
                    <ConfirmButton
                      label="Reset password"
                      class="secondary small"
                      title={`Reset the password of ${u().email}?`}
                      message="A new password is generated and shown to you once. They are signed out everywhere and must change it at their next sign-in."
                      action={resetPassword}
                    />
                    <ConfirmButton
                      label="Delete user"
                      title={`Delete ${u().email}?`}
                      message="The account, its sessions, API keys and everything they own are deleted for good. The audit log keeps its records."
                      confirmLabel="Delete for good"
                      action={remove}
                    />
                  </div>
                </Show>
              </div>
            </div>
          )}
        </Match>
      </Switch>
    </section>
  )
}
