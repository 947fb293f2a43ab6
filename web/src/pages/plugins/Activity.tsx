/**
 * What a plugin has been doing: invocation stats (7 days), its log lines (newest first, filtered by level), cron
 * runs, and the host calls it made, allowed or refused. Each section loads on its own, so one failing does not
 * hide the others.
 */
import { createMemo, createResource, createSignal, For, Match, Show, Switch, type JSX } from 'solid-js'
import { api, type Wire } from '../../api.ts'
import type { CronRunSchema, PluginHostCallSchema, PluginLogRetentionSchema, PluginLogSchema } from '../../../../src/plugins/model.ts'
import { ErrorAlert, formatDate, formatNumber, Loading } from '../../ui.tsx'
import { pluginPath, type PluginStats } from './types.tsx'
import { ResponsiveTable } from '../../table.tsx'

type LogLine = Wire<typeof PluginLogSchema.static>
type LogRetention = typeof PluginLogRetentionSchema.static

/** A skipped tick (the previous run was still going) is no failure. */
const RUN_BADGE: Record<string, string> = { ok: 'ok', success: 'ok', running: 'warn', skipped: '' }

type CronRun = Wire<typeof CronRunSchema.static>
type HostCall = Wire<typeof PluginHostCallSchema.static>

const LEVELS = ['debug', 'info', 'warn', 'error'] as const
const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${formatNumber(Math.round(v))} ms`)

/** One card whose body follows a resource's loading, error, empty and loaded states. */
function Section<T>(props: {
  id: string
  title: string
  data: { (): T[] | undefined; loading: boolean; error: unknown }
  refetch: () => void
  empty: string
  tools?: JSX.Element
  children: (rows: T[]) => JSX.Element
}) {
  return (
    <section class="card" aria-labelledby={`${props.id}-title`} aria-busy={props.data.loading}>
      <div class="section-head">
        <h2 id={`${props.id}-title`}>{props.title}</h2>
        {props.tools}
        <button class="secondary small" type="button" onClick={() => props.refetch()} aria-label={`Refresh ${props.title.toLowerCase()}`}>Refresh</button>
      </div>
      <Switch>
        <Match when={props.data.error}><ErrorAlert error={props.data.error} retry={props.refetch} /></Match>
        <Match when={props.data.loading && !props.data()}><Loading /></Match>
        <Match when={props.data()?.length === 0}><p class="muted">{props.empty}</p></Match>
        <Match when={props.data()}>{(rows) => props.children(rows())}</Match>
      </Switch>
    </section>
  )
}

export function Stats(props: { name: string }) {
  const [stats, { refetch }] = createResource(() => props.name, (n) => api<PluginStats>('GET', `${pluginPath(n)}/stats`))
  return (
    <section class="card" aria-labelledby="stats-title" aria-busy={stats.loading}>
      <div class="section-head">
        <h2 id="stats-title">Stats (7 days)</h2>
        <button class="secondary small" type="button" onClick={() => void refetch()} aria-label="Refresh stats">Refresh</button>
      </div>
      <Switch>
        <Match when={stats.error}><ErrorAlert error={stats.error} retry={() => void refetch()} /></Match>
        <Match when={stats.loading && !stats()}><Loading /></Match>
        <Match when={stats()}>
          {(s) => (
            <>
              <Show when={s().invocations === 0}><p class="muted">No invocations in the last 7 days.</p></Show>
              <dl class="stats">
                <dt>Invocations</dt><dd>{formatNumber(s().invocations)}</dd>
                <dt>Errors</dt><dd>{formatNumber(s().errors)}</dd>
                <dt>Limit violations</dt><dd>{formatNumber(s().limit_violations)}</dd>
                <dt>Latency p50</dt><dd>{ms(s().p50_ms)}</dd>
                <dt>Latency p99</dt><dd>{ms(s().p99_ms)}</dd>
                <Show when={s().cpu_ms !== null}><dt>CPU time (since load)</dt><dd>{ms(s().cpu_ms)}</dd></Show>
                <Show when={s().heap_bytes !== null}><dt>Heap in use</dt><dd>{formatNumber(Math.round((s().heap_bytes ?? 0) / 1024))} KB</dd></Show>
                <Show when={s().recycles !== null}><dt>Isolate restarts</dt><dd>{formatNumber(s().recycles ?? 0)}</dd></Show>
              </dl>
            </>
          )}
        </Match>
      </Switch>
    </section>
  )
}

export function Logs(props: { name: string }) {
  const [level, setLevel] = createSignal('')
  const [retention, setRetention] = createSignal<LogRetention | null>(null)
  const [logs, { refetch }] = createResource(
    () => props.name,
    (n) =>
      api<{ data: LogLine[]; retention: LogRetention }>('GET', `${pluginPath(n)}/logs?limit=200`).then((r) => {
        setRetention(r.retention)
        return r.data
      }),
  )
  const mb = (bytes: number) => `${formatNumber(Math.round((bytes / 1048576) * 10) / 10)} MB`
  // Levels at or above the chosen one, as log viewers usually filter.
  const shown = createMemo(() => {
    const min = LEVELS.indexOf(level() as (typeof LEVELS)[number])
    const rows = logs()
    return rows && min > 0 ? rows.filter((l) => LEVELS.indexOf(l.level as (typeof LEVELS)[number]) >= min) : rows
  })
  const view = Object.assign(() => shown(), {
    get loading() {
      return logs.loading
    },
    get error() {
      return logs.error
    },
  })
  return (
    <Section
      id="logs"
      title="Logs"
      data={view}
      refetch={() => void refetch()}
      empty={level() ? 'No log lines at this level or above.' : 'No log lines yet. Lines the plugin logs appear here, newest first.'}
      tools={
        <div class="inline-field">
          <Show when={retention()}>
            {(r) => (
              <span class="muted" title={`At most ${mb(r().bytes_per_minute)} of new lines per minute are kept; one line says how many more were dropped.`}>
                {mb(r().stored_bytes)} of {mb(r().max_bytes)} kept, up to {r().retention_days} days
              </span>
            )}
          </Show>
          <label for="log-level">Level</label>
          <select id="log-level" value={level()} onChange={(e) => setLevel(e.currentTarget.value)}>
            <option value="">All</option>
            <option value="info">Info and above</option>
            <option value="warn">Warnings and errors</option>
            <option value="error">Errors only</option>
          </select>
        </div>
      }
    >
      {(rows) => (
        <ResponsiveTable>
            <caption class="sr-only">Plugin log lines, newest first</caption>
            <thead><tr><th scope="col">Time</th><th scope="col">Level</th><th scope="col">Message</th></tr></thead>
            <tbody>
              <For each={rows}>
                {(l) => (
                  <tr>
                    <td class="nowrap">{formatDate(l.created_at)}</td>
                    <td><span class={`badge ${l.level === 'error' ? 'bad' : l.level === 'warn' ? 'warn' : 'ok'}`}>{l.level}</span></td>
                    <td class="message">{l.message}</td>
                  </tr>
                )}
              </For>
            </tbody>

        </ResponsiveTable>
      )}
    </Section>
  )
}

export function CronHistory(props: { name: string; hasJobs: boolean }) {
  const [runs, { refetch }] = createResource(() => props.name, (n) => api<{ data: CronRun[] }>('GET', `${pluginPath(n)}/cron?limit=50`).then((r) => r.data))
  return (
    <Section
      id="cron"
      title="Cron history"
      data={runs}
      refetch={() => void refetch()}
      empty={props.hasJobs ? 'No scheduled runs yet.' : 'This plugin has no scheduled jobs.'}
    >
      {(rows) => (
        <ResponsiveTable>
            <caption class="sr-only">Scheduled runs, newest first</caption>
            <thead><tr><th scope="col">Job</th><th scope="col">Scheduled for</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Error</th></tr></thead>
            <tbody>
              <For each={rows}>
                {(r) => (
                  <tr>
                    <td>{r.job}</td>
                    <td class="nowrap">{formatDate(r.scheduled_for)}</td>
                    <td><span class={`badge ${RUN_BADGE[r.status] ?? 'bad'}`}>{r.status}</span></td>
                    <td>{ms(r.duration_ms)}</td>
                    <td class="message">{r.error ?? ''}</td>
                  </tr>
                )}
              </For>
            </tbody>

        </ResponsiveTable>
      )}
    </Section>
  )
}

export function HostCalls(props: { name: string }) {
  const [calls, { refetch }] = createResource(() => props.name, (n) => api<{ data: HostCall[] }>('GET', `${pluginPath(n)}/audit?limit=100`).then((r) => r.data))
  return (
    <Section id="host-calls" title="Host calls" data={calls} refetch={() => void refetch()} empty="No host calls yet. Calls to storage, settings, models and the network appear here, allowed or refused.">
      {(rows) => (
        <ResponsiveTable>
            <caption class="sr-only">Host calls, newest first</caption>
            <thead><tr><th scope="col">Time</th><th scope="col">Call</th><th scope="col">Outcome</th><th scope="col">Detail</th></tr></thead>
            <tbody>
              <For each={rows}>
                {(c) => (
                  <tr>
                    <td class="nowrap">{formatDate(c.created_at)}</td>
                    <td><code>{c.call}</code></td>
                    <td><span class={`badge ${c.allowed ? 'ok' : 'bad'}`}>{c.allowed ? 'allowed' : 'refused'}</span></td>
                    <td class="message">{c.detail ?? ''}</td>
                  </tr>
                )}
              </For>
            </tbody>

        </ResponsiveTable>
      )}
    </Section>
  )
}
