import { createSignal, Show } from 'solid-js'
import { changePassword, user } from '../../session.ts'
import { toast } from '../../toast.tsx'
import { createFormErrors, describedBy, ErrorAlert, Field } from '../../ui.tsx'

const MIN_LENGTH = 12

/** Current + new + repeat; every message (a wrong current password, the policy, a mismatch) beside its field. */
export function PasswordForm(props: { onChanged: () => void }) {
  const [done, setDone] = createSignal(false)
  const [busy, setBusy] = createSignal(false)
  const errors = createFormErrors({ current_password: 'Current password', new_password: 'New password', repeat_password: 'Repeat the new password' })
  const invalid = (k: 'current_password' | 'new_password' | 'repeat_password') => (errors.field(k) ? 'true' : undefined)

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    const form = e.currentTarget as HTMLFormElement
    const data = new FormData(form)
    const current = String(data.get('current_password') ?? '')
    const next = String(data.get('new_password') ?? '')
    setDone(false)
    errors.clear()
    if (next.length < MIN_LENGTH) return errors.set({ new_password: `The new password must be at least ${MIN_LENGTH} characters.` })
    if (next !== String(data.get('repeat_password') ?? '')) return errors.set({ repeat_password: 'The new passwords do not match.' })
    setBusy(true)
    try {
      await changePassword(current, next)
      form.reset()
      setDone(true)
      toast('Password changed; your other sessions were signed out')
      props.onChanged()
    } catch (err) {
      errors.take(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <form class="card" onSubmit={submit} aria-labelledby="password-title" novalidate>
      <h2 id="password-title">Change password</h2>
      <Show when={errors.general()}><ErrorAlert error={errors.general()} /></Show>
      <Show when={done()}>
        <p class="settings-ok" role="status">Your password is changed. Your other sessions were signed out.</p>
      </Show>
      {/* For password managers: which account this password belongs to. */}
      <input type="text" name="username" autocomplete="username" value={user()?.email ?? ''} hidden aria-hidden="true" tabindex="-1" />
      <Field label="Current password" for="current-password" error={errors.field('current_password')}>
        <input id="current-password" name="current_password" type="password" autocomplete="current-password" required maxlength="256"
          aria-invalid={invalid('current_password')} aria-describedby={describedBy('current-password', { error: errors.field('current_password') })} />
      </Field>
      <Field label="New password" for="new-password" hint={`At least ${MIN_LENGTH} characters, not your email or username.`} error={errors.field('new_password')}>
        <input id="new-password" name="new_password" type="password" autocomplete="new-password" required minlength={MIN_LENGTH} maxlength="256"
          aria-describedby={describedBy('new-password', { hint: true, error: errors.field('new_password') })} aria-invalid={invalid('new_password')} />
      </Field>
      <Field label="Repeat the new password" for="repeat-password" error={errors.field('repeat_password')}>
        <input id="repeat-password" name="repeat_password" type="password" autocomplete="new-password" required maxlength="256"
          aria-invalid={invalid('repeat_password')} aria-describedby={describedBy('repeat-password', { error: errors.field('repeat_password') })} />
      </Field>
      <div class="form-actions">
        <button type="submit" disabled={busy()}>{busy() ? 'Changing…' : 'Change password'}</button>
      </div>
    </form>
  )
}
