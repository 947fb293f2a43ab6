/**
 * Modules: chatbots, documents, agents, plugins and the playground, each on or off for the whole platform. Turning one
 * off makes its routes answer 503 on every replica within a second, pauses its background work and hides its section
 * from everyone's navigation; turning it on brings all of it back.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api } from '../../api.ts'
import { refreshModules, updateModule, type ModuleInfo } from '../../modules.ts'
import { Badge, ConfirmButton, ErrorAlert, formatDate, formatNumber, Loading } from '../../ui.tsx'
import { toast } from '../../toast.tsx'

const STAT_LABELS: Record<string, string> = {
  chatbots: 'Chatbots',
  conversations: 'Conversations',
  messages_24h: 'Messages (24 h)',
  collections: 'Collections',
  documents: 'Documents',
  indexing: 'Being indexed',
  failed: 'Failed',
  chunks: 'Chunks',
  agents: 'Agents',
  runs_24h: 'Runs (24 h)',
  running: 'Running now',
  installed: 'Installed',
  enabled: 'Enabled',
  invocations_24h: 'Invocations (24 h)',
  cron_runs_24h: 'Cron runs (24 h)',
  requests_24h: 'Requests (24 h)',
  cost_micros_24h: 'Cost (24 h, µ$)',
  users_24h: 'Users (24 h)',
}

function ModuleCard(props: { m: ModuleInfo; changed: (next: ModuleInfo) => void }) {
  const [reason, setReason] = createSignal('')
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  async function set(enabled: boolean) {
    setError(null)
    setBusy(true)
    try {
      const body = enabled ? undefined : reason().trim() ? { reason: reason().trim() } : undefined
      const next = await api<ModuleInfo>('POST', `/api-internal/v1/modules/${props.m.name}/${enabled ? 'enable' : 'disable'}`, body ? { body } : {})
      props.changed(next)
      updateModule(next)
      refreshModules()
      toast(`${props.m.title} ${enabled ? 'enabled' : 'disabled'} on every replica`)
    } catch (err) {
      setError(err)
      throw err
    } finally {
      setBusy(false)
    }
  }
  return (
    <section class="card stack admin-module" aria-labelledby={`module-${props.m.name}`} data-testid={`module-${props.m.name}`}>
      <div class="card-head">
        <h2 id={`module-${props.m.name}`}>{props.m.title}</h2>
        <Badge tone={props.m.enabled ? 'ok' : 'bad'}>{props.m.enabled ? 'Enabled' : 'Disabled'}</Badge>
      </div>
      <p class="muted">{props.m.description}</p>
      <p class="small-text">
        Background work:{' '}
        {props.m.background === 'none' ? 'none' : `${props.m.background_work} (${props.m.background === 'running' ? 'running' : 'paused'} on this replica)`}
      </p>
      <Show when={!props.m.enabled}>
        <p class="small-text">
          Disabled {formatDate(props.m.updated_at)}
          <Show when={props.m.reason}>: {props.m.reason}</Show>
        </p>
      </Show>
      <Show when={props.m.stats}>
        {(stats) => (
          <dl class="admin-stats">
            <For each={Object.entries(stats())}>
              {([k, v]) => (
                <>
                  <dt>{STAT_LABELS[k] ?? k}</dt>
                  <dd>{formatNumber(v)}</dd>
                </>
              )}
            </For>
          </dl>
        )}
      </Show>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <div class="actions">
        <Show
          when={props.m.enabled}
          fallback={
            <button type="button" class="small" disabled={busy()} onClick={() => void set(true).catch(() => {})}>
              Enable {props.m.title}
            </button>
          }
        >
          <ConfirmButton
            label={`Disable ${props.m.title}`}
            title={`Disable ${props.m.title}?`}
            message={
              <>
                Its routes answer “module disabled” on every replica within a second, its background work pauses, and its section is hidden from
                everyone’s navigation. Nothing is deleted.
                <label class="admin-reason">
                  Reason (optional, shown to administrators)
                  <input value={reason()} maxLength={500} onInput={(e) => setReason(e.currentTarget.value)} />
                </label>
              </>
            }
            confirmLabel="Disable"
            class="secondary small"
            action={() => set(false)}
          />
        </Show>
      </div>
    </section>
  )
}

export function ModulesPanel() {
  // With stats, unlike the navigation's list.
  const [modules, { refetch, mutate }] = createResource(() => api<{ data: ModuleInfo[] }>('GET', '/api-internal/v1/modules').then((r) => r.data))
  const changed = (next: ModuleInfo) => mutate((list) => (list ?? []).map((m) => (m.name === next.name ? next : m)))
  return (
    <Switch>
      <Match when={modules.error}><ErrorAlert error={modules.error} retry={refetch} /></Match>
      <Match when={!modules.latest}><Loading label="Loading modules…" /></Match>
      <Match when={modules.latest}>
        {(list) => (
          <div class="grid" data-testid="modules">
            <For each={list()}>{(m) => <ModuleCard m={m} changed={changed} />}</For>
          </div>
        )}
      </Match>
    </Switch>
  )
}
