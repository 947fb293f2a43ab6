import { createResource, For, Match, Show, Switch } from 'solid-js'
import { api, ApiError } from '../api.ts'
import type { User } from '../session.ts'

interface ProviderHealth {
  name: string
  kind?: string
  confidential?: boolean
  circuit?: 'closed' | 'open' | 'half_open' | string
  consecutive_failures?: number
  last_error?: string | null
  last_success_at?: string | null
}

const message = (error: unknown) => (error instanceof ApiError ? error.message : 'Something went wrong while loading this.')

function circuitBadge(circuit: string | undefined) {
  if (circuit === 'closed') return <span class="badge ok">healthy</span>
  if (circuit === 'open') return <span class="badge bad">unavailable</span>
  if (circuit) return <span class="badge warn">{circuit.replace('_', ' ')}</span>
  return <span class="badge warn">unknown</span>
}

export function Overview() {
  const [me, { refetch: refetchMe }] = createResource(() => api<User>('GET', '/api-internal/v1/auth/me'))
  const [providers, { refetch: refetchProviders }] = createResource(() =>
    api<{ data: ProviderHealth[] }>('GET', '/api-internal/v1/llm/providers/status').then((r) => r.data),
  )

  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Overview</h1>
      <div class="grid">
        <div class="card" aria-labelledby="you-title" aria-busy={me.loading}>
          <h2 id="you-title">You</h2>
          <Switch>
            <Match when={me.error}>
              <div class="alert error" role="alert">{message(me.error)}</div>
              <button class="secondary" onClick={() => void refetchMe()}>Try again</button>
            </Match>
            <Match when={me.loading}><p class="muted" role="status">Loading…</p></Match>
            <Match when={me()}>
              {(u) => (
                <dl data-testid="me">
                  <dt>Email</dt><dd>{u().email}</dd>
                  <dt>Username</dt><dd>{u().username}</dd>
                  <dt>Role</dt><dd>{u().role.replace('_', ' ')}</dd>
                </dl>
              )}
            </Match>
          </Switch>
        </div>
        <div class="card" aria-labelledby="providers-title" aria-busy={providers.loading}>
          <h2 id="providers-title">Providers</h2>
          <Switch>
            <Match when={providers.error}>
              <div class="alert error" role="alert">{message(providers.error)}</div>
              <button class="secondary" onClick={() => void refetchProviders()}>Try again</button>
            </Match>
            <Match when={providers.loading}><p class="muted" role="status">Loading…</p></Match>
            <Match when={providers()?.length === 0}>
              <p class="muted" data-testid="providers-empty">No inference providers are configured.</p>
            </Match>
            <Match when={providers()}>
              {(list) => (
                <ul class="providers" data-testid="providers">
                  <For each={list()}>
                    {(p) => (
                      <li>
                        <strong>{p.name}</strong>
                        {circuitBadge(p.circuit)}
                        <Show when={p.confidential}><span class="badge ok">confidential</span></Show>
                        <Show when={p.last_error}><span class="muted">Last error: {p.last_error}</span></Show>
                      </li>
                    )}
                  </For>
                </ul>
              )}
            </Match>
          </Switch>
        </div>
      </div>
    </section>
  )
}
