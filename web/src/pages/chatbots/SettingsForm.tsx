/**
 * The builder's settings form. Inputs are kept as typed text and converted on save, so a half-typed number is
 * reported next to its field instead of being silently coerced; only changed fields are sent.
 */
import { createEffect, createMemo, createResource, createSignal, For, Show } from 'solid-js'
import { createStore, reconcile } from 'solid-js/store'
import { A } from '@solidjs/router'
import { api, ApiError } from '../../api.ts'
import { ErrorAlert, Field, fieldMessage } from '../../ui.tsx'
import { toast } from '../../toast.tsx'
import { FieldError } from './FieldError.tsx'
import { ModelSelect } from './ModelSelect.tsx'
import { PromptEditor } from './PromptEditor.tsx'
import { VariablesEditor } from './Variables.tsx'
import { newTool, toDraft, toSpec, toSpecs, type ToolDraft } from '../agents/form.ts'
import { ToolsEditor } from '../agents/ToolsEditor.tsx'
import { SERVERS, type McpServer } from '../mcp/types.ts'
import { BASE, CHATBOT_TYPES, TYPE_LABELS, type Chatbot, type ChatbotType, type Collection, type Model, type RagMode } from './types.ts'

interface FormState {
  name: string
  type: ChatbotType
  model: string
  system_prompt: string
  prompt_variables: Record<string, string>
  temperature: string
  max_tokens: string
  context_window: string
  memory_length: string
  rag_collections: string[]
  rag_top_k: string
  rag_score_threshold: string
  rag_mode: RagMode | ''
  fallback_response: string
  must_cite: boolean
  confidential_only: boolean
  exclude_flagged_context: boolean
  is_active: boolean
  /** Agent mode: the tools the model may call while answering, and how many model calls one answer may take. */
  tools: ToolDraft[]
  max_tool_steps: string
}

type Errors = Partial<Record<keyof FormState, string>>

const fromBot = (b: Chatbot): FormState => ({
  name: b.name,
  type: b.type,
  model: b.model,
  system_prompt: b.system_prompt,
  prompt_variables: { ...b.prompt_variables },
  temperature: String(b.temperature),
  max_tokens: String(b.max_tokens),
  context_window: String(b.context_window),
  memory_length: String(b.memory_length),
  rag_collections: [...b.rag_collections],
  rag_top_k: String(b.rag_top_k),
  rag_score_threshold: b.rag_score_threshold === null ? '' : String(b.rag_score_threshold),
  rag_mode: b.rag_mode ?? '',
  fallback_response: b.fallback_response ?? '',
  must_cite: b.must_cite,
  confidential_only: b.confidential_only,
  exclude_flagged_context: b.exclude_flagged_context,
  is_active: b.is_active,
  tools: b.tools.map(toDraft),
  max_tool_steps: String(b.max_tool_steps),
})

function number(value: string, label: string, min: number, max: number, integer: boolean): number | string {
  const n = Number(value.trim())
  if (value.trim() === '' || !Number.isFinite(n)) return `${label} must be a number.`
  if (integer && !Number.isInteger(n)) return `${label} must be a whole number.`
  if (n < min || n > max) return `${label} must be between ${min} and ${max}.`
  return n
}

