import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../api.ts'
import { useMe } from '../me.ts'
import { roleLabel } from '../me.ts'
import { Card, ErrorAlert, formatUsd, Loading, PageHeader } from '../ui.tsx'
import { createUsage, LiveBadge, RangePicker, RANGES, UsageReport, type Range } from '../usage.tsx'

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

export function Overview() {
  const { me, can } = useMe()
  // Provider health is for those who may use the models; asking without llm:use would only earn a 403.
  const [providers, { refetch: refetchProviders }] = createResource(
    () => can('llm:use') || undefined,
    () => api<{ data: ProviderHealth[] }>('GET', '/api-internal/v1/llm/providers/status').then((r) => r.data),
  )
  const [budgets, { refetch: refetchBudgets }] = createResource(
    () => can('api_keys:read') || undefined,
    () => api<{ data: Budget[] }>('GET', '/api-internal/v1/budgets').then((r) => r.data),
  )
  const [range, setRange] = createSignal<Range>('24h')
  const usage = createUsage(range, () => 'mine', () => {
    void refetchBudgets()
    void refetchProviders()
  })

  return (
    <section aria-labelledby="page-title" class="stack">
      <PageHeader title="Overview" description={`Your usage: ${RANGES.find((r) => r.value === range())?.title.toLowerCase()}.`}>
        <LiveBadge live={usage.live()} />
        <RangePicker value={range()} onChange={setRange} />
      </PageHeader>

      <UsageReport usage={usage} />

      <div class="grid">
        <Show when={can('api_keys:read')}>
          <Card title="Budget alerts" id="budgets-title">
            <Switch>
              <Match when={budgets.error}><ErrorAlert error={budgets.error} retry={() => void refetchBudgets()} /></Match>
              <Match when={budgets.latest && alerts(budgets.latest).length === 0}>
                <p class="muted" data-testid="budget-alerts-empty">No budget is near its limit. <A href="/budgets">Budgets</A></p>
              </Match>
              <Match when={budgets.latest}>
                {(list) => (
                  <ul class="alerts" data-testid="budget-alerts">
                    <For each={alerts(list())}>
                      {(b) => (
                        <li>
                          <strong>{b.name}</strong>{' '}
                          <span class={`badge ${b.used_pct >= 100 ? 'bad' : 'warn'}`}>{Math.round(b.used_pct)}%</span>
                          <span class="muted"> {formatUsd(b.spent_usd)} of {formatUsd(b.limit_usd)} spent</span>
                        </li>
                      )}
                    </For>
                  </ul>
                )}
              </Match>
              <Match when={true}><Loading lines={2} /></Match>
            </Switch>
          </Card>
        </Show>

        <Show when={can('llm:use')}>
          <Card title="Providers" id="providers-title">
            <Switch>
              <Match when={providers.error}><ErrorAlert error={providers.error} retry={() => void refetchProviders()} /></Match>
              <Match when={providers.latest?.length === 0}>
                <p class="muted" data-testid="providers-empty">No inference providers are configured.</p>
              </Match>
              <Match when={providers.latest}>
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
                          <Show when={p.last_error}><span class="muted small-text block">Last error: {p.last_error}</span></Show>
                        </li>
                      )}
                    </For>
                  </ul>
                )}
              </Match>
              <Match when={true}><Loading lines={2} /></Match>
            </Switch>
          </Card>
        </Show>

        <Card title="You" id="you-title">
          <Switch>
            <Match when={me.error}><ErrorAlert error={me.error} /></Match>
            <Match when={me.latest}>
              {(u) => (
                <dl data-testid="me">
                  <dt>Email</dt><dd>{u().email}</dd>
                  <dt>Username</dt><dd>{u().username}</dd>
                  <dt>Role</dt><dd>{roleLabel(u().role)}</dd>
                </dl>
              )}
            </Match>
            <Match when={true}><Loading lines={3} /></Match>
          </Switch>
        </Card>
      </div>
    </section>
  )
}
