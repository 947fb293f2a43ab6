import { createSignal, Show } from 'solid-js'
import { useNavigate } from '@solidjs/router'
import { LogOut } from '../icons.ts'
import { changePassword, signOut, user } from '../session.ts'
import { Logo } from '../Shell.tsx'
import { createFormErrors, describedBy, ErrorAlert, Field } from '../ui.tsx'

/**
 * Forced after a first sign-in with a generated or admin-set password; also reachable at /change-password. Each
 * error is shown beside the field it is about; signing out is always possible (someone else's account, say).
 */
export function ChangePassword() {
  const navigate = useNavigate()
  const [busy, setBusy] = createSignal(false)
  const errors = createFormErrors({ current_password: 'Current password', new_password: 'New password', confirm: 'Repeat the new password' })

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    const form = new FormData(e.currentTarget as HTMLFormElement)
    const current = String(form.get('current') ?? '')
    const next = String(form.get('new') ?? '')
    if (next !== String(form.get('confirm') ?? '')) {
      errors.set({ confirm: 'The new passwords do not match.' })
      return
    }
    setBusy(true)
    errors.clear()
    try {
      await changePassword(current, next)
      navigate('/', { replace: true })
    } catch (err) {
      errors.take(err)
    } finally {
      setBusy(false)
    }
  }

  async function leave() {
    await signOut()
    navigate('/sign-in', { replace: true })
  }

  const invalid = (k: 'current_password' | 'new_password' | 'confirm') => (errors.field(k) ? 'true' : undefined)

  return (
    <div class="auth-page">
      <form class="card" onSubmit={submit} aria-labelledby="change-title" novalidate>
        <div class="brand"><Logo /><span>Enclava</span></div>
        <h1 id="change-title">Change your password</h1>
        <Show when={user()?.force_password_change}>
          <p class="muted">You must choose a new password before you continue.</p>
        </Show>
        <Show when={errors.general()}><ErrorAlert error={errors.general()} /></Show>
        <input type="text" name="username" autocomplete="username" value={user()?.email ?? ''} hidden aria-hidden="true" tabindex="-1" />
        <Field label="Current password" for="current" error={errors.field('current_password')}>
          <input id="current" name="current" type="password" autocomplete="current-password" required aria-invalid={invalid('current_password')}
            aria-describedby={describedBy('current', { error: errors.field('current_password') })} />
        </Field>
        <Field label="New password" for="new" hint="At least 12 characters, not your email or username." error={errors.field('new_password')}>
          <input id="new" name="new" type="password" autocomplete="new-password" required minlength="12" aria-invalid={invalid('new_password')}
            aria-describedby={describedBy('new', { hint: true, error: errors.field('new_password') })} />
        </Field>
        <Field label="Repeat the new password" for="confirm" error={errors.field('confirm')}>
          <input id="confirm" name="confirm" type="password" autocomplete="new-password" required minlength="12" aria-invalid={invalid('confirm')}
            aria-describedby={describedBy('confirm', { error: errors.field('confirm') })} />
        </Field>
        <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : 'Change password'}</button>
        <p class="auth-alt">
          Not you, or not now? <button type="button" class="ghost small" onClick={() => void leave()}><LogOut /> Sign out</button>
        </p>
      </form>
    </div>
  )
}
