import { createResource, createSignal, For, Show } from 'solid-js'
import { api } from '../api.ts'
import type { User } from '../session.ts'
import { PageHeader } from '../ui.tsx'
import { createUsage, LiveBadge, UsageReport, type Range, type Scope } from '../usage.tsx'

const RANGES: { value: Range; label: string }[] = [
  { value: '1h', label: 'Last hour' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
  { value: '30d', label: 'Last 30 days' },
]

export default function Analytics() {
  const [me] = createResource(() => api<User>('GET', '/api-internal/v1/auth/me'))
  const [range, setRange] = createSignal<Range>('24h')
  const [scope, setScope] = createSignal<Scope>('mine')
  const usage = createUsage(range, scope)
  const canSeeAll = () => me()?.permissions?.includes('analytics:read_all') ?? false

  return (
    <section aria-labelledby="page-title" class="stack">
      <PageHeader title="Analytics">
        <LiveBadge live={usage.live()} />
      </PageHeader>
      <div class="row filters">
        <div class="field">
          <label for="range">Period</label>
          <select id="range" value={range()} onChange={(e) => setRange(e.currentTarget.value as Range)}>
            <For each={RANGES}>{(r) => <option value={r.value}>{r.label}</option>}</For>
          </select>
        </div>
        <Show when={canSeeAll()}>
          <div class="field">
            <label for="scope">Whose usage</label>
            <select id="scope" value={scope()} onChange={(e) => setScope(e.currentTarget.value as Scope)}>
              <option value="mine">Mine</option>
              <option value="all">Everyone's</option>
            </select>
          </div>
        </Show>
      </div>
      <UsageReport usage={usage} sources />
    </section>
  )
}
