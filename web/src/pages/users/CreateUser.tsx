import { createSignal, For, Show } from 'solid-js'
import { api, ApiError } from '../../api.ts'
import { ErrorAlert, Field } from '../../ui.tsx'
import { roleLabel } from './access.tsx'
import { USERS, type RoleInfo, type UserRecord } from './model.ts'

export type Created = UserRecord & { temporary_password: string | null }

/** New user: a blank password makes the server generate one (shown once); "must change" is on by default. */
export function CreateUser(props: { roles: RoleInfo[]; onCreated: (u: Created) => void; onCancel: () => void }) {
  const [error, setError] = createSignal<unknown>(null)
  const [busy, setBusy] = createSignal(false)
  const invalid = (param: string) => {
    const e = error()
    return e instanceof ApiError && e.param === param
  }

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    const form = new FormData(e.currentTarget as HTMLFormElement)
    const password = String(form.get('password') ?? '')
    const body = {
      email: String(form.get('email') ?? '').trim(),
      username: String(form.get('username') ?? '').trim(),
      role: String(form.get('role') ?? 'user'),
      force_password_change: form.get('force_password_change') === 'on',
      ...(password ? { password } : {}),
    }
    setBusy(true)
    setError(null)
    try {
      props.onCreated(await api<Created>('POST', USERS, { body }))
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form class="card" onSubmit={submit} aria-labelledby="create-title">
      <h2 id="create-title">New user</h2>
      <Show when={error()}>
        <ErrorAlert error={error()} />
      </Show>
      <div class="row">
        <Field label="Email" for="new-email">
          <input id="new-email" name="email" type="email" required maxlength="254" autocomplete="off" aria-invalid={invalid('email')} />
        </Field>
        <Field label="Username" for="new-username" hint="3–64 letters, digits, dots, dashes or underscores">
          <input id="new-username" name="username" required minlength="3" maxlength="64" pattern="[A-Za-z0-9_.\-]+" autocomplete="off"
            aria-describedby="new-username-hint" aria-invalid={invalid('username')} />
        </Field>
        <Field label="Role" for="new-role">
          <select id="new-role" name="role" aria-invalid={invalid('role')}>
            <For each={props.roles.filter((r) => r.assignable)}>
              {(r) => <option value={r.role} selected={r.role === 'user'}>{roleLabel(r.role)}</option>}
            </For>
          </select>
        </Field>
      </div>
      <Field label="Password (optional)" for="new-password" hint="At least 12 characters. Leave empty to generate one, shown once after creating.">
        <input id="new-password" name="password" type="password" minlength="12" maxlength="256" autocomplete="new-password"
          aria-describedby="new-password-hint" aria-invalid={invalid('password')} />
      </Field>
      <div class="field">
        <label class="users-check">
          <input type="checkbox" name="force_password_change" checked />
          Must change the password at first sign-in
        </label>
      </div>
      <div class="actions">
        <button class="secondary" type="button" onClick={() => props.onCancel()}>Cancel</button>
        <button type="submit" disabled={busy()}>{busy() ? 'Creating…' : 'Create user'}</button>
      </div>
    </form>
  )
}