/** The fields that differ from the saved chatbot, converted to the API's types, or the errors that stop a save. */
function changes(f: FormState, b: Chatbot): { patch: Partial<Chatbot>; errors: Errors; toolErrors: Record<number, string> } {
  const errors: Errors = {}
  const patch: Record<string, unknown> = {}
  const put = <K extends keyof FormState>(key: K, value: unknown, saved: unknown) => {
    if (JSON.stringify(value) !== JSON.stringify(saved)) patch[key] = value
  }
  const num = (key: keyof FormState, label: string, min: number, max: number, integer: boolean) => {
    const v = number(f[key] as string, label, min, max, integer)
    if (typeof v === 'string') errors[key] = v
    else put(key, v, b[key as keyof Chatbot])
  }
  if (!f.name.trim()) errors.name = 'Give the chatbot a name.'
  else put('name', f.name.trim(), b.name)
  put('type', f.type, b.type)
  if (f.model) put('model', f.model, b.model)
  if (!f.system_prompt.trim()) errors.system_prompt = 'The system prompt cannot be empty.'
  else put('system_prompt', f.system_prompt, b.system_prompt)
  num('temperature', 'Temperature', 0, 2, false)
  num('max_tokens', 'Max tokens', 1, 100_000, true)
  num('context_window', 'Context window', 512, 2_000_000, true)
  num('memory_length', 'Memory length', 0, 200, true)
  // Empty values are not sent: the placeholder then keeps its default (or is sent as written).
  const sorted = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).sort(([a], [c]) => a.localeCompare(c)))
  const variables = sorted(Object.fromEntries(Object.entries(f.prompt_variables).filter(([, v]) => v.trim() !== '')))
  if (JSON.stringify(variables) !== JSON.stringify(sorted(b.prompt_variables))) patch.prompt_variables = variables
  num('rag_top_k', 'Top k', 1, 50, true)
  if (f.rag_score_threshold.trim() === '') put('rag_score_threshold', null, b.rag_score_threshold)
  else {
    const v = Number(f.rag_score_threshold)
    if (!Number.isFinite(v)) errors.rag_score_threshold = 'The score threshold must be a number, or empty for none.'
    else put('rag_score_threshold', v, b.rag_score_threshold)
  }
  put('rag_collections', f.rag_collections, b.rag_collections)
  put('rag_mode', f.rag_mode || null, b.rag_mode)
  put('fallback_response', f.fallback_response.trim() ? f.fallback_response : null, b.fallback_response)
  put('must_cite', f.must_cite, b.must_cite)
  put('confidential_only', f.confidential_only, b.confidential_only)
  put('exclude_flagged_context', f.exclude_flagged_context, b.exclude_flagged_context)
  put('is_active', f.is_active, b.is_active)
  const { tools, errors: toolErrors } = toSpecs(f.tools)
  // The saved tools go through the same conversion, so another key order or omitted defaults from the database are equal.
  if (!Object.keys(toolErrors).length) put('tools', tools, b.tools.map((t) => toSpec(toDraft(t))))
  num('max_tool_steps', 'Tool steps', 1, 16, true)
  return { patch: patch as Partial<Chatbot>, errors, toolErrors }
}

