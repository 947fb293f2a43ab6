/**
 * Create or edit a prompt template. Saving a changed template makes a new version (the server numbers it); a rename
 * or a new description alone does not. `load` replaces what is being edited (an older version, to start from it).
 */
import { createEffect, createSignal, Show } from 'solid-js'
import { createStore, produce, reconcile } from 'solid-js/store'
import { api } from '../../api.ts'
import { ErrorAlert, Field } from '../../ui.tsx'
import { FieldError } from '../chatbots/FieldError.tsx'
import { MessagesEditor, VariablesEditor } from './Editors.tsx'
import { changed, emptyForm, errorsFromApi, fromPrompt, hasErrors, newMessage, newVariable, noErrors, toBody, type FormErrors, type PromptFormState } from './form.ts'
import { PROMPTS, type Prompt } from './types.ts'

export interface PromptFormProps {
  prompt: Prompt | null
  /** A state to edit instead of the saved prompt's (changes identity to apply again). */
  load?: PromptFormState | null
  onSaved: (prompt: Prompt, newVersion: boolean) => void
  onCancel?: () => void
}

export function PromptForm(props: PromptFormProps) {
  const [form, setForm] = createStore<PromptFormState>(props.prompt ? fromPrompt(props.prompt) : emptyForm())
  const [errors, setErrors] = createSignal<FormErrors>(noErrors())
  const [error, setError] = createSignal<unknown>(null)
  const [status, setStatus] = createSignal('')
  const [busy, setBusy] = createSignal(false)
  createEffect(() => {
    if (props.load) {
      setForm(reconcile(props.load))
      setStatus('Loaded an older version: save to make it the latest.')
    }
  })

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    setStatus('')
    setError(null)
    const { body, errors: found } = toBody(form)
    setErrors(found)
    if (hasErrors(found)) return focusInvalid()
    const patch = changed(body, props.prompt)
    if (!Object.keys(patch).length) return setStatus('No changes to save.')
    setBusy(true)
    try {
      const before = props.prompt?.version
      const saved = props.prompt ? await api<Prompt>('PATCH', `${PROMPTS}/${props.prompt.id}`, { body: patch }) : await api<Prompt>('POST', PROMPTS, { body })
      setForm(reconcile(fromPrompt(saved)))
      setStatus(saved.version !== before ? `Saved as version ${saved.version}.` : 'Saved.')
      props.onSaved(saved, saved.version !== before)
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

  function focusInvalid() {
    queueMicrotask(() => document.querySelector<HTMLElement>('.prompt-form [aria-invalid="true"]')?.focus())
  }

  const fieldError = (key: keyof FormErrors['fields']) => errors().fields[key]
  const described = (key: 'name' | 'description' | 'instructions', hint: boolean) =>
    [hint ? `pf-${key}-hint` : '', fieldError(key) ? `pf-${key}-error` : ''].filter(Boolean).join(' ') || undefined

  return (
    <form class="card prompt-form" aria-labelledby="pf-title" onSubmit={(e) => void submit(e)} novalidate>
      <h2 id="pf-title">Template</h2>
      <Show when={props.prompt}>
        <p class="hint">Saving a changed template makes a new version; responses that name an older version keep getting it.</p>
      </Show>
      <div class="row">
        <Field label="Name" for="pf-name">
          <input id="pf-name" value={form.name} maxLength={200} autocomplete="off" onInput={(e) => setForm('name', e.currentTarget.value)}
            aria-invalid={fieldError('name') ? 'true' : undefined} aria-describedby={described('name', false)} />
          <FieldError id="pf-name" error={fieldError('name')} />
        </Field>
        <Field label="Description" for="pf-description">
          <input id="pf-description" value={form.description} maxLength={2000} onInput={(e) => setForm('description', e.currentTarget.value)}
            aria-invalid={fieldError('description') ? 'true' : undefined} aria-describedby={described('description', false)} />
          <FieldError id="pf-description" error={fieldError('description')} />
        </Field>
      </div>
      <Field label="Instructions" for="pf-instructions" hint="The system prompt, with {{variables}}.">
        <textarea id="pf-instructions" rows={6} maxLength={100000} value={form.instructions} onInput={(e) => setForm('instructions', e.currentTarget.value)}
          aria-invalid={fieldError('instructions') ? 'true' : undefined} aria-describedby={described('instructions', true)} />
        <FieldError id="pf-instructions" error={fieldError('instructions')} />
      </Field>
      <MessagesEditor
        items={form.messages}
        errors={errors().messages}
        error={fieldError('messages')}
        add={() => setForm('messages', form.messages.length, newMessage())}
        update={(i, patch) => setForm('messages', i, patch)}
        remove={(i) => setForm('messages', produce((list) => void list.splice(i, 1)))}
      />
      <VariablesEditor
        items={form.variables}
        errors={errors().variables}
        error={fieldError('variables')}
        add={() => setForm('variables', form.variables.length, newVariable())}
        update={(i, patch) => setForm('variables', i, patch)}
        remove={(i) => setForm('variables', produce((list) => void list.splice(i, 1)))}
      />
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <div class="actions">
        <p role="status" class="muted">{status()}</p>
        <Show when={props.onCancel}><button type="button" class="secondary" onClick={() => props.onCancel?.()}>Cancel</button></Show>
        <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : props.prompt ? 'Save' : 'Create prompt'}</button>
      </div>
    </form>
  )
}
