import { Match, Switch, type ParentProps } from 'solid-js'
import { Navigate, useLocation } from '@solidjs/router'
import { status, user } from './session.ts'

/**
 * Everything behind sign-in. Restoring shows a short notice; signed out goes to /sign-in (remembering where the
 * person was going); a user who must change their password sees nothing else until they have.
 */
export function Guard(props: ParentProps) {
  const location = useLocation()
  const next = () => encodeURIComponent(location.pathname + location.search)
  return (
    <Switch>
      <Match when={status() === 'restoring'}>
        <p class="auth-page muted" role="status">Loading…</p>
      </Match>
      <Match when={status() === 'signed-out'}>
        <Navigate href={location.pathname === '/' ? '/sign-in' : `/sign-in?next=${next()}`} />
      </Match>
      <Match when={user()?.force_password_change && location.pathname !== '/change-password'}>
        <Navigate href="/change-password" />
      </Match>
      <Match when={true}>{props.children}</Match>
    </Switch>
  )
}
