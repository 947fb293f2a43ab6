/**
 * The audit log: who did what, when, from where, and whether it worked. Filters live in the URL (a filtered view
 * can be shared, and the detail view's back link keeps them); the list loads 50 at a time with "Load more".
 * Exports are built by the server (`/audit/export`, CSV or JSON) from the same filters, so the file holds every
 * matching event (up to 10,000), not just the rows loaded on screen, and the export itself is audited.
 */
import { createEffect, createMemo, createSignal, For, Match, on, onCleanup, Show, Switch } from 'solid-js'
import { A, useLocation, useParams, useSearchParams } from '@solidjs/router'
import { api } from '../api.ts'
import { Empty, ErrorAlert, formatDate, formatNumber, Loading, PageHeader } from '../ui.tsx'
import { isDenied, NoPermission, useMe } from './users/access.tsx'
import { AuditFilters } from './audit-log/Filters.tsx'
import { EventDetail } from './audit-log/EventDetail.tsx'
import { download } from './audit-log/download.ts'
import { actorName, apiQuery, filterProblem, OUTCOME_BADGE, readFilters, type AuditRecord, type Filters } from './audit-log/model.ts'
import { ResourceCell, useResourceNames } from './audit-log/names.tsx'
import { Download, Search } from '../icons.ts'
import './AuditLog.css'
import { ResponsiveTable } from '../table.tsx'

const PAGE_SIZE = 50
const EXPORT_MAX = 10_000

interface AuditPage {
  data: AuditRecord[]
  total: number
}

export default function AuditLog() {
  const params = useParams()
  const { me, can } = useMe()
  return (
    <Switch>
      <Match when={me.error}>
        <PageHeader title="Audit log" />
        <ErrorAlert error={me.error} />
      </Match>
      <Match when={me.loading}>
        <PageHeader title="Audit log" />
        <Loading />
      </Match>
      <Match when={!can('audit:read')}>
        <PageHeader title="Audit log" />
        <NoPermission what="read the audit log" permission="audit:read" role={me()?.role} />
      </Match>
      <Match when={params.id}>{(id) => <EventDetail id={id()} canSeeUsers={can('users:read')} />}</Match>
      <Match when={true}>
        <EventList />
      </Match>
    </Switch>
  )
}

