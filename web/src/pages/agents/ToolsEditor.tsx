/**
 * The tools of an agent or of a chatbot in agent mode: one card per tool spec, with the fields its kind takes.
 * Collections and MCP servers are picked from what the signed-in person may use; the server checks them again on save.
 */
import { createSignal, For, Match, Show, Switch, type JSX, type Resource } from 'solid-js'
import { A } from '@solidjs/router'
import { ErrorAlert, Field } from '../../ui.tsx'
import { FieldError } from '../chatbots/FieldError.tsx'
import type { Collection } from '../chatbots/types.ts'
import type { McpServer } from '../mcp/types.ts'
import type { ToolDraft } from './form.ts'
import { TOOL_TYPES, toolLabel, type ToolType } from './types.ts'
import './ToolsEditor.css'

export interface ToolsEditorProps {
  /** Whose tools these are, in the hints ("the agent", "the chatbot"). */
  subject?: string
  /** The fieldset's legend; "Tools" unless given. */
  legend?: string
  /** Fields shown after the tools, inside the same fieldset (a chatbot's tool steps). */
  children?: JSX.Element
  tools: ToolDraft[]
  errors: Record<number, string>
  /** A refusal about the tools as a whole (two tools with one name, say). */
  error: string | undefined
  collections: Resource<Collection[]>
  servers: Resource<McpServer[]>
  add: (type: ToolType) => void
  update: (index: number, patch: Partial<ToolDraft>) => void
  remove: (index: number) => void
}

export function ToolsEditor(props: ToolsEditorProps) {
  const [kind, setKind] = createSignal<ToolType>('rag_search')
  return (
    <fieldset class="tools-editor">
      <legend>{props.legend ?? 'Tools'}</legend>
      <p class="hint">What {props.subject ?? 'the agent'} may use while it works; each call runs with your permissions and is audited.</p>
      <Show when={props.tools.length === 0}><p class="muted">No tools: {props.subject ?? 'the agent'} only answers from the model.</p></Show>
      <For each={props.tools}>
        {(tool, i) => (
          <ToolCard
            tool={tool}
            position={i() + 1}
            error={props.errors[i()]}
            collections={props.collections}
            servers={props.servers}
            update={(patch) => props.update(i(), patch)}
            remove={() => props.remove(i())}
          />
        )}
      </For>
      <Show when={props.error}><p class="field-error" role="alert">{props.error}</p></Show>
      <div class="row add-tool">
        <Field label="Kind of tool" for="add-tool-kind" hint={TOOL_TYPES.find((t) => t.type === kind())?.hint ?? ''}>
          <select id="add-tool-kind" value={kind()} onChange={(e) => setKind(e.currentTarget.value as ToolType)} aria-describedby="add-tool-kind-hint">
            <For each={TOOL_TYPES}>{(t) => <option value={t.type}>{t.label}</option>}</For>
          </select>
        </Field>
        <div class="field shrink">
          <button type="button" class="secondary" onClick={() => props.add(kind())}>Add tool</button>
        </div>
      </div>
      {props.children}
    </fieldset>
  )
}

interface CardProps {
  tool: ToolDraft
  position: number
  error: string | undefined
  collections: Resource<Collection[]>
  servers: Resource<McpServer[]>
  update: (patch: Partial<ToolDraft>) => void
  remove: () => void
}

