/**
 * One plugin (`/plugins/:id`, id = the plugin's name): what it is, its permissions and grant, its settings, and
 * what it has been doing. Disable, reload and uninstall sit in the header; the destructive ones ask first.
 */
import { createResource, createSignal, Match, Show, Switch } from 'solid-js'
import { A, useNavigate } from '@solidjs/router'
import { api } from '../../api.ts'
import { BackLink, ConfirmButton, ErrorAlert, formatDate, Loading, PageHeader } from '../../ui.tsx'
import { CronHistory, HostCalls, Logs, Stats } from './Activity.tsx'
import { GrantForm } from './GrantForm.tsx'
import { SettingsForm } from './SettingsForm.tsx'
import { ExecutePanel } from './Execute.tsx'
import { pluginPath, pluginStatus, StatusBadge, type Plugin } from './types.tsx'

export function PluginDetail(props: { name: string }) {
  const navigate = useNavigate()
  const [plugin, { refetch, mutate }] = createResource(
    () => props.name,
    (name) => api<Plugin>('GET', pluginPath(name)),
  )
  const [note, setNote] = createSignal<string | null>(null)
  const [actionError, setActionError] = createSignal<unknown>(null)
  const [reloading, setReloading] = createSignal(false)

  let noteEl: HTMLParagraphElement | undefined

  async function disable() {
    const next = await api<Plugin>('POST', `${pluginPath(props.name)}/disable`)
    // After the confirmation dialog has closed: the Disable button (and its dialog) then leave the page, and focus
    // moves to the note that says what happened instead of falling back to the document.
    setTimeout(() => {
      mutate(next)
      setNote('Plugin disabled. Its grant is kept; enable it again from Permissions.')
      noteEl?.focus()
    })
  }

  async function uninstall() {
    await api('DELETE', pluginPath(props.name))
    navigate('/plugins', { replace: true })
  }

  async function reload() {
    setReloading(true)
    setActionError(null)
    setNote(null)
    try {
      const next = await api<Plugin>('POST', `${pluginPath(props.name)}/reload`)
      mutate(next)
      setNote(next.enabled ? 'Plugin folder read again.' : 'Plugin folder read again; it is disabled.')
    } catch (err) {
      setActionError(err)
    } finally {
      setReloading(false)
    }
  }

  return (
    <section aria-labelledby="page-title" class="plugins-page stack">
      <BackLink href="/plugins" label="All plugins" />
      <Switch>
        <Match when={plugin.error}>
          <PageHeader title={props.name} />
          <ErrorAlert error={plugin.error} retry={() => void refetch()} />
        </Match>
        <Match when={plugin.loading && !plugin()}>
          <PageHeader title={props.name} />
          <Loading label="Loading plugin…" />
        </Match>
        <Match when={plugin()}>
          {(p) => (
            <>
              <PageHeader title={p().name}>
                <button class="secondary small" type="button" disabled={reloading()} onClick={() => void reload()}>
                  {reloading() ? 'Reloading…' : 'Reload from disk'}
                </button>
                <Show when={p().enabled}>
                  <ConfirmButton
                    label="Disable"
                    title={`Disable ${p().name}?`}
                    message={<>Its routes stop answering and its scheduled jobs stop running. Settings, storage and the grant are kept.</>}
                    action={disable}
                  />
                </Show>
                <ConfirmButton
                  label="Uninstall"
                  title={`Uninstall ${p().name}?`}
                  message={
                    <>
                      This removes the plugin with its settings and stored data.{' '}
                      {p().source === 'bundled'
                        ? 'It ships in a plugin folder, so the next scan finds it again, disabled.'
                        : 'Its uploaded files are deleted.'}
                    </>
                  }
                  action={uninstall}
                />
              </PageHeader>
              <Show when={note()}><p class="muted" role="status" tabindex="-1" ref={noteEl}>{note()}</p></Show>
              <Show when={actionError()}><ErrorAlert error={actionError()} /></Show>
              <section class="card" aria-labelledby="about-title">
                <h2 id="about-title" class="sr-only">About</h2>
                <div class="plugin-card-head">
                  <span>Version {p().version}</span>
                  <StatusBadge plugin={p()} />
                </div>
                <Show when={p().description}><p>{p().description}</p></Show>
                <Show when={pluginStatus(p()) === 'needs grant'}>
                  <p class="alert warn-note">
                    {p().granted_at
                      ? 'This version asks for more than was granted. Review the permissions below and grant them again to enable it.'
                      : 'This plugin has not been granted anything yet. Review the permissions below and grant them to enable it.'}
                  </p>
                </Show>
                <Show when={p().disabled_reason}><p class="muted">Why it is disabled: {p().disabled_reason}</p></Show>
                <dl>
                  <Show when={p().author}><dt>Author</dt><dd>{p().author}</dd></Show>
                  <Show when={p().license}><dt>License</dt><dd>{p().license}</dd></Show>
                  <Show when={p().homepage}>{(h) => <><dt>Homepage</dt><dd><a href={h()} rel="noopener noreferrer" target="_blank">{h()}</a></dd></>}</Show>
                  <dt>Source</dt><dd>{p().source === 'bundled' ? 'plugin folder on the server' : 'uploaded archive'}</dd>
                  <dt>Granted</dt><dd>{formatDate(p().granted_at)}</dd>
                  <dt>Updated</dt><dd>{formatDate(p().updated_at)}</dd>
                </dl>
              </section>
              <GrantForm plugin={p()} changed={(next) => { mutate(next); setNote(null) }} />
              <SettingsForm name={p().name} />
              <Show when={p().enabled}><ExecutePanel name={p().name} /></Show>
              <div class="activity-grid">
                <Stats name={p().name} />
                <CronHistory name={p().name} hasJobs={p().cron.length > 0} />
              </div>
              <Logs name={p().name} />
              <HostCalls name={p().name} />
            </>
          )}
        </Match>
      </Switch>
    </section>
  )
}
