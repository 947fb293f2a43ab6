/**
 * One's own usage by day and model (`GET /llm/usage?days=N`: every key of one's own and the playground, from the
 * usage records): a stacked chart of cost per day and model, and the table behind it, newest day first.
 */
import { createMemo, createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api } from '../../api.ts'
import { TimeChart } from '../../chart.tsx'
import { useMe } from '../../me.ts'
import { ResponsiveTable } from '../../table.tsx'
import { Segmented } from '../../tabs.tsx'
import { Card, Empty, ErrorAlert, formatNumber, formatUsd, Loading } from '../../ui.tsx'
import { BarChart } from '../../icons.ts'

interface UsageDay {
  day: string
  model: string
  requests: number
  errors: number
  prompt_tokens: number
  completion_tokens: number
  cost_usd: number
}

const PERIODS = [
  { value: '7', label: '7 days' },
  { value: '30', label: '30 days' },
  { value: '90', label: '90 days' },
] as const
type Days = (typeof PERIODS)[number]['value']
const DAY_S = 86_400

export function DailyUsage() {
  const { can } = useMe()
  const [days, setDays] = createSignal<Days>('30')
  const [rows, { refetch }] = createResource(
    () => (can('llm:use') ? days() : false),
    (d) => api<{ data: UsageDay[] }>('GET', `/api-internal/v1/llm/usage?days=${d}`).then((r) => r.data),
  )
  /** One point per UTC day of the period, each model a series of its requests. */
  const chart = createMemo(() => {
    const list = rows.latest ?? []
    const n = Number(days())
    const today = Math.floor(Date.now() / 1000 / DAY_S) * DAY_S
    const x = Array.from({ length: n }, (_, i) => today - (n - 1 - i) * DAY_S)
    const models = [...new Set(list.map((r) => r.model))].slice(0, 5)
    const series = models.map((model) => ({
      label: model,
      values: x.map((t) => list.filter((r) => r.model === model && Date.parse(`${r.day}T00:00:00Z`) / 1000 === t).reduce((s, r) => s + r.requests, 0)),
      format: formatNumber,
    }))
    return { x, series }
  })
  const newestFirst = () => [...(rows.latest ?? [])].sort((a, b) => b.day.localeCompare(a.day) || a.model.localeCompare(b.model))
  const total = (f: (r: UsageDay) => number) => (rows.latest ?? []).reduce((s, r) => s + f(r), 0)

  return (
    <Show when={can('llm:use')}>
      <Card title="Your usage by day and model" testid="daily-usage" actions={<Segmented label="Days" options={PERIODS} value={days()} onChange={setDays} />}>
        <Switch>
          <Match when={rows.error}><ErrorAlert error={rows.error} retry={() => void refetch()} /></Match>
          <Match when={!rows.latest}><Loading /></Match>
          <Match when={rows.latest?.length === 0}>
            <Empty title={`No requests in the last ${days()} days`} icon={() => <BarChart />}>Requests with your keys and in the playground appear here, per day and model.</Empty>
          </Match>
          <Match when={rows.latest}>
            <p class="muted">
              {formatNumber(total((r) => r.requests))} requests, {formatNumber(total((r) => r.prompt_tokens + r.completion_tokens))} tokens,{' '}
              {formatUsd(total((r) => r.cost_usd))} in the last {days()} days (UTC days).
            </p>
            <TimeChart title="Requests per day by model" unit="requests per day" bucketSeconds={DAY_S} bars={chart().series.length === 1} x={chart().x} series={chart().series} />
            <ResponsiveTable label="Usage by day and model" testid="daily-usage-table">
              <thead>
                <tr>
                  <th scope="col">Day</th><th scope="col">Model</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Errors</th>
                  <th scope="col" class="num">Prompt tokens</th><th scope="col" class="num">Completion tokens</th><th scope="col" class="num">Cost</th>
                </tr>
              </thead>
              <tbody>
                <For each={newestFirst()}>
                  {(r) => (
                    <tr>
                      <td class="nowrap">{r.day}</td>
                      <td><code>{r.model}</code></td>
                      <td class="num">{formatNumber(r.requests)}</td>
                      <td class="num">{formatNumber(r.errors)}</td>
                      <td class="num">{formatNumber(r.prompt_tokens)}</td>
                      <td class="num">{formatNumber(r.completion_tokens)}</td>
                      <td class="num">{formatUsd(r.cost_usd)}</td>
                    </tr>
                  )}
                </For>
              </tbody>
            </ResponsiveTable>
          </Match>
        </Switch>
      </Card>
    </Show>
  )
}
