/**
 * Add or change a provider. The API key field is write-only: it starts empty, an empty field keeps the stored key,
 * and nothing the server returns ever contains the key.
 */
import { createSignal, Show } from 'solid-js'
import { api, ApiError } from '../../api.ts'
import { ErrorAlert, Field, FieldError, fieldMessage } from '../../ui.tsx'
import { PROVIDERS, type ProviderKind, type ProviderView } from './types.ts'

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/
const URL_START = /^https?:\/\//
export const PRIVATEMODE_DEFAULT_URL = 'http://localhost:8080/v1'

type Errors = Partial<Record<'name' | 'base_url' | 'api_key', string>>

export function ProviderForm(props: { editing: ProviderView | null; onSaved: (p: ProviderView) => void; onCancel: () => void }) {
  const editing = props.editing
  const [name, setName] = createSignal(editing?.name ?? '')
  const [kind, setKind] = createSignal<ProviderKind>(editing?.kind ?? 'privatemode')
  const [baseUrl, setBaseUrl] = createSignal(editing?.base_url ?? '')
  const [apiKey, setApiKey] = createSignal('')
  const [removeKey, setRemoveKey] = createSignal(false)
  const [active, setActive] = createSignal(editing?.is_active ?? true)
  const [errors, setErrors] = createSignal<Errors>({})
  const [error, setError] = createSignal<unknown>(null)
  const [busy, setBusy] = createSignal(false)

  /** A field's message goes as soon as the field is changed again. */
  function clearError(key: keyof Errors) {
    if (!errors()[key]) return
    const next = { ...errors() }
    delete next[key]
    setErrors(next)
  }

  function validate(): Errors {
    const e: Errors = {}
    if (!editing && !NAME.test(name())) e.name = 'Use 1 to 63 lower-case letters, digits, "-" or "_", starting with a letter or digit.'
    const url = baseUrl().trim()
    if (url && !URL_START.test(url)) e.base_url = 'The URL must start with http:// or https://.'
    if (!url && (editing || kind() === 'openai-compatible')) e.base_url = 'Enter the base URL, ending in /v1.'
    return e
  }

  async function submit(ev: SubmitEvent) {
    ev.preventDefault()
    const e = validate()
    setErrors(e)
    setError(null)
    if (Object.keys(e).length) return
    setBusy(true)
    try {
      const url = baseUrl().trim()
      let saved: ProviderView
      if (editing) {
        const body: Record<string, unknown> = { is_active: active() }
        if (url !== editing.base_url) body.base_url = url
        if (removeKey()) body.api_key = null
        else if (apiKey()) body.api_key = apiKey()
        saved = await api<ProviderView>('PATCH', `${PROVIDERS}/${encodeURIComponent(editing.name)}`, { body })
      } else {
        const body: Record<string, unknown> = { name: name(), kind: kind(), is_active: active() }
        if (url) body.base_url = url
        if (apiKey()) body.api_key = apiKey()
        saved = await api<ProviderView>('POST', PROVIDERS, { body })
      }
      // The key leaves the page's memory as soon as it is stored.
      setApiKey('')
      props.onSaved(saved)
    } catch (err) {
      // A message about one field goes next to that field; anything else above the buttons.
      if (err instanceof ApiError && (err.param === 'name' || err.param === 'base_url' || err.param === 'api_key')) setErrors({ [err.param]: fieldMessage(err, { base_url: 'Base URL', api_key: 'API key' }) })
      else setError(err)
    } finally {
      setBusy(false)
    }
  }

  const describe = (id: string, err: string | undefined, hint = true) =>
    [err ? `${id}-error` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined

  return (
    <form class="card form-grid provider-form" onSubmit={(e) => void submit(e)} aria-labelledby="provider-form-title" novalidate>
      <h2 id="provider-form-title">{editing ? `Edit provider ${editing.name}` : 'Add a provider'}</h2>
      <div>
        <Field label="Name" for="pf-name" hint={editing ? 'The name cannot be changed.' : 'Lower-case letters, digits, "-" and "_".'}>
          <input
            id="pf-name"
            ref={(el) => !editing && queueMicrotask(() => el.focus())}
            value={name()}
            disabled={!!editing}
            autocomplete="off"
            onInput={(e) => { setName(e.currentTarget.value); clearError('name') }}
            aria-invalid={errors().name ? 'true' : undefined}
            aria-describedby={describe('pf-name', errors().name)}
          />
          <FieldError id="pf-name" error={errors().name} />
        </Field>
        <Field
          label="Kind"
          for="pf-kind"
          hint={
            kind() === 'privatemode'
              ? 'Confidential: models run in a TEE behind privatemode-proxy, which attests and encrypts.'
              : 'Not confidential: prompts and answers reach this server as they are; its models are marked so.'
          }
        >
          <select id="pf-kind" value={kind()} disabled={!!editing} onChange={(e) => { setKind(e.currentTarget.value as ProviderKind); clearError('base_url') }} aria-describedby="pf-kind-hint">
            <option value="privatemode">privatemode (confidential, TEE)</option>
            <option value="openai-compatible">openai-compatible</option>
          </select>
        </Field>
      </div>
      <Field
        label="Base URL"
        for="pf-url"
        hint={kind() === 'privatemode' && !editing ? `Ends in /v1. Empty: ${PRIVATEMODE_DEFAULT_URL}` : 'Ends in /v1, e.g. http://vllm:8000/v1'}
      >
        <input
          id="pf-url"
          ref={(el) => editing && queueMicrotask(() => el.focus())}
          type="url"
          inputmode="url"
          value={baseUrl()}
          autocomplete="off"
          onInput={(e) => { setBaseUrl(e.currentTarget.value); clearError('base_url') }}
          aria-invalid={errors().base_url ? 'true' : undefined}
          aria-describedby={describe('pf-url', errors().base_url)}
        />
        <FieldError id="pf-url" error={errors().base_url} />
      </Field>
      <Field
        label="API key"
        for="pf-key"
        hint={
          editing
            ? editing.has_api_key
              ? 'A key is stored. Leave empty to keep it; it is never shown.'
              : 'No key is stored. Leave empty if the provider needs none.'
            : 'Stored encrypted and never shown again. Leave empty if the provider needs none.'
        }
      >
        <input
          id="pf-key"
          type="password"
          value={apiKey()}
          autocomplete="new-password"
          disabled={removeKey()}
          onInput={(e) => { setApiKey(e.currentTarget.value); clearError('api_key') }}
          aria-invalid={errors().api_key ? 'true' : undefined}
          aria-describedby={describe('pf-key', errors().api_key)}
        />
        <FieldError id="pf-key" error={errors().api_key} />
      </Field>
      <Show when={editing?.has_api_key}>
        <label class="check">
          <input type="checkbox" checked={removeKey()} onChange={(e) => setRemoveKey(e.currentTarget.checked)} />
          Remove the stored API key
        </label>
      </Show>
      <label class="check">
        <input type="checkbox" checked={active()} onChange={(e) => setActive(e.currentTarget.checked)} />
        Active (its models are offered)
      </label>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <div class="form-actions">
        <button type="button" class="secondary" onClick={() => props.onCancel()}>Cancel</button>
        <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : editing ? 'Save changes' : 'Add provider'}</button>
      </div>
    </form>
  )
}
