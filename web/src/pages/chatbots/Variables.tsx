/**
 * Values for the system prompt's `{{name}}` placeholders (the chatbot's `prompt_variables`): one field per
 * placeholder the prompt uses, so `{{company}}` has a field the moment the prompt mentions it; `{{date}}` is
 * today's date and needs none. Saved values the prompt no longer uses are listed, to keep or remove.
 */
import { createSignal, For, Show } from 'solid-js'
import { Plus, Trash } from '../../icons.ts'
import { describedBy, Field } from '../../ui.tsx'

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/
const RESERVED = ['__proto__', 'constructor', 'prototype', 'date']
/** What a placeholder without a value becomes (the server's defaults). */
const DEFAULTS: Record<string, string> = { company: 'our organisation' }

export const placeholders = (prompt: string) => [...new Set([...prompt.matchAll(PLACEHOLDER)].map((m) => m[1] ?? ''))].filter((n) => n && n !== 'date')

export function VariablesEditor(props: { prompt: string; values: Record<string, string>; onChange: (values: Record<string, string>) => void; error?: string | undefined }) {
  const [newName, setNewName] = createSignal('')
  const [nameError, setNameError] = createSignal<string | undefined>()
  const used = () => placeholders(props.prompt)
  const unused = () => Object.keys(props.values).filter((k) => !used().includes(k))
  const set = (name: string, value: string) => props.onChange({ ...props.values, [name]: value })
  const remove = (name: string) => {
    const next = { ...props.values }
    delete next[name]
    props.onChange(next)
  }
  function add() {
    const name = newName().trim()
    if (!NAME.test(name) || RESERVED.includes(name)) return setNameError('Letters, digits and _, starting with a letter or _ (not "date").')
    if (name in props.values || used().includes(name)) return setNameError(`{{${name}}} is already listed.`)
    setNameError(undefined)
    setNewName('')
    set(name, '')
  }
  return (
    <fieldset class="variables" data-testid="prompt-variables">
      <legend>Prompt variables</legend>
      <p class="hint">
        Values for the <code>{'{{name}}'}</code> placeholders in the system prompt. <code>{'{{date}}'}</code> is always today's date.
      </p>
      <Show when={used().length === 0 && unused().length === 0}>
        <p class="muted small-text">The prompt uses no placeholders.</p>
      </Show>
      <div class="form-grid">
        <For each={used()}>
          {(name) => (
            <Field label={`{{${name}}}`} for={`var-${name}`} hint={DEFAULTS[name] ? `Empty: “${DEFAULTS[name]}”.` : 'Empty: the placeholder is sent as written.'}>
              <input id={`var-${name}`} maxLength={2000} value={props.values[name] ?? ''} placeholder={DEFAULTS[name] ?? ''}
                onInput={(e) => set(name, e.currentTarget.value)} aria-describedby={describedBy(`var-${name}`, { hint: true })} />
            </Field>
          )}
        </For>
        <For each={unused()}>
          {(name) => (
            <Field label={`{{${name}}}`} for={`var-${name}`} hint="Not used by the prompt.">
              <div class="input-with-action">
                <input id={`var-${name}`} maxLength={2000} value={props.values[name] ?? ''} onInput={(e) => set(name, e.currentTarget.value)} />
                <button type="button" class="secondary icon" aria-label={`Remove {{${name}}}`} onClick={() => remove(name)}><Trash /></button>
              </div>
            </Field>
          )}
        </For>
      </div>
      <div class="row add-variable">
        <Field label="Another variable" for="var-new" error={nameError()}>
          <input id="var-new" value={newName()} placeholder="e.g. product" onInput={(e) => setNewName(e.currentTarget.value)}
            onKeyDown={(e) => { if (e.key === 'Enter') { e.preventDefault(); add() } }}
            aria-invalid={nameError() ? 'true' : undefined} aria-describedby={describedBy('var-new', { error: nameError() })} />
        </Field>
        <div class="field shrink"><button type="button" class="secondary" onClick={add}><Plus /> Add</button></div>
      </div>
      <Show when={props.error}><p class="field-error">{props.error}</p></Show>
    </fieldset>
  )
}
