import { createSignal, Show } from 'solid-js'
import { useNavigate } from '@solidjs/router'
import { ApiError } from '../api.ts'
import { changePassword, user } from '../session.ts'

/** Forced after a first sign-in with a generated or admin-set password; also reachable at /change-password. */
export function ChangePassword() {
  const navigate = useNavigate()
  const [error, setError] = createSignal<string | null>(null)
  const [busy, setBusy] = createSignal(false)

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    const form = new FormData(e.currentTarget as HTMLFormElement)
    const current = String(form.get('current') ?? '')
    const next = String(form.get('new') ?? '')
    if (next !== String(form.get('confirm') ?? '')) {
      setError('The new passwords do not match.')
      return
    }
    setBusy(true)
    setError(null)
    try {
      await changePassword(current, next)
      navigate('/', { replace: true })
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Could not change the password. Try again.')
    } finally {
      setBusy(false)
    }
  }

  return (
    <div class="auth-page">
      <form class="card" onSubmit={submit} aria-labelledby="change-title">
        <div class="brand">Enclava</div>
        <h1 id="change-title">Change your password</h1>
        <Show when={user()?.force_password_change}>
          <p class="muted">You must choose a new password before you continue.</p>
        </Show>
        <Show when={error()}>
          <div class="alert error" role="alert">{error()}</div>
        </Show>
        <input type="text" name="username" autocomplete="username" value={user()?.email ?? ''} hidden aria-hidden="true" tabindex="-1" />
        <div class="field">
          <label for="current">Current password</label>
          <input id="current" name="current" type="password" autocomplete="current-password" required />
        </div>
        <div class="field">
          <label for="new">New password</label>
          <input id="new" name="new" type="password" autocomplete="new-password" required minlength="12" aria-describedby="new-hint" />
          <div class="hint" id="new-hint">At least 12 characters.</div>
        </div>
        <div class="field">
          <label for="confirm">Repeat the new password</label>
          <input id="confirm" name="confirm" type="password" autocomplete="new-password" required minlength="12" />
        </div>
        <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : 'Change password'}</button>
      </form>
    </div>
  )
}
