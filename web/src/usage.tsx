/**
 * Usage analytics shared by the overview and the analytics page: the summary from the server, kept current by its
 * live usage events, and the tiles, charts and tables that show it.
 */
import { createEffect, createResource, createSignal, For, Match, onCleanup, Show, Switch, type Accessor, type JSX } from 'solid-js'
import { api } from './api.ts'
import { niceNumber, TimeChart } from './chart.tsx'
import { follow } from './live.ts'
import { ResponsiveTable } from './table.tsx'
import { Segmented } from './tabs.tsx'
import { Card, ErrorAlert, formatMicros, formatMs, formatNumber, SkeletonBlock } from './ui.tsx'

export type Range = '1h' | '24h' | '7d' | '30d'
export type Scope = 'mine' | 'all'

export const RANGES: { value: Range; label: string; title: string }[] = [
  { value: '1h', label: '1 h', title: 'Last hour, by minute' },
  { value: '24h', label: '24 h', title: 'Last 24 hours, by hour' },
  { value: '7d', label: '7 d', title: 'Last 7 days, by 6 hours' },
  { value: '30d', label: '30 d', title: 'Last 30 days, by day' },
]

/** The period buttons shared by the overview and the analytics page. */
export function RangePicker(props: { value: Range; onChange: (r: Range) => void }) {
  return <Segmented label="Period" options={RANGES} value={props.value} onChange={props.onChange} />
}

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
const ms = formatMs
/** Chart values: dollars with enough digits for fractions of a cent. */
const dollars = (v: number) => (v === 0 ? '$0' : Math.abs(v) >= 0.01 ? `$${v.toFixed(2)}` : `$${Number(v.toPrecision(2))}`)
const millis = (v: number) => `${niceNumber(v)} ms`

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
  const bucket = () => props.summary.bucket_seconds
  return (
    <div class="grid charts">
      <Card title="Requests and errors">
        <TimeChart title="Requests and errors over time" unit="requests per bucket" bucketSeconds={bucket()} x={x()}
          series={[{ label: 'Requests', values: pick((p) => p.requests), format: niceNumber }, { label: 'Errors', values: pick((p) => p.errors), format: niceNumber }]} />
      </Card>
      <Card title="Tokens">
        <TimeChart title="Prompt and completion tokens over time" unit="tokens per bucket" bucketSeconds={bucket()} x={x()}
          series={[{ label: 'Prompt', values: pick((p) => p.prompt_tokens), format: niceNumber }, { label: 'Completion', values: pick((p) => p.completion_tokens), format: niceNumber }]} />
      </Card>
      <Card title="Cost">
        <TimeChart title="Cost over time" unit="US dollars per bucket" bucketSeconds={bucket()} x={x()} bars series={[{ label: 'Cost', values: pick((p) => p.cost_micros / 1e6), format: dollars }]} />
      </Card>
      <Card title="Latency">
        <TimeChart title="Latency p50 and p95 over time" unit="milliseconds" bucketSeconds={bucket()} x={x()}
          series={[{ label: 'p50', values: pick((p) => p.latency_p50_ms), format: millis }, { label: 'p95', values: pick((p) => p.latency_p95_ms), format: millis }]} />
      </Card>
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
    <Card title={props.title}>
      <Show when={props.rows.length > 0} fallback={<p class="muted">{props.empty}</p>}>
        <ResponsiveTable testid={props.testid} class="rank-table" label={props.title}>
          <thead>
            <tr><th scope="col">{props.label}</th><th scope="col" class="num">Requests</th><Show when={props.tokens}><th scope="col" class="num">Tokens</th></Show><th scope="col" class="num">Cost</th></tr>
          </thead>
          <tbody>
            <For each={props.rows}>
              {(row) => (
                <tr>
                  <td class="rank-name">{props.name(row)}</td>
                  <td class="num">{formatNumber(row.requests)}</td>
                  <Show when={props.tokens}><td class="num">{formatNumber(row.tokens ?? 0)}</td></Show>
                  <td class="num">{formatMicros(row.cost_micros)}</td>
                </tr>
              )}
            </For>
          </tbody>
        </ResponsiveTable>
      </Show>
    </Card>
  )
}

export function TopTables(props: { summary: Summary; sources?: boolean }) {
  return (
    <div class="grid">
      <RankCard title="Top models" testid="top-models" empty="No requests in this period." label="Model" tokens
        rows={props.summary.top_models} name={(m) => <>{m.model} <Show when={m.is_tee}><span class="badge ok" title="Served in a trusted execution environment">TEE</span></Show></>} />
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

/** The report's shape while it loads, so nothing moves when it arrives. */
function UsageSkeleton() {
  return (
    <div class="stack">
      <SkeletonBlock height="5.5rem" label="Loading usage…" />
      <div class="grid charts">
        <For each={[0, 1, 2, 3]}>{() => <SkeletonBlock height="19rem" />}</For>
      </div>
    </div>
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
      <Match when={props.usage.summary.loading}><UsageSkeleton /></Match>
    </Switch>
  )
}
