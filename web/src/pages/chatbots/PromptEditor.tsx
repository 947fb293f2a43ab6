/**
 * The system prompt: written by hand, started from a template (the type's default or one of the person's own), or
 * improved by a model. A template or suggestion replaces the text only when the person says so, and can be undone.
 */
import { createResource, createSignal, For, Show } from 'solid-js'
import { A } from '@solidjs/router'
import { api, ApiError } from '../../api.ts'
import { ErrorAlert, Field } from '../../ui.tsx'
import { FieldError } from './FieldError.tsx'
import { BASE, CHATBOT_TYPES, TYPE_LABELS, type ChatbotType, type Templates } from './types.ts'

export function PromptEditor(props: { value: string; onChange: (v: string) => void; type: ChatbotType; model: string; error: string | undefined }) {
  const [templates] = createResource(() => api<Templates>('GET', `${BASE}/templates`))
  const [choice, setChoice] = createSignal('')
  const [previous, setPrevious] = createSignal<string | null>(null)
  const [suggestion, setSuggestion] = createSignal<string | null>(null)
  const [improving, setImproving] = createSignal(false)
  const [improveError, setImproveError] = createSignal<unknown>(null)

  /** The chosen template's text; '' picks the current type's default. */
  function templateText(value: string): string | undefined {
    const t = templates.latest
    if (!t) return undefined
    if (value.startsWith('custom:')) return t.custom.find((c) => c.id === value.slice(7))?.content
    const type = (value.startsWith('default:') ? value.slice(8) : props.type) as ChatbotType
    return t.defaults[type]?.content
  }

  function replace(text: string) {
    setPrevious(props.value)
    props.onChange(text)
  }

  async function improve() {
    setImproving(true)
    setImproveError(null)
    setSuggestion(null)
    try {
      const r = await api<{ improved: string }>('POST', `${BASE}/templates/improve`, { body: { prompt: props.value, model: props.model } })
      setSuggestion(r.improved || null)
      if (!r.improved) setImproveError(new ApiError(0, 'The model returned no suggestion. Try again or pick another model.'))
    } catch (err) {
      setImproveError(err)
    } finally {
      setImproving(false)
    }
  }

  return (
    <div class="prompt-editor">
      <div class="row template-pick">
        <Field label="Start from a template" for="bot-template">
          <select id="bot-template" value={choice()} onChange={(e) => setChoice(e.currentTarget.value)} disabled={!templates.latest}>
            <option value="">Default for {TYPE_LABELS[props.type]}</option>
            <optgroup label="Defaults of other types">
              <For each={CHATBOT_TYPES.filter((t) => t !== props.type)}>{(t) => <option value={`default:${t}`}>{TYPE_LABELS[t]}</option>}</For>
            </optgroup>
            <Show when={templates.latest?.custom.length}>
              <optgroup label="Your templates">
                <For each={templates.latest?.custom}>{(c) => <option value={`custom:${c.id}`}>{c.name}</option>}</For>
              </optgroup>
            </Show>
          </select>
        </Field>
        <div class="field shrink">
          <button
            type="button"
            class="secondary"
            disabled={!templates.latest}
            onClick={() => {
              const text = templateText(choice())
              if (text !== undefined) replace(text)
            }}
          >
            Use template
          </button>
        </div>
      </div>
      <Show when={templates.error}><ErrorAlert error={templates.error} /></Show>
      <Field label="System prompt" for="bot-system_prompt" hint="{{company}} and {{date}} are filled in when the chatbot answers.">
        <textarea
          id="bot-system_prompt"
          class="prompt"
          maxLength={20000}
          value={props.value}
          onInput={(e) => props.onChange(e.currentTarget.value)}
          aria-invalid={props.error ? true : undefined}
          aria-describedby={`bot-system_prompt-hint${props.error ? ' bot-system_prompt-error' : ''}`}
        />
        <FieldError id="bot-system_prompt" error={props.error} />
      </Field>
      <div class="actions prompt-actions">
        <Show when={previous() !== null}>
          <button
            type="button"
            class="secondary small"
            onClick={() => {
              props.onChange(previous() ?? '')
              setPrevious(null)
            }}
          >
            Undo prompt change
          </button>
        </Show>
        <A class="button secondary small" href="/chatbots/templates">Manage templates</A>
        <button type="button" class="secondary small" disabled={improving() || !props.value.trim() || !props.model} onClick={() => void improve()}>
          {improving() ? 'Improving…' : 'Improve this prompt'}
        </button>
      </div>
      <Show when={improveError()}>
        <ErrorAlert error={improveError()} />
      </Show>
      <Show when={suggestion()}>
        {(text) => (
          <div class="suggestion" role="region" aria-labelledby="suggestion-title">
            <h3 id="suggestion-title">Suggested prompt</h3>
            <pre>{text()}</pre>
            <div class="actions">
              <button type="button" class="secondary small" onClick={() => setSuggestion(null)}>Discard</button>
              <button
                type="button"
                class="small"
                onClick={() => {
                  replace(text())
                  setSuggestion(null)
                }}
              >
                Use suggestion
              </button>
            </div>
          </div>
        )}
      </Show>
    </div>
  )
}
