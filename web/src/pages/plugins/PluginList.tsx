/**
 * Installed and discovered plugins with their status and 7-day failures, a rescan of the plugin folders, and the
 * upload of a plugin archive (.zip). A plugin arrives disabled: it runs only once an administrator grants it.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A, useNavigate } from '@solidjs/router'
import { api, authorizedFetch } from '../../api.ts'
import { Empty, ErrorAlert, formatNumber, Loading, PageHeader } from '../../ui.tsx'
import { Puzzle, RefreshCw, Upload as UploadIcon } from '../../icons.ts'
import { ADMIN, pluginPath, pluginStatus, StatusBadge, type Plugin, type PluginStats } from './types.tsx'

export function PluginList() {
  const [plugins, { refetch }] = createResource(() => api<{ data: Plugin[] }>('GET', `${ADMIN}/`).then((r) => r.data))
  const [scanning, setScanning] = createSignal(false)
  const [scanError, setScanError] = createSignal<unknown>(null)
  const [scanNote, setScanNote] = createSignal<string | null>(null)

  async function discover() {
    setScanning(true)
    setScanError(null)
    setScanNote(null)
    try {
      const r = await api<{ found: string[]; failed: { path: string; error: string }[] }>('POST', `${ADMIN}/discover`)
      setScanNote(
        `Found ${r.found.length} plugin${r.found.length === 1 ? '' : 's'}.` +
          (r.failed.length ? ` ${r.failed.length} folder${r.failed.length === 1 ? ' was' : 's were'} skipped: ${r.failed.map((f) => f.error).join('; ')}` : ''),
      )
      await refetch()
    } catch (err) {
      setScanError(err)
    } finally {
      setScanning(false)
    }
  }

  return (
    <section aria-labelledby="page-title" class="plugins-page stack">
      <PageHeader title="Plugins" description="Sandboxed extensions: each runs only with the permissions an administrator grants it.">
        <button class="secondary" type="button" disabled={scanning()} onClick={() => void discover()}>
          <RefreshCw /> {scanning() ? 'Scanning…' : 'Scan plugin folders'}
        </button>
      </PageHeader>
      <Show when={scanError()}><ErrorAlert error={scanError()} /></Show>
      <Show when={scanNote()}><p class="muted" role="status">{scanNote()}</p></Show>
      <Switch>
        <Match when={plugins.error}><ErrorAlert error={plugins.error} retry={() => void refetch()} /></Match>
        <Match when={plugins.loading && !plugins()}><Loading label="Loading plugins…" /></Match>
        <Match when={plugins()?.length === 0}>
          <Empty title="No plugins yet" icon={() => <Puzzle />}>
            Put plugin folders in the server's plugin directories and scan them, or upload a plugin archive below.
          </Empty>
        </Match>
        <Match when={plugins()}>
          {(list) => (
            <ul class="plugin-cards" aria-label="Plugins">
              <For each={list()}>{(p) => <PluginCard plugin={p} />}</For>
            </ul>
          )}
        </Match>
      </Switch>
      {/* Below the list, once it is there: appearing earlier, it would be pushed down as the list arrives. */}
      <Show when={plugins.latest}><Upload installed={() => void refetch()} /></Show>
    </section>
  )
}

function PluginCard(props: { plugin: Plugin }) {
  const p = () => props.plugin
  // Failures are worth a glance on the list; a plugin that never ran has none to show, so skip the call.
  const [stats] = createResource(
    () => (p().enabled || p().granted_at ? p().name : false),
    (name) => api<PluginStats>('GET', `${pluginPath(name)}/stats`).catch(() => null),
  )
  return (
    <li class="card plugin-card">
      <div class="plugin-card-head">
        <h2>
          <A href={`/plugins/${encodeURIComponent(p().name)}`}>{p().name}</A>
        </h2>
        <span class="muted">v{p().version}</span>
        <StatusBadge plugin={p()} />
        <Show when={p().source === 'uploaded'}><span class="badge">uploaded</span></Show>
      </div>
      <Show when={p().description}><p>{p().description}</p></Show>
      <p class="muted small-text">
        <Show when={p().author}>By {p().author}. </Show>
        <Show when={pluginStatus(p()) === 'needs grant'}>Grant its permissions to enable it. </Show>
        <Show when={p().enabled && !p().loaded}>Enabled but not loaded on this server. </Show>
        <Show when={p().disabled_reason}>{p().disabled_reason}</Show>
      </p>
      <Show when={stats()} fallback={<Show when={stats.loading}><p class="small-text muted" aria-hidden="true">Last 7 days: …</p></Show>}>
        {(s) => (
          <p class="small-text" data-testid={`health-${p().name}`}>
            Last 7 days: {formatNumber(s().invocations)} invocation{s().invocations === 1 ? '' : 's'},{' '}
            <span class={s().errors > 0 ? 'text-bad' : ''}>{formatNumber(s().errors)} error{s().errors === 1 ? '' : 's'}</span>,{' '}
            <span class={s().limit_violations > 0 ? 'text-bad' : ''}>{formatNumber(s().limit_violations)} limit violation{s().limit_violations === 1 ? '' : 's'}</span>
          </p>
        )}
      </Show>
    </li>
  )
}

/** Uploads a .zip made by `bun scripts/plugin.ts pack` (multipart field "archive"). */
function Upload(props: { installed: () => void }) {
  const navigate = useNavigate()
  let input: HTMLInputElement | undefined
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  const [problem, setProblem] = createSignal<string | null>(null)

  async function upload(e: SubmitEvent) {
    e.preventDefault()
    setError(null)
    setProblem(null)
    const file = input?.files?.[0]
    if (!file) {
      setProblem('Choose a plugin archive (.zip) first.')
      return
    }
    setBusy(true)
    try {
      const form = new FormData()
      form.append('archive', file)
      const res = await authorizedFetch(`${ADMIN}/install`, { method: 'POST', body: form })
      const plugin = (await res.json()) as Plugin
      props.installed()
      navigate(`/plugins/${encodeURIComponent(plugin.name)}`)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section class="card" aria-labelledby="upload-title">
      <h2 id="upload-title">Install from an archive</h2>
      <form onSubmit={(e) => void upload(e)} noValidate>
        <div class="field">
          <label for="plugin-archive">Plugin archive (.zip)</label>
          <input id="plugin-archive" ref={input} type="file" accept=".zip,application/zip" aria-describedby="plugin-archive-hint" />
          <p class="hint" id="plugin-archive-hint">
            Made with <code>bun scripts/plugin.ts pack</code>. The plugin is installed disabled until you grant its permissions.
            Uploading a newer version of an uploaded plugin replaces it.
          </p>
        </div>
        <Show when={problem()}><div class="alert error" role="alert">{problem()}</div></Show>
        <Show when={error()}><ErrorAlert error={error()} /></Show>
        <button type="submit" disabled={busy()}><UploadIcon /> {busy() ? 'Installing…' : 'Install'}</button>
      </form>
    </section>
  )
}
