/**
 * Create or change an agent: name, model, instructions, tools and its limits. On an edit only what changed is sent.
 * The server's 400 names the field it refuses (`error.param`), and its message is shown beside that field.
 */
import { createEffect, createResource, createSignal, Show } from 'solid-js'
import { createStore, produce, reconcile, type SetStoreFunction } from 'solid-js/store'
import { api } from '../../api.ts'
import { ErrorAlert, Field } from '../../ui.tsx'
import { FieldError } from '../chatbots/FieldError.tsx'
import { ModelSelect } from '../chatbots/ModelSelect.tsx'
import type { Collection, Model } from '../chatbots/types.ts'
import { SERVERS, type McpServer } from '../mcp/types.ts'
import { changed, errorsFromApi, fromAgent, hasErrors, newTool, noErrors, toBody, type AgentFormState, type FieldKey, type FormErrors } from './form.ts'
import { ToolsEditor } from './ToolsEditor.tsx'
import { AGENTS, type Agent } from './types.ts'

const list = <T,>(path: string) => api<{ data: T[] }>('GET', path).then((r) => r.data)

export interface AgentFormProps {
  agent: Agent | null
  onSaved: (agent: Agent) => void
  onCancel?: () => void
  /** Told whether the form differs from the saved agent (the test run uses the saved one). */
  onDirty?: (dirty: boolean) => void
}

export function AgentForm(props: AgentFormProps) {
  const [form, setForm] = createStore<AgentFormState>(fromAgent(props.agent))
  const [errors, setErrors] = createSignal<FormErrors>(noErrors())
  const [error, setError] = createSignal<unknown>(null)
  const [status, setStatus] = createSignal('')
  const [busy, setBusy] = createSignal(false)
  const [models] = createResource(() => list<Model>('/api-internal/v1/llm/models'))
  const [collections] = createResource(() => list<Collection>('/api-internal/v1/rag/collections'))
  const [servers] = createResource(() => list<McpServer>(SERVERS))
  const prefix = props.agent ? 'agent' : 'new-agent'
  createEffect(() => props.onDirty?.(Object.keys(changed(toBody(form).body, props.agent)).length > 0))

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    setStatus('')
    setError(null)
    const { body, errors: found } = toBody(form)
    setErrors(found)
    if (hasErrors(found)) return focusInvalid()
    const patch = changed(body, props.agent)
    if (!Object.keys(patch).length) return setStatus('No changes to save.')
    setBusy(true)
    try {
      const saved = props.agent ? await api<Agent>('PATCH', `${AGENTS}/${props.agent.id}`, { body: patch }) : await api<Agent>('POST', AGENTS, { body })
      setForm(reconcile(fromAgent(saved)))
      setStatus('Saved.')
      props.onSaved(saved)
    } catch (err) {
      const named = errorsFromApi(err)
      if (named) {
        setErrors(named)
        focusInvalid()
      } else setError(err)
    } finally {
      setBusy(false)
    }
  }

  /** Moves focus to the first field with a message, so keyboard and screen reader users land on it. */
  function focusInvalid() {
    queueMicrotask(() => document.querySelector<HTMLElement>('.agent-form [aria-invalid="true"], .agent-form .tool-card.invalid :is(input, textarea, select, button)')?.focus())
  }

  const fieldError = (key: FieldKey) => errors().fields[key]
  const control = bindControls(prefix, form, setForm, fieldError)

  return (
    <form class="card agent-form" aria-labelledby={`${prefix}-title`} onSubmit={(e) => void submit(e)} novalidate>
      <h2 id={`${prefix}-title`}>Settings</h2>
      <div class="row">
        <Field label="Name" for={`${prefix}-name`}>
          <input {...control('name')} maxLength={200} autocomplete="off" />
          <FieldError id={`${prefix}-name`} error={fieldError('name')} />
        </Field>
        <div>
          <ModelSelect id={`${prefix}-model`} models={models} value={form.model} onChange={(m) => setForm('model', m)} />
          <FieldError id={`${prefix}-model`} error={fieldError('model')} />
        </div>
      </div>
      <Field label="Instructions" for={`${prefix}-instructions`} hint="The system prompt: what the agent is for, and how it should use its tools.">
        <textarea {...control('instructions', true)} rows={6} maxLength={32000} />
        <FieldError id={`${prefix}-instructions`} error={fieldError('instructions')} />
      </Field>
      <ToolsEditor
        tools={form.tools}
        errors={errors().tools}
        error={fieldError('tools')}
        collections={collections}
        servers={servers}
        add={(type) => setForm('tools', form.tools.length, newTool(type))}
        update={(i, patch) => setForm('tools', i, patch)}
        remove={(i) => setForm('tools', produce((tools) => void tools.splice(i, 1)))}
      />
      <Limits prefix={prefix} control={control} error={fieldError} />
      <label class="check">
        <input type="checkbox" checked={form.confidential_only} onChange={(e) => setForm('confidential_only', e.currentTarget.checked)} />
        Confidential models only (TEE): runs refuse any other model, whoever runs the agent
      </label>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <div class="actions">
        <p role="status" class="muted">{status()}</p>
        <Show when={props.onCancel}><button type="button" class="secondary" onClick={() => props.onCancel?.()}>Cancel</button></Show>
        <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : props.agent ? 'Save' : 'Create agent'}</button>
      </div>
    </form>
  )
}

type TextKey = Exclude<FieldKey, 'tools' | 'model'>
type Control = (key: TextKey, hint?: boolean) => Record<string, unknown>

/**
 * The attributes that tie a text control to the form: value, input, and the invalid state and descriptions (hint,
 * error) screen readers announce. Getters keep the spread reactive: Solid reads them when the store or errors change.
 */
function bindControls(prefix: string, form: AgentFormState, setForm: SetStoreFunction<AgentFormState>, error: (key: FieldKey) => string | undefined): Control {
  return (key, hint = false) => ({
    id: `${prefix}-${key}`,
    get value() {
      return form[key]
    },
    onInput: (e: InputEvent & { currentTarget: HTMLInputElement | HTMLTextAreaElement }) => setForm(key, e.currentTarget.value),
    get 'aria-invalid'() {
      return error(key) ? 'true' : undefined
    },
    get 'aria-describedby'() {
      return [hint ? `${prefix}-${key}-hint` : '', error(key) ? `${prefix}-${key}-error` : ''].filter(Boolean).join(' ') || undefined
    },
  })
}

/** How far one run may go: steps, cost and the model's temperature. */
function Limits(props: { prefix: string; control: Control; error: (key: FieldKey) => string | undefined }) {
  const id = (key: TextKey) => `${props.prefix}-${key}`
  return (
    <div class="row">
      <Field label="Max steps" for={id('max_steps')} hint="Model calls one run may make (1 to 50).">
        <input {...props.control('max_steps', true)} type="number" min="1" max="50" step="1" />
        <FieldError id={id('max_steps')} error={props.error('max_steps')} />
      </Field>
      <Field label="Cost limit (USD)" for={id('max_cost_usd')} hint="A run stops before it could cost more; empty: your budgets only.">
        <input {...props.control('max_cost_usd', true)} type="number" inputmode="decimal" min="0" step="0.01" />
        <FieldError id={id('max_cost_usd')} error={props.error('max_cost_usd')} />
      </Field>
      <Field label="Temperature" for={id('temperature')} hint="0 to 2; empty: the model's default.">
        <input {...props.control('temperature', true)} type="number" inputmode="decimal" min="0" max="2" step="0.1" />
        <FieldError id={id('temperature')} error={props.error('temperature')} />
      </Field>
    </div>
  )
}
