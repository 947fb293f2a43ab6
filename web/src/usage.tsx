/**
 * Usage analytics shared by the overview and the analytics page: the summary from the server, kept current by its
 * live usage events, and the tiles, charts and tables that show it.
 */
import { createEffect, createResource, createSignal, For, Match, onCleanup, Show, Switch, type Accessor, type JSX } from 'solid-js'
import { api } from './api.ts'
import { TimeChart } from './chart.tsx'
import { follow } from './live.ts'
import { ErrorAlert, formatMicros, formatNumber, Loading } from './ui.tsx'

export type Range = '1h' | '24h' | '7d' | '30d'
export type Scope = 'mine' | 'all'

export interface Point {
  t: number
  requests: number
  errors: number
  prompt_tokens: number
  completion_tokens: number
  cost_micros: number
  latency_p50_ms: number | null
  latency_p95_ms: number | null
}

export interface Summary {
  range: Range
  bucket_seconds: number
  totals: Omit<Point, 't'> & { error_rate: number; tee_requests: number }
  series: Point[]
  top_models: { model: string; requests: number; tokens: number; cost_micros: number; is_tee: boolean }[]
  top_keys: { api_key_id: string; name: string | null; requests: number; tokens: number; cost_micros: number }[]
  by_source: { source: string; requests: number; cost_micros: number }[]
}

/** Reloads after a burst of usage events settles, not once per event. */
const RELOAD_DELAY_MS = 400

/** `alsoReload` refreshes whatever else the page shows that usage moves (budgets, provider health). */
export function createUsage(range: Accessor<Range>, scope: Accessor<Scope>, alsoReload: () => void = () => {}) {
  const [summary, { refetch }] = createResource(
    () => ({ range: range(), scope: scope() }),
    (q) => api<Summary>('GET', `/api-internal/v1/analytics/summary?range=${q.range}&scope=${q.scope}`),
  )
  const [live, setLive] = createSignal(false)
  let timer: ReturnType<typeof setTimeout> | undefined
  const reload = () => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      void refetch()
      alsoReload()
    }, RELOAD_DELAY_MS)
  }
  let stop = () => {}
  let followed: Scope | undefined
  // One stream per scope; switching scope reconnects.
  const watch = (s: Scope) => {
    if (followed === s) return
    stop()
    followed = s
    let first = true
    stop = follow(`/api-internal/v1/analytics/events?scope=${s}`, {
      onEvent: (e) => e.event === 'usage' && reload(),
      // A reconnection may have missed events: reload then (the first connection follows the initial load).
      onOpen: () => (first ? (first = false) : reload()),
      onState: setLive,
    })
  }
  createEffect(() => watch(scope()))
  onCleanup(() => {
    stop()
    clearTimeout(timer)
  })
  return { summary, refetch, live }
}

const percent = (x: number) => `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)}%`
const ms = (x: number | null) => (x === null ? '—' : `${Math.round(x)} ms`)

export function UsageTiles(props: { summary: Summary }) {
  const t = () => props.summary.totals
  const tiles = () => [
    { label: 'Requests', value: formatNumber(t().requests), id: 'requests' },
    { label: 'Tokens', value: formatNumber(t().prompt_tokens + t().completion_tokens), id: 'tokens' },
    { label: 'Cost', value: formatMicros(t().cost_micros), id: 'cost' },
    { label: 'Error rate', value: percent(t().error_rate), id: 'error-rate' },
    { label: 'Latency p95', value: ms(t().latency_p95_ms), id: 'latency' },
    { label: 'Confidential (TEE)', value: t().requests === 0 ? '—' : percent(t().tee_requests / t().requests), id: 'tee' },
  ]
  return (
    <dl class="tiles">
      <For each={tiles()}>
        {(tile) => (
          <div class="tile">
            <dt>{tile.label}</dt>
            <dd data-testid={`kpi-${tile.id}`}>{tile.value}</dd>
          </div>
        )}
      </For>
    </dl>
  )
}

