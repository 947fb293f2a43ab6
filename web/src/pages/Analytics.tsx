import { createSignal, Show } from 'solid-js'
import { useMe } from '../me.ts'
import { PageHeader } from '../ui.tsx'
import { createUsage, LiveBadge, RangePicker, UsageReport, type Range, type Scope } from '../usage.tsx'
import { DailyUsage } from './analytics/DailyUsage.tsx'

export default function Analytics() {
  const { can } = useMe()
  const [range, setRange] = createSignal<Range>('24h')
  const [scope, setScope] = createSignal<Scope>('mine')
  const usage = createUsage(range, scope)

  return (
    <section aria-labelledby="page-title" class="stack">
      <PageHeader title="Analytics" description="Requests, tokens, cost, errors and latency from the usage records, kept current as requests are made.">
        <LiveBadge live={usage.live()} />
      </PageHeader>
      <div class="toolbar">
        <RangePicker value={range()} onChange={setRange} />
        <Show when={can('analytics:read_all')}>
          <div class="field inline">
            <label class="sr-only" for="scope">Whose usage</label>
            <select id="scope" value={scope()} onChange={(e) => setScope(e.currentTarget.value as Scope)} style={{ width: 'auto' }}>
              <option value="mine">My usage</option>
              <option value="all">Everyone's usage</option>
            </select>
          </div>
        </Show>
      </div>
      <UsageReport usage={usage} sources />
      <DailyUsage />
    </section>
  )
}
