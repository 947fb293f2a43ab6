/**
 * The security events: newest first, filtered by severity, kind and address, loaded 50 at a time; exports are built
 * by the server from the same filters (every matching event, up to 10,000) and are themselves audited.
 */
import { createEffect, createSignal, For, on, Show } from 'solid-js'
import { api } from '../../api.ts'
import { Empty, ErrorAlert, Field, formatDate, formatNumber, Loading } from '../../ui.tsx'
import { download } from '../audit-log/download.ts'
import { actionLabel, eventSummary, SECURITY, SEVERITY_BADGE, type SecurityEvent, type Severity } from './types.ts'
import { ResponsiveTable } from '../../table.tsx'
import { ShieldCheck } from '../../icons.ts'

const PAGE = 50
const KINDS = [
  'security.ip_blocked',
  'security.ip_unblocked',
  'security.probe',
  'security.key_anomaly',
  'security.key_suspended',
  'security.key_reinstated',
  'security.dlp_redacted',
  'security.dlp_blocked',
  'security.injection_flagged',
  'security.confidentiality_refused',
  'security.settings_change',
  'auth.lockout',
  'gateway.fallback_left_tee',
]

export function SecurityEvents() {
  const [severity, setSeverity] = createSignal<Severity | ''>('')
  const [action, setAction] = createSignal('')
  const [ip, setIp] = createSignal('')
  const [items, setItems] = createSignal<SecurityEvent[]>([])
  const [total, setTotal] = createSignal<number | null>(null)
  const [error, setError] = createSignal<unknown>(null)
  const [exportError, setExportError] = createSignal<unknown>(null)

  const query = () => {
    const q = new URLSearchParams()
    if (severity()) q.set('severity', severity())
    if (action()) q.set('action', action())
    if (ip().trim()) q.set('ip', ip().trim())
    return q
  }

  async function load(offset: number) {
    setError(null)
    if (offset === 0) setTotal(null)
    const q = query()
    q.set('limit', String(PAGE))
    q.set('offset', String(offset))
    try {
      const page = await api<{ data: SecurityEvent[]; total: number }>('GET', `${SECURITY}/events?${q}`)
      setItems(offset === 0 ? page.data : [...items(), ...page.data])
      setTotal(page.total)
    } catch (e) {
      setError(e)
    }
  }
  createEffect(on([severity, action], () => void load(0)))

  async function exportAs(format: 'csv' | 'json') {
    setExportError(null)
    const q = query()
    q.set('format', format)
    try {
      await download(`${SECURITY}/events/export?${q}`, `security-events.${format}`)
    } catch (e) {
      setExportError(e)
    }
  }

  return (
    <section class="card stack" aria-labelledby="security-events">
      <div class="page-header">
        <h2 id="security-events">Events</h2>
        <div class="actions">
          <button class="secondary small" type="button" onClick={() => void exportAs('csv')}>Export CSV</button>
          <button class="secondary small" type="button" onClick={() => void exportAs('json')}>Export JSON</button>
        </div>
      </div>
      <Show when={exportError()}><ErrorAlert error={exportError()} /></Show>
      <form class="row" onSubmit={(e) => { e.preventDefault(); void load(0) }}>
        <Field label="Severity" for="sec-severity">
          <select id="sec-severity" value={severity()} onChange={(e) => setSeverity(e.currentTarget.value as Severity | '')}>
            <option value="">All</option>
            <option value="high">High</option>
            <option value="medium">Medium</option>
            <option value="low">Low</option>
          </select>
        </Field>
        <Field label="Kind" for="sec-kind">
          <select id="sec-kind" value={action()} onChange={(e) => setAction(e.currentTarget.value)}>
            <option value="">All</option>
            <For each={KINDS}>{(k) => <option value={k}>{actionLabel(k)}</option>}</For>
          </select>
        </Field>
        <Field label="Address" for="sec-ip">
          <input id="sec-ip" value={ip()} placeholder="203.0.113.7" onInput={(e) => setIp(e.currentTarget.value)} />
        </Field>
        <div><button type="submit" class="secondary">Filter</button></div>
      </form>
      <Show when={error()}><ErrorAlert error={error()} retry={() => void load(0)} /></Show>
      <Show when={total() !== null} fallback={<Show when={!error()}><Loading label="Loading events…" /></Show>}>
        <Show when={items().length > 0} fallback={<Empty title="No security events" icon={() => <ShieldCheck />}>Nothing matches these filters.</Empty>}>
          <p class="muted">{formatNumber(total() ?? 0)} events</p>
          <ResponsiveTable testid="security-events">
              <thead>
                <tr><th>When</th><th>Severity</th><th>Event</th><th>About</th><th>Address</th><th>Who</th></tr>
              </thead>
              <tbody>
                <For each={items()}>
                  {(e) => (
                    <tr>
                      <td>{formatDate(e.created_at)}</td>
                      <td><span class={`badge ${SEVERITY_BADGE[e.severity]}`}>{e.severity}</span></td>
                      <td>{actionLabel(e.action)}</td>
                      <td>{eventSummary(e)}</td>
                      <td>{e.ip ?? '—'}</td>
                      <td>{e.actor_email ?? e.actor_label ?? '—'}</td>
                    </tr>
                  )}
                </For>
              </tbody>

          </ResponsiveTable>
          <Show when={items().length < (total() ?? 0)}>
            <button class="secondary" type="button" onClick={() => void load(items().length)}>Load more</button>
          </Show>
        </Show>
      </Show>
    </section>
  )
}
