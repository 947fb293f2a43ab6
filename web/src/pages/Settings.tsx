/**
 * The signed-in person's own account: who they are and what their role allows, their password, the theme, and
 * the sessions signed in as them. Administrators also see the platform's readiness (non-secret facts only).
 */
import { createSignal, For, Match, Show, Switch } from 'solid-js'
import { ErrorAlert, formatDate, Loading, PageHeader } from '../ui.tsx'
import { roleLabel, useMe } from './users/access.tsx'
import { permissionText } from './users/model.ts'
import { PasswordForm } from './settings/PasswordForm.tsx'
import { Platform } from './settings/Platform.tsx'
import { Sessions } from './settings/Sessions.tsx'
import { ThemeChoice } from './settings/ThemeChoice.tsx'
import { YourData } from './settings/YourData.tsx'
import './Settings.css'

export default function Settings() {
  const { me, refetch, can } = useMe()
  // A password change signs out the other sessions: the list is reloaded after it.
  const [changes, setChanges] = createSignal(0)
  return (
    <section aria-labelledby="page-title">
      <PageHeader title="Settings" />
      <div class="settings-grid">
        <div class="card" aria-labelledby="profile-title">
          <h2 id="profile-title">Profile</h2>
          <Switch>
            <Match when={me.error}><ErrorAlert error={me.error} retry={() => void refetch()} /></Match>
            <Match when={me.loading}><Loading /></Match>
            <Match when={me()}>
              {(u) => (
                <>
                  <dl data-testid="profile">
                    <dt>Email</dt><dd>{u().email}</dd>
                    <dt>Username</dt><dd>{u().username}</dd>
                    <dt>Role</dt><dd>{roleLabel(u().role)}</dd>
                    <dt>Member since</dt><dd>{formatDate(u().created_at)}</dd>
                    <dt>Last sign-in</dt><dd>{formatDate(u().last_login_at)}</dd>
                  </dl>
                  <details class="settings-permissions">
                    <summary>What your role may do ({u().permissions.length})</summary>
                    <ul>
                      <For each={u().permissions}>{(p) => <li>{permissionText(p)}</li>}</For>
                    </ul>
                  </details>
                  <p class="hint">
                    {can('users:manage')
                      ? 'Another administrator changes your email, username or role: nobody changes their own. Your password, theme and sessions are below.'
                      : 'An administrator changes your email, username or role. Your password, theme and sessions are below.'}
                  </p>
                </>
              )}
            </Match>
          </Switch>
        </div>
        <div class="card" aria-labelledby="appearance-title">
          <h2 id="appearance-title">Appearance</h2>
          <ThemeChoice />
        </div>
        <PasswordForm onChanged={() => setChanges(changes() + 1)} />
        <Sessions reload={changes()} />
        <Show when={can('settings:manage')}>
          <Platform />
        </Show>
        <YourData />
      </div>
    </section>
  )
}
