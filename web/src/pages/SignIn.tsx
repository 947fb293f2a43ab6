import { createEffect, createResource, createSignal, Match, Show, Switch } from 'solid-js'
import { useNavigate, useSearchParams } from '@solidjs/router'
import { ApiError } from '../api.ts'
import { AlertCircle } from '../icons.ts'
import { registrationOpen, signIn, signUp, status } from '../session.ts'
import { Logo } from '../Shell.tsx'
import { createFormErrors, describedBy, Field } from '../ui.tsx'

/** Only same-origin paths: `next` must not send the person to another site. */
function safeNext(next: unknown): string {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/sign-') ? next : '/'
}

/** Sign-in, and, when the server allows self-registration, creating an account (`/sign-in?mode=register`). */
export function SignIn() {
  const navigate = useNavigate()
  const [params, setParams] = useSearchParams()
  const [error, setError] = createSignal<string | null>(null)
  const [busy, setBusy] = createSignal(false)
  const [open] = createResource(registrationOpen)
  const registering = () => params.mode === 'register' && open() === true
  const errors = createFormErrors({ email: 'Email', username: 'Username', password: 'Password' })

  createEffect(() => {
    if (status() === 'signed-in') navigate(safeNext(params.next), { replace: true })
  })

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    const form = new FormData(e.currentTarget as HTMLFormElement)
    const email = String(form.get('email') ?? '')
    const password = String(form.get('password') ?? '')
    setBusy(true)
    setError(null)
    errors.clear()
    try {
      if (registering()) {
        if (password !== String(form.get('repeat') ?? '')) {
          errors.set({ password: 'The passwords do not match.' })
          return
        }
        await signUp(email, String(form.get('username') ?? ''), password)
      } else await signIn(email, password)
    } catch (err) {
      if (registering() && err instanceof ApiError && err.param) errors.take(err)
      else setError(err instanceof ApiError ? err.message : 'Sign-in failed. Try again.')
    } finally {
      setBusy(false)
    }
  }

  const switchTo = (mode: 'register' | null) => {
    setError(null)
    errors.clear()
    setParams({ mode })
  }

  return (
    <div class="auth-page">
      <form class="card" onSubmit={submit} aria-labelledby="sign-in-title">
        <div class="brand"><Logo /><span>Enclava</span></div>
        <h1 id="sign-in-title">{registering() ? 'Create an account' : 'Sign in'}</h1>
        <Show when={error()}>
          <div class="alert error" role="alert"><AlertCircle /><span class="alert-body">{error()}</span></div>
        </Show>
        <Field label="Email" for="email" error={errors.field('email')}>
          <input id="email" name="email" type="email" autocomplete="username" required aria-invalid={errors.field('email') ? 'true' : undefined} aria-describedby={describedBy('email', { error: errors.field('email') })} />
        </Field>
        <Show when={registering()}>
          <Field label="Username" for="username" error={errors.field('username')}>
            <input id="username" name="username" autocomplete="nickname" required aria-invalid={errors.field('username') ? 'true' : undefined} aria-describedby={describedBy('username', { error: errors.field('username') })} />
          </Field>
        </Show>
        <Field label="Password" for="password" hint={registering() ? 'At least 12 characters, not your email or username.' : undefined} error={errors.field('password')}>
          <input id="password" name="password" type="password" autocomplete={registering() ? 'new-password' : 'current-password'} required
            aria-invalid={errors.field('password') ? 'true' : undefined} aria-describedby={describedBy('password', { hint: registering(), error: errors.field('password') })} />
        </Field>
        <Show when={registering()}>
          <Field label="Repeat the password" for="repeat">
            <input id="repeat" name="repeat" type="password" autocomplete="new-password" required />
          </Field>
        </Show>
        <button type="submit" disabled={busy()}>
          {busy() ? (registering() ? 'Creating…' : 'Signing in…') : registering() ? 'Create account' : 'Sign in'}
        </button>
        <Switch>
          <Match when={registering()}>
            <p class="auth-alt">Have an account? <a href="/sign-in" onClick={(e) => { e.preventDefault(); switchTo(null) }}>Sign in</a></p>
          </Match>
          <Match when={open()}>
            <p class="auth-alt">New here? <a href="/sign-in?mode=register" onClick={(e) => { e.preventDefault(); switchTo('register') }}>Create an account</a></p>
          </Match>
        </Switch>
      </form>
    </div>
  )
}
