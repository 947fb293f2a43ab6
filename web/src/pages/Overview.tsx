import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../api.ts'
import type { User } from '../session.ts'
import { ErrorAlert, formatMicros, Loading, PageHeader } from '../ui.tsx'
import { createUsage, LiveBadge, UsageReport } from '../usage.tsx'

interface ProviderHealth {
  name: string
  kind?: string
  confidential?: boolean
  circuit?: 'closed' | 'open' | 'half_open' | string
  consecutive_failures?: number
  last_error?: string | null
}

interface Budget {
  id: string
  name: string
  limit_usd: number
  spent_usd: number
  reserved_usd: number
  used_pct: number
  warn_threshold_pct: number
  is_active: boolean
}

function circuitBadge(circuit: string | undefined) {
  if (circuit === 'closed') return <span class="badge ok">healthy</span>
  if (circuit === 'open') return <span class="badge bad">unavailable</span>
  if (circuit) return <span class="badge warn">{circuit.replace('_', ' ')}</span>
  return <span class="badge warn">unknown</span>
}

/** Budgets at or over their warning threshold, fullest first. */
function alerts(budgets: Budget[]) {
  return budgets.filter((b) => b.is_active && b.used_pct >= b.warn_threshold_pct).sort((a, b) => b.used_pct - a.used_pct)
}

const usd = (x: number) => formatMicros(Math.round(x * 1e6))

export function Overview() {
  const [me, { refetch: refetchMe }] = createResource(() => api<User>('GET', '/api-internal/v1/auth/me'))
  // Provider health is for those who may use the models; asking without llm:use would only earn a 403.
  const [providers, { refetch: refetchProviders }] = createResource(
    () => me()?.permissions?.includes('llm:use') || undefined,
    () => api<{ data: ProviderHealth[] }>('GET', '/api-internal/v1/llm/providers/status').then((r) => r.data),
  )
  const [budgets, { refetch: refetchBudgets }] = createResource(() => api<{ data: Budget[] }>('GET', '/api-internal/v1/budgets').then((r) => r.data))
  const [range] = createSignal<'24h'>('24h')
  const usage = createUsage(range, () => 'mine', () => {
    void refetchBudgets()
    void refetchProviders()
  })

  return (
    <section aria-labelledby="page-title" class="stack">
      <PageHeader title="Overview">
        <span class="muted">Your usage, last 24 hours</span>
        <LiveBadge live={usage.live()} />
      </PageHeader>

      <UsageReport usage={usage} />

      <div class="grid">
        <div class="card" aria-labelledby="budgets-title">
          <h2 id="budgets-title">Budget alerts</h2>
          <Switch>
            <Match when={budgets.error}><ErrorAlert error={budgets.error} retry={() => void refetchBudgets()} /></Match>
            <Match when={budgets() && alerts(budgets()!).length === 0}>
              <p class="muted" data-testid="budget-alerts-empty">No budget is near its limit. <A href="/budgets">Budgets</A></p>
            </Match>
            <Match when={budgets()}>
              <ul class="alerts" data-testid="budget-alerts">
                <For each={alerts(budgets()!)}>
                  {(b) => (
                    <li>
                      <strong>{b.name}</strong>{' '}
                      <span class={`badge ${b.used_pct >= 100 ? 'bad' : 'warn'}`}>{Math.round(b.used_pct)}%</span>
                      <span class="muted"> {usd(b.spent_usd + b.reserved_usd)} of {usd(b.limit_usd)}</span>
                    </li>
                  )}
                </For>
              </ul>
            </Match>
            <Match when={budgets.loading}><Loading /></Match>
          </Switch>
        </div>

        <Show when={me()?.permissions?.includes('llm:use')}>
        <div class="card" aria-labelledby="providers-title" aria-busy={providers.loading}>
          <h2 id="providers-title">Providers</h2>
          <Switch>
            <Match when={providers.error}><ErrorAlert error={providers.error} retry={() => void refetchProviders()} /></Match>
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
                        <Show when={p.confidential} fallback={<span class="badge warn">not confidential</span>}>
                          <span class="badge ok">confidential (TEE)</span>
                        </Show>
                        <Show when={p.last_error}><span class="muted">Last error: {p.last_error}</span></Show>
                      </li>
                    )}
                  </For>
                </ul>
              )}
            </Match>
            <Match when={providers.loading}><Loading /></Match>
          </Switch>
        </div>
        </Show>

        <div class="card" aria-labelledby="you-title" aria-busy={me.loading}>
          <h2 id="you-title">You</h2>
          <Switch>
            <Match when={me.error}><ErrorAlert error={me.error} retry={() => void refetchMe()} /></Match>
            <Match when={me.loading}><Loading /></Match>
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
      </div>
    </section>
  )
}
