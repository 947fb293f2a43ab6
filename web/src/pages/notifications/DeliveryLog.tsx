/**
 * The delivery log: every delivery of your channels (or the platform-wide ones), newest first, with its status,
 * attempts, the receiver's answer or the error, and when the next attempt is due. A failed one can be queued again.
 * Refreshed every few seconds while it is on screen.
 */
import { createEffect, createResource, createSignal, For, Match, on, onCleanup, Show, Switch } from 'solid-js'
import { api } from '../../api.ts'
import { ResponsiveTable } from '../../table.tsx'
import { Badge, Empty, ErrorAlert, formatDate, Loading } from '../../ui.tsx'
import { toast } from '../../toast.tsx'
import { N, type Delivery, type Scope } from './types.ts'

const TONE: Record<string, 'ok' | 'warn' | 'bad' | 'accent'> = { delivered: 'ok', failed: 'bad', pending: 'warn', delivering: 'accent' }

export function DeliveryLog(props: { scope: Scope; reload?: number }) {
  const [status, setStatus] = createSignal('')
  const [log, { refetch }] = createResource(
    () => ({ scope: props.scope, status: status() }),
    (q) => api<{ data: Delivery[]; total: number }>('GET', `${N}/deliveries?scope=${q.scope}&limit=50${q.status ? `&status=${q.status}` : ''}`),
  )
  createEffect(on(() => props.reload, () => void refetch(), { defer: true }))
  const timer = setInterval(() => void refetch(), 5_000)
  onCleanup(() => clearInterval(timer))
  const [error, setError] = createSignal<unknown>(null)
  async function retry(d: Delivery) {
    setError(null)
    try {
      await api('POST', `${N}/deliveries/${d.id}/retry`)
      toast('Queued again')
      void refetch()
    } catch (err) {
      setError(err)
    }
  }
  return (
    <section class="card stack" aria-labelledby={`deliveries-${props.scope}`} data-testid={`deliveries-${props.scope}`}>
      <div class="card-head">
        <h2 id={`deliveries-${props.scope}`}>Delivery log</h2>
        <div class="actions">
          <label class="sr-only" for={`deliveries-status-${props.scope}`}>Status</label>
          <select id={`deliveries-status-${props.scope}`} value={status()} onChange={(e) => setStatus(e.currentTarget.value)} aria-label="Status">
            <option value="">Every status</option>
            <option value="delivered">Delivered</option>
            <option value="pending">Waiting to retry</option>
            <option value="failed">Failed</option>
          </select>
          <button type="button" class="secondary small" onClick={() => void refetch()}>Refresh</button>
        </div>
      </div>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <Switch>
        <Match when={log.error}><ErrorAlert error={log.error} retry={refetch} /></Match>
        <Match when={!log.latest}><Loading label="Loading deliveries…" /></Match>
        <Match when={log.latest!.data.length === 0}><Empty title="Nothing delivered yet">Deliveries of the channels above appear here, with their outcome.</Empty></Match>
        <Match when={log.latest}>
          {(page) => (
            <ResponsiveTable label="Deliveries">
              <thead><tr><th>Event</th><th>Channel</th><th>Status</th><th>Attempts</th><th>Answer or error</th><th>When</th><th><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                <For each={page().data}>
                  {(d) => (
                    <tr>
                      <td><strong>{d.event.title}</strong><div class="muted small-text">{d.event.type}</div></td>
                      <td>{d.channel.name} <span class="muted small-text">({d.channel.type})</span></td>
                      <td><Badge tone={TONE[d.status] ?? 'warn'}>{d.status}</Badge></td>
                      <td>{d.attempts}</td>
                      <td class="admin-target">
                        {d.last_error ?? (d.response_status ? `answered ${d.response_status}` : '—')}
                        <Show when={d.next_attempt_at}><div class="muted small-text">next attempt {formatDate(d.next_attempt_at)}</div></Show>
                      </td>
                      <td class="small-text">{formatDate(d.delivered_at ?? d.updated_at)}</td>
                      <td>
                        <Show when={d.status === 'failed'}>
                          <button type="button" class="secondary small" onClick={() => void retry(d)}>Retry</button>
                        </Show>
                      </td>
                    </tr>
                  )}
                </For>
              </tbody>
            </ResponsiveTable>
          )}
        </Match>
      </Switch>
    </section>
  )
}
