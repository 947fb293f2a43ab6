import { createSignal, Show } from 'solid-js'
import { ApiError } from '../../api.ts'
import { changePassword, user } from '../../session.ts'
import { ErrorAlert, Field } from '../../ui.tsx'

const MIN_LENGTH = 12

/** Current + new + repeat; the server's message (wrong current password, policy) is shown above the fields. */
export function PasswordForm(props: { onChanged: () => void }) {
  const [error, setError] = createSignal<unknown>(null)
  const [problem, setProblem] = createSignal<string | null>(null)
  const [done, setDone] = createSignal(false)
  const [busy, setBusy] = createSignal(false)
  const invalid = (param: string) => {
    const e = error()
    return e instanceof ApiError && e.param === param
  }

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    const form = e.currentTarget as HTMLFormElement
    const data = new FormData(form)
    const current = String(data.get('current_password') ?? '')
    const next = String(data.get('new_password') ?? '')
    setDone(false)
    setError(null)
    setProblem(null)
    if (next !== String(data.get('repeat_password') ?? '')) return setProblem('The new passwords do not match.')
    if (next.length < MIN_LENGTH) return setProblem(`The new password must be at least ${MIN_LENGTH} characters.`)
    setBusy(true)
    try {
      await changePassword(current, next)
      form.reset()
      setDone(true)
      props.onChanged()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form class="card" onSubmit={submit} aria-labelledby="password-title">
      <h2 id="password-title">Change password</h2>
      <Show when={problem()}><div class="alert error" role="alert">{problem()}</div></Show>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <Show when={done()}>
        <p class="settings-ok" role="status">Your password is changed. Your other sessions were signed out.</p>
      </Show>
      {/* For password managers: which account this password belongs to. */}
      <input type="text" name="username" autocomplete="username" value={user()?.email ?? ''} hidden aria-hidden="true" tabindex="-1" />
      <Field label="Current password" for="current-password">
        <input id="current-password" name="current_password" type="password" autocomplete="current-password" required maxlength="256"
          aria-invalid={invalid('current_password')} />
      </Field>
      <Field label="New password" for="new-password" hint={`At least ${MIN_LENGTH} characters, not your email or username.`}>
        <input id="new-password" name="new_password" type="password" autocomplete="new-password" required minlength={MIN_LENGTH} maxlength="256"
          aria-describedby="new-password-hint" aria-invalid={invalid('new_password') || problem() !== null} />
      </Field>
      <Field label="Repeat the new password" for="repeat-password">
        <input id="repeat-password" name="repeat_password" type="password" autocomplete="new-password" required maxlength="256"
          aria-invalid={problem() !== null} />
      </Field>
      <div class="actions">
        <button type="submit" disabled={busy()}>{busy() ? 'Changing…' : 'Change password'}</button>
      </div>
    </form>
  )
}
