/**
 * A server's tools as it lists them now, with its allow-list: everyone who may read the server sees them; its owner
 * (or an administrator) ticks which may be used. "Every tool" also allows tools the server adds later.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api } from '../../api.ts'
import { Empty, ErrorAlert, Loading } from '../../ui.tsx'
import { SERVERS, type McpServer, type McpTool } from './types.ts'

export function ToolsPanel(props: { server: McpServer; canEdit: boolean; onSaved: (s: McpServer) => void }) {
  const [tools] = createResource(() => api<{ data: McpTool[] }>('GET', `${SERVERS}/${props.server.id}/tools`).then((r) => r.data))
  const [every, setEvery] = createSignal(props.server.allowed_tools === null)
  const [chosen, setChosen] = createSignal<Set<string>>(new Set(props.server.allowed_tools ?? []))
  const [error, setError] = createSignal<unknown>(null)
  const [busy, setBusy] = createSignal(false)

  const checked = (name: string) => every() || chosen().has(name)
  function toggle(name: string, on: boolean) {
    // Unticking one tool while "every tool" is on starts from all the tools listed now.
    const base = every() ? new Set((tools() ?? []).map((t) => t.name)) : new Set(chosen())
    if (on) base.add(name)
    else base.delete(name)
    setEvery(false)
    setChosen(base)
  }

  async function save() {
    setBusy(true)
    setError(null)
    try {
      const allowed_tools = every() ? null : (tools() ?? []).map((t) => t.name).filter((n) => chosen().has(n))
      props.onSaved(await api<McpServer>('PATCH', `${SERVERS}/${props.server.id}`, { body: { allowed_tools } }))
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div class="mcp-tools" role="region" aria-label={`Tools of ${props.server.name}`}>
      <Switch>
        <Match when={tools.error}><ErrorAlert error={tools.error} /></Match>
        <Match when={tools.loading}><Loading label="Asking the server for its tools…" /></Match>
        <Match when={tools()?.length === 0}><Empty title="The server lists no tools" /></Match>
        <Match when={tools()}>
          {(list) => (
            <>
              <label class="check">
                <input type="checkbox" checked={every()} disabled={!props.canEdit} onChange={(e) => setEvery(e.currentTarget.checked)} />
                Every tool, also those the server adds later
              </label>
              <ul class="tool-list">
                <For each={list()}>
                  {(t) => (
                    <li>
                      <label class="check">
                        <input type="checkbox" checked={checked(t.name)} disabled={!props.canEdit} onChange={(e) => toggle(t.name, e.currentTarget.checked)} />
                        <code>{t.name}</code>
                      </label>
                      <Show when={t.description}><span class="hint block">{t.description}</span></Show>
                    </li>
                  )}
                </For>
              </ul>
              <Show when={error()}><ErrorAlert error={error()} /></Show>
              <Show when={props.canEdit} fallback={<p class="hint">Only its owner or an administrator changes which tools may be used.</p>}>
                <div class="actions">
                  <button type="button" disabled={busy()} onClick={() => void save()}>{busy() ? 'Saving…' : 'Save allow-list'}</button>
                </div>
              </Show>
            </>
          )}
        </Match>
      </Switch>
    </div>
  )
}
