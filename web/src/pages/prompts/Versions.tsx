/**
 * A prompt's versions, newest first. Any of them can be viewed as it was saved, and loaded into the editor to start
 * a new version from it.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api } from '../../api.ts'
import { ErrorAlert, formatDate, Loading } from '../../ui.tsx'
import { PROMPTS, type PromptVersion } from './types.ts'

/** `reload` changes after each save, so a new version appears without polling. */
export function Versions(props: { promptId: string; latest: number; reload: number; onLoad: (v: PromptVersion) => void }) {
  const [versions, { refetch }] = createResource(
    () => ({ id: props.promptId, n: props.reload }),
    ({ id }) => api<{ data: PromptVersion[] }>('GET', `${PROMPTS}/${id}/versions`).then((r) => r.data),
  )
  const [viewing, setViewing] = createSignal<number | null>(null)
  const shown = () => versions.latest?.find((v) => v.version === viewing())
  return (
    <section class="card versions" aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      <Switch>
        <Match when={versions.error}><ErrorAlert error={versions.error} retry={() => void refetch()} /></Match>
        <Match when={versions.loading && !versions.latest}><Loading label="Loading versions…" /></Match>
        <Match when={versions.latest}>
          {(list) => (
            <ul class="version-list" aria-label="Versions">
              <For each={list()}>
                {(v) => (
                  <li classList={{ selected: viewing() === v.version }}>
                    <span>
                      <strong>Version {v.version}</strong> <Show when={v.version === props.latest}><span class="badge ok">latest</span></Show>
                      <span class="muted block">{formatDate(v.created_at)}</span>
                    </span>
                    <button type="button" class="secondary small" aria-pressed={viewing() === v.version} onClick={() => setViewing(viewing() === v.version ? null : v.version)}>
                      {viewing() === v.version ? 'Hide' : `View version ${v.version}`}
                    </button>
                  </li>
                )}
              </For>
            </ul>
          )}
        </Match>
      </Switch>
      <Show when={shown()}>{(v) => <VersionView version={v()} latest={props.latest} onLoad={() => props.onLoad(v())} />}</Show>
    </section>
  )
}

function VersionView(props: { version: PromptVersion; latest: number; onLoad: () => void }) {
  const v = () => props.version
  return (
    <div class="version-view" role="region" aria-label={`Version ${v().version}`}>
      <h3>Version {v().version}</h3>
      <p class="io-label">Instructions</p>
      <pre class="template-text">{v().instructions || '(none)'}</pre>
      <Show when={v().messages.length}>
        <p class="io-label">Messages</p>
        <ol class="plain">
          <For each={v().messages}>{(m) => <li><strong>{m.role}:</strong> <span class="template-text">{m.content}</span></li>}</For>
        </ol>
      </Show>
      <Show when={v().variables.length}>
        <p class="io-label">Variables</p>
        <ul class="plain">
          <For each={v().variables}>
            {(x) => (
              <li>
                <code>{`{{${x.name}}}`}</code>
                <Show when={x.description}> {x.description}</Show>
                <span class="muted"> {x.default != null && x.default !== '' ? `default “${x.default}”` : 'required'}</span>
              </li>
            )}
          </For>
        </ul>
      </Show>
      <Show when={v().version !== props.latest}>
        <div class="actions">
          <button type="button" class="secondary small" onClick={() => props.onLoad()}>Edit from this version</button>
        </div>
      </Show>
    </div>
  )
}
