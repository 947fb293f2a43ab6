import { createResource, For, Match, Show, Switch } from 'solid-js'
import { ApiError } from '../../api.ts'
import { ErrorAlert, Loading } from '../../ui.tsx'

interface Readiness {
  status: 'ready' | 'unavailable'
  checks: Record<string, string>
  plugin_sandbox: { up?: boolean; restarts?: number } | null
}

const CHECK_NAMES: Record<string, string> = { database: 'Database', migrations: 'Schema migrations', cache: 'Cache', accepting: 'Accepting requests' }

/** /health/ready answers 503 with the same body when not ready: both are facts to show, not errors. */
async function readiness(): Promise<Readiness> {
  let res: Response
  try {
    res = await fetch('/health/ready', { headers: { accept: 'application/json' } })
  } catch {
    throw new ApiError(0, 'Cannot reach the server. Check your connection and try again.', 'network_error')
  }
  const body = (await res.json().catch(() => null)) as Readiness | null
  if (!body?.checks) throw new ApiError(res.status, 'The server did not report its readiness.')
  return body
}

/** Read-only, non-secret facts about the platform, for administrators. */
export function Platform() {
  const [ready, { refetch }] = createResource(readiness)
  const current = () => (ready.error ? undefined : ready.latest)
  return (
    <div class="card" aria-labelledby="platform-title">
      <div class="page-header">
        <h2 id="platform-title">Platform</h2>
        <button class="secondary small" type="button" disabled={ready.loading} onClick={() => void refetch()}>Check again</button>
      </div>
      <Switch>
        <Match when={ready.error}><ErrorAlert error={ready.error} /></Match>
        <Match when={!current()}><Loading /></Match>
        <Match when={current()}>
          {(r) => (
            <dl data-testid="platform">
              <dt>Status</dt>
              <dd><span class={`badge ${r().status === 'ready' ? 'ok' : 'bad'}`}>{r().status}</span></dd>
              <For each={Object.entries(r().checks)}>
                {([name, value]) => (
                  <>
                    <dt>{CHECK_NAMES[name] ?? name}</dt>
                    <dd>
                      <span class={`badge ${value === 'ok' ? 'ok' : 'bad'}`}>{value === 'ok' ? 'ok' : value.split(':')[0]}</span>
                      <Show when={value !== 'ok' && value.includes(':')}> <span class="muted">{value.slice(value.indexOf(':') + 1).trim()}</span></Show>
                    </dd>
                  </>
                )}
              </For>
              <Show when={r().plugin_sandbox}>
                {(p) => (
                  <>
                    <dt>Plugin sandbox</dt>
                    <dd>
                      <span class={`badge ${p().up ? 'ok' : 'warn'}`}>{p().up ? 'up' : 'down'}</span>
                      <Show when={(p().restarts ?? 0) > 0}> <span class="muted">{p().restarts} restarts</span></Show>
                    </dd>
                  </>
                )}
              </Show>
            </dl>
          )}
        </Match>
      </Switch>
    </div>
  )
}
