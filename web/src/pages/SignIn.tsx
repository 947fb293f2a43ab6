import { createEffect, createSignal, Show } from 'solid-js'
import { useNavigate, useSearchParams } from '@solidjs/router'
import { ApiError } from '../api.ts'
import { signIn, status } from '../session.ts'

/** Only same-origin paths: `next` must not send the person to another site. */
function safeNext(next: unknown): string {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/sign-') ? next : '/'
}

export function SignIn() {
  const navigate = useNavigate()
  const [params] = useSearchParams()
  const [error, setError] = createSignal<string | null>(null)
  const [busy, setBusy] = createSignal(false)

  createEffect(() => {
    if (status() === 'signed-in') navigate(safeNext(params.next), { replace: true })
  })

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    const form = new FormData(e.currentTarget as HTMLFormElement)
    setBusy(true)
    setError(null)
    try {
      await signIn(String(form.get('email') ?? ''), String(form.get('password') ?? ''))
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Sign-in failed. Try again.')
    } finally {
      setBusy(false)
    }
  }

  return (
    <div class="auth-page">
      <form class="card" onSubmit={submit} aria-labelledby="sign-in-title">
        <div class="brand">Enclava</div>
        <h1 id="sign-in-title">Sign in</h1>
        <Show when={error()}>
          <div class="alert error" role="alert">{error()}</div>
        </Show>
        <div class="field">
          <label for="email">Email</label>
          <input id="email" name="email" type="email" autocomplete="username" required />
        </div>
        <div class="field">
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete="current-password" required />
        </div>
        <button type="submit" disabled={busy()}>{busy() ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </div>
  )
}