function ToolCard(props: CardProps) {
  const id = (field: string) => `tool-${props.tool.key}-${field}`
  const title = () => `Tool ${props.position}: ${toolLabel(props.tool.type)}`
  return (
    <fieldset class="tool-card" classList={{ invalid: !!props.error }} aria-describedby={props.error ? id('error') : undefined}>
      <legend>{title()}</legend>
      <div class="tool-head">
        <p class="hint">{TOOL_TYPES.find((t) => t.type === props.tool.type)?.hint}</p>
        <button type="button" class="secondary small" onClick={() => props.remove()} aria-label={`Remove ${title()}`}>Remove</button>
      </div>
      <Switch>
        <Match when={props.tool.type === 'rag_search'}><RagFields {...props} id={id} /></Match>
        <Match when={props.tool.type === 'web_fetch'}>
          <Field label="Hosts" for={id('hosts')} hint='One per line: "docs.example.com", "*.example.com", "host:8443".'>
            <textarea id={id('hosts')} rows={3} value={props.tool.hosts} onInput={(e) => props.update({ hosts: e.currentTarget.value })} aria-describedby={id('hosts-hint')} />
          </Field>
        </Match>
        <Match when={props.tool.type === 'mcp'}><McpFields {...props} id={id} /></Match>
        <Match when={props.tool.type === 'plugin'}>
          <div class="row">
            <Field label="Plugin" for={id('plugin')}>
              <input id={id('plugin')} value={props.tool.plugin} autocomplete="off" onInput={(e) => props.update({ plugin: e.currentTarget.value })} />
            </Field>
            <Field label="Tool name" for={id('tool')}>
              <input id={id('tool')} value={props.tool.tool} autocomplete="off" onInput={(e) => props.update({ tool: e.currentTarget.value })} />
            </Field>
          </div>
        </Match>
      </Switch>
      <FieldError id={`tool-${props.tool.key}`} error={props.error} />
    </fieldset>
  )
}

function RagFields(props: CardProps & { id: (field: string) => string }) {
  const toggle = (collection: string, on: boolean) =>
    props.update({ collections: on ? [...props.tool.collections, collection] : props.tool.collections.filter((c) => c !== collection) })
  return (
    <>
      <p class="label" id={props.id('collections')}>Collections</p>
      <Switch>
        <Match when={props.collections.error}><ErrorAlert error={props.collections.error} /></Match>
        <Match when={props.collections.latest?.length === 0}>
          <p class="muted">You have no document collections yet; <A href="/documents">create one under Documents</A>.</p>
        </Match>
        <Match when={props.collections.latest}>
          {(list) => (
            <>
              <p class="hint">None ticked: every collection you can read, also ones added later.</p>
              <ul class="checklist" aria-labelledby={props.id('collections')}>
                <For each={list()}>
                  {(c) => (
                    <li>
                      <label class="check">
                        <input type="checkbox" checked={props.tool.collections.includes(c.id)} onChange={(e) => toggle(c.id, e.currentTarget.checked)} />
                        {c.name} <span class="muted">({c.document_count} documents)</span>
                      </label>
                    </li>
                  )}
                </For>
              </ul>
            </>
          )}
        </Match>
      </Switch>
      <Field label="Top k" for={props.id('top_k')} hint="Passages per search; empty: 5.">
        <input id={props.id('top_k')} type="number" min="1" max="20" step="1" value={props.tool.top_k} onInput={(e) => props.update({ top_k: e.currentTarget.value })} aria-describedby={props.id('top_k-hint')} />
      </Field>
    </>
  )
}

function McpFields(props: CardProps & { id: (field: string) => string }) {
  return (
    <Switch>
      <Match when={props.servers.error}><ErrorAlert error={props.servers.error} /></Match>
      <Match when={props.servers.latest?.length === 0 && !props.tool.server_id}>
        <p class="muted">No MCP servers yet; <A href="/mcp-servers">add one under MCP servers</A>.</p>
      </Match>
      <Match when={true}>
        <div class="row">
          <Field label="Server" for={props.id('server')}>
            <select id={props.id('server')} value={props.tool.server_id} onChange={(e) => props.update({ server_id: e.currentTarget.value })}>
              <option value="">Choose a server…</option>
              {/* A saved server that is no longer listed (deleted, or no longer shared) stays visible as such. */}
              <Show when={props.tool.server_id && props.servers.latest && !props.servers.latest.some((s) => s.id === props.tool.server_id)}>
                <option value={props.tool.server_id}>{props.tool.server_id} (unavailable)</option>
              </Show>
              <For each={props.servers.latest}>{(s) => <option value={s.id}>{s.shared ? `${s.name} (shared)` : s.name}</option>}</For>
            </select>
          </Field>
          <Field label="Allowed tools" for={props.id('allowed')} hint="Names separated by commas; empty: every tool the server allows.">
            <input id={props.id('allowed')} value={props.tool.allowed_tools} autocomplete="off" onInput={(e) => props.update({ allowed_tools: e.currentTarget.value })} aria-describedby={props.id('allowed-hint')} />
          </Field>
        </div>
      </Match>
    </Switch>
  )
}