export function UsageCharts(props: { summary: Summary }) {
  const x = () => props.summary.series.map((p) => p.t)
  const pick = (f: (p: Point) => number | null) => props.summary.series.map(f)
  return (
    <div class="grid charts">
      <div class="card">
        <h2>Requests and errors</h2>
        <TimeChart title="Requests and errors over time" x={x()} series={[{ label: 'requests', values: pick((p) => p.requests) }, { label: 'errors', values: pick((p) => p.errors) }]} />
      </div>
      <div class="card">
        <h2>Tokens</h2>
        <TimeChart title="Prompt and completion tokens over time" x={x()} series={[{ label: 'prompt', values: pick((p) => p.prompt_tokens) }, { label: 'completion', values: pick((p) => p.completion_tokens) }]} />
      </div>
      <div class="card">
        <h2>Cost</h2>
        <TimeChart title="Cost over time" x={x()} bars series={[{ label: 'cost', values: pick((p) => p.cost_micros / 1e6), format: (v) => (v === 0 ? '$0' : `$${v < 1 ? Number(v.toPrecision(2)) : v.toFixed(2)}`) }]} />
      </div>
      <div class="card">
        <h2>Latency</h2>
        <TimeChart title="Latency p50 and p95 over time" x={x()} series={[{ label: 'p50 ms', values: pick((p) => p.latency_p50_ms) }, { label: 'p95 ms', values: pick((p) => p.latency_p95_ms) }]} />
      </div>
    </div>
  )
}

interface Ranked {
  requests: number
  cost_micros: number
  tokens?: number
}

/** One ranking (models, keys, sources): a row per item with its requests, tokens when it has them, and cost. */
function RankCard<T extends Ranked>(props: {
  title: string
  testid: string
  empty: string
  label: string
  rows: T[]
  name: (row: T) => JSX.Element
  tokens?: boolean
}) {
  return (
    <div class="card">
      <h2>{props.title}</h2>
      <Show when={props.rows.length > 0} fallback={<p class="muted">{props.empty}</p>}>
        <div class="table-wrap">
          <table data-testid={props.testid}>
            <thead>
              <tr><th>{props.label}</th><th>Requests</th><Show when={props.tokens}><th>Tokens</th></Show><th>Cost</th></tr>
            </thead>
            <tbody>
              <For each={props.rows}>
                {(row) => (
                  <tr>
                    <td>{props.name(row)}</td>
                    <td>{formatNumber(row.requests)}</td>
                    <Show when={props.tokens}><td>{formatNumber(row.tokens ?? 0)}</td></Show>
                    <td>{formatMicros(row.cost_micros)}</td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </div>
      </Show>
    </div>
  )
}

export function TopTables(props: { summary: Summary; sources?: boolean }) {
  return (
    <div class="grid">
      <RankCard title="Top models" testid="top-models" empty="No requests in this period." label="Model" tokens
        rows={props.summary.top_models} name={(m) => <>{m.model} <Show when={m.is_tee}><span class="badge ok">TEE</span></Show></>} />
      <RankCard title="Top API keys" testid="top-keys" empty="No API key was used in this period." label="Key" tokens
        rows={props.summary.top_keys} name={(k) => <a href={`/api-keys/${k.api_key_id}`}>{k.name ?? 'deleted key'}</a>} />
      <Show when={props.sources}>
        <RankCard title="By source" testid="by-source" empty="No usage in this period." label="Source"
          rows={props.summary.by_source} name={(s) => s.source} />
      </Show>
    </div>
  )
}

export function LiveBadge(props: { live: boolean }) {
  return (
    <span class={`badge ${props.live ? 'ok' : 'warn'}`} role="status" data-testid="live">
      {props.live ? 'live' : 'reconnecting…'}
    </span>
  )
}

/** The whole report for a period: tiles, charts and tables, with loading and error states. */
export function UsageReport(props: { usage: ReturnType<typeof createUsage>; sources?: boolean }) {
  return (
    <Switch>
      <Match when={props.usage.summary.error}><ErrorAlert error={props.usage.summary.error} retry={() => void props.usage.refetch()} /></Match>
      <Match when={props.usage.summary()}>
        {(s) => (
          <>
            <UsageTiles summary={s()} />
            <UsageCharts summary={s()} />
            <TopTables summary={s()} sources={props.sources ?? false} />
          </>
        )}
      </Match>
      <Match when={props.usage.summary.loading}><Loading /></Match>
    </Switch>
  )
}