function EventList() {
  const location = useLocation()
  const names = useResourceNames()
  const [search, setSearch] = useSearchParams()
  const filters = createMemo(() => readFilters(search), {}, { equals: (a, b) => JSON.stringify(a) === JSON.stringify(b) })
  const problem = () => filterProblem(filters())

  const [items, setItems] = createSignal<AuditRecord[]>([])
  const [total, setTotal] = createSignal<number | null>(null)
  const [loading, setLoading] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  const [exporting, setExporting] = createSignal<'csv' | 'json' | null>(null)
  const [exportError, setExportError] = createSignal<unknown>(null)
  let controller: AbortController | undefined
  onCleanup(() => controller?.abort())

  /** Offset 0 replaces the list; a later page is appended (events that arrived meanwhile shift it: skip repeats). */
  async function load(offset: number) {
    controller?.abort()
    const current = (controller = new AbortController())
    setLoading(true)
    setError(null)
    // New filters: show the loading state rather than the old list under the new filters.
    if (offset === 0) setTotal(null)
    const q = apiQuery(filters())
    q.set('limit', String(PAGE_SIZE))
    q.set('offset', String(offset))
    try {
      const page = await api<AuditPage>('GET', `/api-internal/v1/audit?${q}`, { signal: current.signal })
      if (offset === 0) setItems(page.data)
      else {
        const seen = new Set(items().map((r) => r.id))
        setItems([...items(), ...page.data.filter((r) => !seen.has(r.id))])
      }
      setTotal(page.total)
    } catch (e) {
      if (!current.signal.aborted) setError(e)
    } finally {
      if (!current.signal.aborted) setLoading(false)
    }
  }

  createEffect(
    on(filters, () => {
      if (problem()) {
        controller?.abort()
        setItems([])
        setTotal(null)
        setLoading(false)
        return
      }
      void load(0)
    }),
  )

  function apply(next: Filters) {
    // Every known key is written, so a filter removed in the form leaves the URL too.
    setSearch({
      action: next.action,
      actor: next.actor,
      outcome: next.outcome,
      resource_type: next.resource_type,
      resource_id: next.resource_id,
      range: next.range,
      from: next.from,
      to: next.to,
    })
  }

  async function exportAs(format: 'csv' | 'json') {
    setExporting(format)
    setExportError(null)
    try {
      const q = apiQuery(filters())
      q.set('format', format)
      await download(`/api-internal/v1/audit/export?${q}`, `audit-log.${format}`)
    } catch (e) {
      setExportError(e)
    } finally {
      setExporting(null)
    }
  }

  const filtered = () => Object.keys(filters()).length > 0

  return (
    <section aria-labelledby="page-title">
      <PageHeader title="Audit log">
        <button class="secondary" type="button" disabled={exporting() !== null || problem() !== null} onClick={() => void exportAs('csv')}>
          <Download /> {exporting() === 'csv' ? 'Exporting…' : 'Export CSV'}
        </button>
        <button class="secondary" type="button" disabled={exporting() !== null || problem() !== null} onClick={() => void exportAs('json')}>
          <Download /> {exporting() === 'json' ? 'Exporting…' : 'Export JSON'}
        </button>
      </PageHeader>
      <p class="muted audit-intro">
        Sign-ins, account and key changes and other security events. Exports hold every event matching the filters
        (the newest {formatNumber(EXPORT_MAX)} at most).
      </p>
      <Show when={exportError()}>
        <ErrorAlert error={exportError()} />
      </Show>
      <div class="stack">
        <AuditFilters filters={filters()} problem={problem()} onApply={apply} />
        <Switch>
          <Match when={isDenied(error())}>
            <NoPermission what="read the audit log" permission="audit:read" role={undefined} />
          </Match>
          <Match when={error() && items().length === 0}>
            <ErrorAlert error={error()} retry={() => void load(0)} />
          </Match>
          <Match when={problem()}>{null}</Match>
          <Match when={total() === null}>
            <Loading label="Loading events…" />
          </Match>
          <Match when={total() === 0}>
            <Empty title={filtered() ? 'No events match these filters' : 'No events yet'} icon={() => <Search />}>
              {filtered() ? 'Widen the date range or clear a filter.' : 'Events appear here as people sign in and change things.'}
            </Empty>
          </Match>
          <Match when={true}>
            <p class="muted" role="status" data-testid="audit-count">
              Showing {formatNumber(items().length)} of {formatNumber(total() ?? 0)} events
            </p>
            <ResponsiveTable wrapClass="audit-wrap" class="audit-table" label="Audit events">
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Actor</th>
                    <th scope="col">Action</th>
                    <th scope="col">Resource</th>
                    <th scope="col">Outcome</th>
                    <th scope="col">IP address</th>
                    <th scope="col"><span class="sr-only">Details</span></th>
                  </tr>
                </thead>
                <tbody>
                  <For each={items()}>
                    {(r) => (
                      <tr>
                        <td class="nowrap">{formatDate(r.created_at)}</td>
                        <td class="audit-actor">{actorName(r)}</td>
                        <td><code>{r.action}</code></td>
                        <td><ResourceCell record={r} names={names} /></td>
                        <td><span class={`badge ${OUTCOME_BADGE[r.outcome]}`}>{r.outcome}</span></td>
                        <td>{r.ip ?? '—'}</td>
                        <td>
                          <A href={`/audit-log/${r.id}${location.search}`} aria-label={`Details of ${r.action} at ${formatDate(r.created_at)}`}>
                            Details
                          </A>
                        </td>
                      </tr>
                    )}
                  </For>
                </tbody>

            </ResponsiveTable>
            <Show when={error()}>
              <ErrorAlert error={error()} retry={() => void load(items().length)} />
            </Show>
            <Show when={items().length < (total() ?? 0)}>
              <div class="actions audit-more">
                <button class="secondary" type="button" disabled={loading()} onClick={() => void load(items().length)}>
                  {loading() ? 'Loading…' : 'Load more'}
                </button>
              </div>
            </Show>
          </Match>
        </Switch>
      </div>
    </section>
  )
}