export function SettingsForm(props: { bot: Chatbot; onSaved: (bot: Chatbot) => void; onDirty: (dirty: boolean) => void }) {
  const [form, setForm] = createStore<FormState>(fromBot(props.bot))
  const [errors, setErrors] = createSignal<Errors>({})
  const [serverError, setServerError] = createSignal<unknown>(null)
  const [status, setStatus] = createSignal('')
  const [busy, setBusy] = createSignal(false)
  const [models] = createResource(() => api<{ data: Model[] }>('GET', '/api-internal/v1/llm/models').then((r) => r.data))
  const [collections] = createResource(() => api<{ data: Collection[] }>('GET', '/api-internal/v1/rag/collections').then((r) => r.data))
  const [servers] = createResource(() => api<{ data: McpServer[] }>('GET', SERVERS).then((r) => r.data))
  const [toolErrors, setToolErrors] = createSignal<Record<number, string>>({})

  const diff = createMemo(() => changes(form, props.bot))
  createEffect(() => props.onDirty(Object.keys(diff().patch).length > 0))

  async function save(e: SubmitEvent) {
    e.preventDefault()
    setStatus('')
    setServerError(null)
    const { patch, errors: found, toolErrors: foundTools } = diff()
    setErrors(found)
    setToolErrors(foundTools)
    if (Object.keys(found).length || Object.keys(foundTools).length) {
      document.querySelector<HTMLElement>('.settings [aria-invalid="true"], .settings .tool-card.invalid :is(input, textarea, select, button)')?.focus()
      return
    }
    if (!Object.keys(patch).length) {
      setStatus('No changes to save.')
      return
    }
    setBusy(true)
    try {
      const saved = await api<Chatbot>('PATCH', `${BASE}/${props.bot.id}`, { body: patch })
      props.onSaved(saved)
      setForm(reconcile(fromBot(saved)))
      setStatus('Saved.')
      toast(`${saved.name} saved`)
    } catch (err) {
      // The server names the offending field: its message goes there, in the field's words; others above Save.
      const [field, index] = err instanceof ApiError ? (err.param?.split('.') ?? []) : []
      // A tool the server refuses (`tools.2.server_id`) is marked on its card.
      if (err instanceof ApiError && field === 'tools' && index !== undefined && /^\d+$/.test(index)) setToolErrors({ [Number(index)]: fieldMessage(err) })
      else if (err instanceof ApiError && field && field in form) setErrors({ [field]: fieldMessage(err) })
      else setServerError(err)
    } finally {
      setBusy(false)
    }
  }

  const text = (key: 'name' | 'temperature' | 'max_tokens' | 'context_window' | 'memory_length' | 'rag_top_k' | 'rag_score_threshold' | 'max_tool_steps') => ({
    id: `bot-${key}`,
    // Getters keep the spread reactive: Solid reads them when the store or the errors change.
    get value() {
      return form[key]
    },
    onInput: (e: InputEvent & { currentTarget: HTMLInputElement }) => setForm(key, e.currentTarget.value),
    get 'aria-invalid'() {
      return errors()[key] ? true : undefined
    },
    get 'aria-describedby'() {
      const ids = [key === 'name' ? '' : `bot-${key}-hint`, errors()[key] ? `bot-${key}-error` : ''].filter(Boolean)
      return ids.length ? ids.join(' ') : undefined
    },
  })

  return (
    <form class="card settings" aria-labelledby="settings-title" onSubmit={(e) => void save(e)} novalidate>
      <h2 id="settings-title">Settings</h2>
      <Field label="Name" for="bot-name">
        <input {...text('name')} maxLength={200} />
        <FieldError id="bot-name" error={errors().name} />
      </Field>
      <div class="row">
        <Field label="Type" for="bot-type">
          <select id="bot-type" value={form.type} onChange={(e) => setForm('type', e.currentTarget.value as ChatbotType)}>
            <For each={CHATBOT_TYPES}>{(t) => <option value={t}>{TYPE_LABELS[t]}</option>}</For>
          </select>
        </Field>
        <ModelSelect id="bot-model" models={models} value={form.model} onChange={(m) => setForm('model', m)} />
      </div>

      <PromptEditor
        value={form.system_prompt}
        onChange={(v) => setForm('system_prompt', v)}
        type={form.type}
        model={form.model}
        error={errors().system_prompt}
      />
      <VariablesEditor
        prompt={form.system_prompt}
        values={form.prompt_variables}
        onChange={(v) => setForm('prompt_variables', reconcile(v))}
        error={errors().prompt_variables}
      />

      <div class="row">
        <Field label="Temperature" for="bot-temperature" hint="0 is focused, 2 is most varied.">
          <input {...text('temperature')} type="number" inputmode="decimal" min="0" max="2" step="0.1" />
          <FieldError id="bot-temperature" error={errors().temperature} />
        </Field>
        <Field label="Max tokens" for="bot-max_tokens" hint="Longest answer, in tokens.">
          <input {...text('max_tokens')} type="number" min="1" max="100000" step="1" />
          <FieldError id="bot-max_tokens" error={errors().max_tokens} />
        </Field>
        <Field label="Memory length" for="bot-memory_length" hint="Earlier messages sent with each turn.">
          <input {...text('memory_length')} type="number" min="0" max="200" step="1" />
          <FieldError id="bot-memory_length" error={errors().memory_length} />
        </Field>
        <Field label="Context window" for="bot-context_window" hint="Tokens the prompt may fill; the oldest history is trimmed first.">
          <input {...text('context_window')} type="number" min="512" max="2000000" step="1" />
          <FieldError id="bot-context_window" error={errors().context_window} />
        </Field>
      </div>

      <fieldset class="rag">
        <legend>Knowledge (RAG)</legend>
        <div class="field">
          <p class="label" id="rag-collections-label">Collections</p>
          <Show when={collections.error}><ErrorAlert error={collections.error} /></Show>
          <Show when={collections.latest?.length === 0}>
            <p class="muted">No document collections yet. <A href="/documents">Create one under Documents</A>.</p>
          </Show>
          <ul class="checklist" aria-labelledby="rag-collections-label">
            <For each={collections.latest}>
              {(c) => (
                <li>
                  <label class="check">
                    <input
                      type="checkbox"
                      checked={form.rag_collections.includes(c.id)}
                      onChange={(e) =>
                        setForm('rag_collections', (list) => (e.currentTarget.checked ? [...list, c.id] : list.filter((x) => x !== c.id)))
                      }
                    />
                    {c.name} <span class="muted">({c.document_count} documents)</span>
                  </label>
                </li>
              )}
            </For>
          </ul>
        </div>
        <div class="row">
          <Field label="Top k" for="bot-rag_top_k" hint="Passages retrieved per question.">
            <input {...text('rag_top_k')} type="number" min="1" max="50" step="1" />
            <FieldError id="bot-rag_top_k" error={errors().rag_top_k} />
          </Field>
          <Field label="Score threshold" for="bot-rag_score_threshold" hint="Empty: no threshold.">
            <input {...text('rag_score_threshold')} type="number" inputmode="decimal" step="0.01" />
            <FieldError id="bot-rag_score_threshold" error={errors().rag_score_threshold} />
          </Field>
          <Field label="Retrieval mode" for="bot-rag_mode">
            <select id="bot-rag_mode" value={form.rag_mode} onChange={(e) => setForm('rag_mode', e.currentTarget.value as RagMode | '')}>
              <option value="">Collection default</option>
              <option value="hybrid">Hybrid</option>
              <option value="vector">Vector</option>
              <option value="lexical">Lexical</option>
            </select>
          </Field>
        </div>
        <Field label="Fallback response" for="bot-fallback" hint="Answered instead of asking the model when the collections have nothing relevant. Empty: none.">
          <textarea id="bot-fallback" maxLength={4000} value={form.fallback_response} onInput={(e) => setForm('fallback_response', e.currentTarget.value)} />
        </Field>
        <label class="check">
          <input type="checkbox" checked={form.must_cite} onChange={(e) => setForm('must_cite', e.currentTarget.checked)} />
          Must cite sources
        </label>
      </fieldset>

      <ToolsEditor
        legend="Agent mode: tools"
        subject="the chatbot"
        tools={form.tools}
        errors={toolErrors()}
        error={errors().tools}
        collections={collections}
        servers={servers}
        add={(type) => setForm('tools', form.tools.length, newTool(type))}
        update={(index, patch) => setForm('tools', index, patch)}
        remove={(index) => setForm('tools', (list) => list.filter((_, i) => i !== index))}
      >
        <Show when={form.tools.length > 0}>
          <Field label="Tool steps" for="bot-max_tool_steps" hint="Model calls one answer may take; the last is offered no tools, so it answers.">
            <input {...text('max_tool_steps')} type="number" min="1" max="16" step="1" />
            <FieldError id="bot-max_tool_steps" error={errors().max_tool_steps} />
          </Field>
        </Show>
      </ToolsEditor>

      <fieldset>
        <legend>Safety</legend>
        <label class="check">
          <input type="checkbox" checked={form.confidential_only} onChange={(e) => setForm('confidential_only', e.currentTarget.checked)} />
          Confidential only: answer only with models served in a TEE (others are refused)
        </label>
        <label class="check">
          <input type="checkbox" checked={form.exclude_flagged_context} onChange={(e) => setForm('exclude_flagged_context', e.currentTarget.checked)} />
          Keep passages flagged as prompt injection out of the context
        </label>
      </fieldset>
      <label class="check">
        <input type="checkbox" checked={form.is_active} onChange={(e) => setForm('is_active', e.currentTarget.checked)} />
        Active (inactive chatbots refuse to chat)
      </label>

      <Show when={serverError()}><ErrorAlert error={serverError()} /></Show>
      <div class="actions save-row">
        <p role="status" class="muted">{status()}</p>
        <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : 'Save'}</button>
      </div>
    </form>
  )
}
