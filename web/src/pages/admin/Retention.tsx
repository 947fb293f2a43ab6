/**
 * Retention and data rights for administrators: the periods in force (changed under Settings), the last scheduled
 * deletion and what it removed, a run on demand, and a user's data export (what they own, as JSON).
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../../api.ts'
import { useMe } from '../../me.ts'
import { ResponsiveTable } from '../../table.tsx'
import { ErrorAlert, Field, formatDate, formatNumber, Loading } from '../../ui.tsx'
import { toast } from '../../toast.tsx'
import { downloadExport } from '../settings/YourData.tsx'

interface Status {
  periods: { audit_days: number | null; usage_days: number | null; plugin_logs_days: number; conversations_days: number | null; responses_days: number | null }
  running: boolean
  last_started_at: string | null
  last_finished_at: string | null
  next_run_after: string | null
  last_result: { started_at: string; finished_at: string; deleted: Record<string, number>; cutoffs: Record<string, string | null> } | null
}

const PERIODS: [keyof Status['periods'], string][] = [
  ['audit_days', 'Audit events'],
  ['usage_days', 'Usage records (summed per day, then deleted)'],
  ['plugin_logs_days', 'Plugin logs'],
  ['conversations_days', 'Chatbot conversations'],
  ['responses_days', 'Stored responses and conversations'],
]
const DELETED: Record<string, string> = {
  audit_events: 'Audit events',
  usage_records: 'Usage records',
  plugin_logs: 'Plugin log lines',
  chatbot_conversations: 'Chatbot conversations',
  responses: 'Responses',
  conversations: 'Conversations (Responses API)',
  notification_events: 'Notification events',
  finished_jobs: 'Finished background jobs',
}

interface UserHit {
  id: string
  email: string
  username: string
  role: string
}

function ExportUser() {
  const [q, setQ] = createSignal('')
  const [hits, setHits] = createSignal<UserHit[] | null>(null)
  const [error, setError] = createSignal<unknown>(null)
  async function search(e: Event) {
    e.preventDefault()
    setError(null)
    try {
      setHits((await api<{ data: UserHit[] }>('GET', `/api-internal/v1/users?q=${encodeURIComponent(q().trim())}&limit=10`)).data)
    } catch (err) {
      setError(err)
    }
  }
  return (
    <section class="card stack" aria-labelledby="export-user-title">
      <h2 id="export-user-title">A user’s data</h2>
      <p class="muted">
        Export everything a user owns as one JSON file (documents included). Deleting a user on the <A href="/users">Users</A> page deletes everything
        they own; people can do both for themselves under <A href="/settings">Settings</A>.
      </p>
      <form class="row" onSubmit={(e) => void search(e)}>
        <Field label="Find a user" for="export-user-q"><input id="export-user-q" value={q()} placeholder="Email or user name" onInput={(e) => setQ(e.currentTarget.value)} /></Field>
        <div class="shrink admin-inline-button"><button type="submit" class="secondary">Find</button></div>
      </form>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <Show when={hits()}>
        {(list) => (
          <Show when={list().length > 0} fallback={<p class="muted">Nobody matches.</p>}>
            <ul class="admin-user-hits">
              <For each={list()}>
                {(u) => (
                  <li>
                    <span>{u.email} <span class="muted small-text">({u.role})</span></span>
                    <button type="button" class="secondary small" onClick={() => void downloadExport(`/api-internal/v1/users/${u.id}/export`).catch((err) => setError(err))}>
                      Export {u.username}
                    </button>
                  </li>
                )}
              </For>
            </ul>
          </Show>
        )}
      </Show>
    </section>
  )
}

export function RetentionPanel() {
  const { can } = useMe()
  const [status, { refetch, mutate }] = createResource(() => api<Status>('GET', '/api-internal/v1/retention'))
  const [running, setRunning] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  async function runNow() {
    setError(null)
    setRunning(true)
    try {
      mutate(await api<Status>('POST', '/api-internal/v1/retention/run'))
      toast('Retention run finished')
    } catch (err) {
      setError(err)
    } finally {
      setRunning(false)
    }
  }
  return (
    <div class="stack">
      <Switch>
        <Match when={status.error}><ErrorAlert error={status.error} retry={refetch} /></Match>
        <Match when={!status.latest}><Loading label="Loading retention…" /></Match>
        <Match when={status.latest}>
          {(s) => (
            <>
              <section class="card stack" aria-labelledby="retention-periods" data-testid="retention">
                <div class="card-head">
                  <h2 id="retention-periods">Scheduled deletion</h2>
                  <div class="actions"><A class="button secondary small" href="/admin/settings">Change periods</A></div>
                </div>
                <p class="muted">Runs hourly on one replica at a time, deleting what is older than its period.</p>
                <dl>
                  <For each={PERIODS}>
                    {([key, label]) => (
                      <>
                        <dt>{label}</dt>
                        <dd>{s().periods[key] === null ? 'kept' : `${s().periods[key]} days`}</dd>
                      </>
                    )}
                  </For>
                  <dt>Last run</dt>
                  <dd>{s().running ? 'running now' : formatDate(s().last_finished_at)}</dd>
                </dl>
                <Show when={error()}><ErrorAlert error={error()} /></Show>
                <div class="actions"><button type="button" disabled={running() || s().running} onClick={() => void runNow()}>{running() ? 'Running…' : 'Run now'}</button></div>
              </section>
              <Show when={s().last_result}>
                {(r) => (
                  <section class="card stack" aria-labelledby="retention-last">
                    <h2 id="retention-last">What the last run deleted</h2>
                    <ResponsiveTable label="Deleted by the last run" testid="retention-deleted">
                      <thead><tr><th>Kind</th><th>Deleted</th></tr></thead>
                      <tbody>
                        <For each={Object.entries(r().deleted)}>{([k, n]) => <tr><td>{DELETED[k] ?? k}</td><td>{formatNumber(n)}</td></tr>}</For>
                      </tbody>
                    </ResponsiveTable>
                  </section>
                )}
              </Show>
            </>
          )}
        </Match>
      </Switch>
      <Show when={can('users:manage')}><ExportUser /></Show>
    </div>
  )
}
