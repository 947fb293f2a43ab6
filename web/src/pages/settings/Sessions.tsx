import { createResource, For, Match, Show, Switch } from 'solid-js'
import { api } from '../../api.ts'
import { ConfirmButton, ErrorAlert, formatDate, Loading } from '../../ui.tsx'

interface Session {
  id: string
  created_at: string
  expires_at: string
  last_active_at: string
  ip: string | null
  user_agent: string | null
  current: boolean
}

const SESSIONS = '/api-internal/v1/auth/sessions'

/** "Chrome on Linux" from a user agent; the order matters (Edge and Chrome also claim Safari). */
export function describeAgent(ua: string | null): string {
  if (!ua) return 'Unknown device'
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : null
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : null
  if (browser && os) return `${browser} on ${os}`
  return browser ?? os ?? ua.slice(0, 60)
}

/** Your sign-ins that are still live; any but this one can be ended here. */
export function Sessions(props: { reload: number }) {
  const [sessions, { refetch }] = createResource(
    () => props.reload + 1,
    () => api<{ data: Session[] }>('GET', SESSIONS).then((r) => r.data),
  )
  const list = () => (sessions.error ? undefined : sessions.latest)
  const others = () => (list() ?? []).filter((s) => !s.current).length

  async function revoke(id: string) {
    await api('DELETE', `${SESSIONS}/${id}`)
    await refetch()
  }
  async function revokeOthers() {
    await api('POST', `${SESSIONS}/revoke-others`)
    await refetch()
  }

  return (
    <div class="card" aria-labelledby="sessions-title">
      <div class="page-header">
        <h2 id="sessions-title">Active sessions</h2>
        <Show when={others() > 0}>
          <ConfirmButton
            label="Sign out all other sessions"
            class="secondary small"
            title="Sign out all other sessions?"
            message="Every other browser or device signed in as you is signed out at once. This one stays signed in."
            confirmLabel="Sign them out"
            action={revokeOthers}
          />
        </Show>
      </div>
      <Switch>
        <Match when={sessions.error}>
          <ErrorAlert error={sessions.error} retry={() => void refetch()} />
        </Match>
        <Match when={!list()}>
          <Loading label="Loading sessions…" />
        </Match>
        <Match when={list()}>
          {(items) => (
            <ul class="settings-sessions" aria-busy={sessions.loading}>
              <For each={items()}>
                {(s) => (
                  <li>
                    <div>
                      <strong title={s.user_agent ?? undefined}>{describeAgent(s.user_agent)}</strong>{' '}
                      <Show when={s.current}><span class="badge ok">current session</span></Show>
                      <div class="muted">
                        {s.ip ?? 'unknown IP'} · signed in {formatDate(s.created_at)} · last active {formatDate(s.last_active_at)}
                      </div>
                    </div>
                    <Show when={!s.current}>
                      <ConfirmButton
                        label="Sign out"
                        title="Sign out this session?"
                        message={`${describeAgent(s.user_agent)} (${s.ip ?? 'unknown IP'}), signed in ${formatDate(s.created_at)}, is signed out at once.`}
                        action={() => revoke(s.id)}
                      />
                    </Show>
                  </li>
                )}
              </For>
            </ul>
          )}
        </Match>
      </Switch>
    </div>
  )
}
