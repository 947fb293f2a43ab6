import { onMount } from 'solid-js'
import { useNavigate } from '@solidjs/router'
import { signOut } from '../session.ts'

/** /sign-out: ends the session (server and cookies) and returns to sign-in. */
export function SignOut() {
  const navigate = useNavigate()
  onMount(async () => {
    await signOut()
    navigate('/sign-in', { replace: true })
  })
  return <p class="auth-page muted" role="status">Signing out…</p>
}
