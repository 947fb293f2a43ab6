import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api } from '../../api.ts'
import { TimeChart } from '../../chart.tsx'
import { Empty, ErrorAlert, formatNumber, Loading } from '../../ui.tsx'
import { KEYS, type UsageDay } from './types.tsx'

const RANGES = [7, 30, 90] as const
/** Per-day costs are often fractions of a cent: two significant digits say more than "$0.00". */
const dollars = (v: number) => (v === 0 ? '$0' : Math.abs(v) < 0.01 ? `$${v.toPrecision(2)}` : `$${v.toFixed(2)}`)
const DAY_S = 86_400

interface Point {
  t: number
  requests: number
  prompt: number
  completion: number
  cost: number
}

/** One point per UTC day of the range, zero where the key was idle, all models summed. */
export function byDay(rows: UsageDay[], days: number, now = Date.now()): Point[] {
  const today = Math.floor(now / 1000 / DAY_S) * DAY_S
  const points = new Map<number, Point>()
  for (let i = days - 1; i >= 0; i--) {
    const t = today - i * DAY_S
    points.set(t, { t, requests: 0, prompt: 0, completion: 0, cost: 0 })
  }
  for (const r of rows) {
    const p = points.get(Date.parse(`${r.day}T00:00:00Z`) / 1000)
    if (!p) continue
    p.requests += r.requests
    p.prompt += r.prompt_tokens
    p.completion += r.completion_tokens
    p.cost += r.cost_usd
  }
  return [...points.values()]
}

/** The key's requests, tokens and cost per day, from `GET /api-keys/:id/usage/daily`. */
export function KeyUsage(props: { keyId: string }) {
  const [days, setDays] = createSignal<number>(30)
  const [usage, { refetch }] = createResource(
    () => ({ id: props.keyId, days: days() }),
    ({ id, days }) => api<{ data: UsageDay[] }>('GET', `${KEYS}/${id}/usage/daily?days=${days}`).then((r) => byDay(r.data, days)),
  )
  const x = () => (usage() ?? []).map((p) => p.t)
  const total = (f: (p: Point) => number) => (usage() ?? []).reduce((sum, p) => sum + f(p), 0)

  return (
    <section class="card stack" aria-labelledby="usage-title" aria-busy={usage.loading}>
      <div class="page-header">
        <h2 id="usage-title">Usage</h2>
        <p class="hint usage-note">Requests to models (chat, embeddings, chatbots, agents) from the usage records, per UTC day.</p>
        <div class="actions">
          <label class="inline-label" for="usage-range">Period</label>
          <select id="usage-range" class="compact" value={days()} onChange={(e) => setDays(Number(e.currentTarget.value))}>
            <For each={RANGES}>{(n) => <option value={n}>Last {n} days</option>}</For>
          </select>
        </div>
      </div>
      <Switch>
        <Match when={usage.error}><ErrorAlert error={usage.error} retry={refetch} /></Match>
        <Match when={usage.loading && !usage.latest}><Loading label="Loading usage…" /></Match>
        <Match when={usage.latest}>
          <dl class="totals" data-testid="usage-totals">
            <dt>Model requests</dt><dd>{formatNumber(total((p) => p.requests))}</dd>
            <dt>Tokens</dt><dd>{formatNumber(total((p) => p.prompt + p.completion))}</dd>
            <dt>Cost</dt><dd>{dollars(total((p) => p.cost))}</dd>
          </dl>
          <Show when={total((p) => p.requests) > 0} fallback={<Empty title={`No requests in the last ${days()} days`}>Requests made with this key appear here, per day.</Empty>}>
          <div class="usage-charts">
            <TimeChart title="Model requests per day" unit="requests per day" bucketSeconds={DAY_S} bars x={x()} series={[{ label: 'Requests', values: (usage() ?? []).map((p) => p.requests), format: formatNumber }]} />
            <TimeChart
              title="Tokens per day"
              unit="tokens per day"
              bucketSeconds={DAY_S}
              x={x()}
              series={[
                { label: 'Prompt tokens', values: (usage() ?? []).map((p) => p.prompt), format: formatNumber },
                { label: 'Completion tokens', values: (usage() ?? []).map((p) => p.completion), format: formatNumber },
              ]}
            />
            <TimeChart title="Cost per day" unit="US dollars per day" bucketSeconds={DAY_S} bars x={x()} series={[{ label: 'Cost', values: (usage() ?? []).map((p) => p.cost), format: dollars }]} />
          </div>
          </Show>
        </Match>
      </Switch>
    </section>
  )
}
