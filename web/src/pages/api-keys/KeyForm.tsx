import { createSignal, For, Show } from 'solid-js'
import { ApiError } from '../../api.ts'
import { aboutField, ErrorAlert, errorFor, Field, FieldError } from '../../ui.tsx'
import { SCOPES, type ApiKey, type KeyInput, type Scope } from './types.tsx'
import type { Lookups, Named } from './lookups.ts'


/** Splits a textarea's lines (or commas) into distinct, trimmed entries. */
const lines = (text: string) => [...new Set(text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean))]

/** ISO instant to the `datetime-local` input's local wall-clock form, and back. */
function toLocalInput(iso: string | null): string {
  if (!iso) return ''
  const d = new Date(iso)
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16)
}
const fromLocalInput = (value: string) => (value ? new Date(value).toISOString() : null)

const LIMITS = [
  ['rate_limit_per_minute', 'Requests per minute'],
  ['rate_limit_per_hour', 'Requests per hour'],
  ['rate_limit_per_day', 'Requests per day'],
  ['rate_limit_tokens_per_minute', 'Tokens per minute'],
] as const
type LimitField = (typeof LIMITS)[number][0]

/** A list of checkboxes over named things, with the ids already chosen kept even when the list lacks them. */
function Choices(props: { legend: string; hint: string; options: Named[]; chosen: string[]; onChange: (ids: string[]) => void; invalid: boolean }) {
  const all = () => {
    const known = new Set(props.options.map((o) => o.id))
    return [...props.options, ...props.chosen.filter((id) => !known.has(id)).map((id) => ({ id, name: id }))]
  }
  const toggle = (id: string, on: boolean) => props.onChange(on ? [...props.chosen, id] : props.chosen.filter((c) => c !== id))
  return (
    <fieldset class="choices" aria-invalid={props.invalid}>
      <legend>{props.legend}</legend>
      <p class="hint">{props.hint}</p>
      <For each={all()}>
        {(o) => (
          <label class="check">
            <input type="checkbox" checked={props.chosen.includes(o.id)} onChange={(e) => toggle(o.id, e.currentTarget.checked)} />
            {o.name}
          </label>
        )}
      </For>
    </fieldset>
  )
}

/**
 * Create or edit a key: name, scopes, restrictions, rate limits and expiry. Editing sends only what changed, so an
 * untouched past expiry (an expired key being renamed) is not re-validated. Server errors appear above the buttons.
 */
/** The fields an error can be shown beside, in words (the API's messages name them by their JSON names). */
const FIELD_LABELS: Record<string, string> = {
  name: 'Name',
  scopes: 'Scopes',
  allowed_endpoints: 'Allowed endpoints',
  allowed_ips: 'Allowed IP addresses',
  allowed_origins: 'Allowed web origins',
  expires_at: 'Expiry',
  rate_limit_per_minute: 'Requests per minute',
  rate_limit_per_hour: 'Requests per hour',
  rate_limit_per_day: 'Requests per day',
  rate_limit_tokens_per_minute: 'Tokens per minute',
}

export function KeyForm(props: { initial?: ApiKey; lookups: Lookups; submitLabel: string; onSubmit: (body: KeyInput) => Promise<unknown>; onCancel?: () => void }) {
  const init = props.initial
  const [name, setName] = createSignal(init?.name ?? '')
  const [scopes, setScopes] = createSignal<Scope[]>(init?.scopes ?? ['llm', 'rag:read', 'chatbots', 'plugins'])
  const [models, setModels] = createSignal<string[]>(init?.allowed_models ?? [])
  const [chatbots, setChatbots] = createSignal<string[]>(init?.allowed_chatbots ?? [])
  const [collections, setCollections] = createSignal<string[]>(init?.allowed_collections ?? [])
  const [endpoints, setEndpoints] = createSignal((init?.allowed_endpoints ?? []).join('\n'))
  const [ips, setIps] = createSignal((init?.allowed_ips ?? []).join('\n'))
  const [origins, setOrigins] = createSignal((init?.allowed_origins ?? []).join('\n'))
  const [limits, setLimits] = createSignal<Record<LimitField, string>>({
    rate_limit_per_minute: String(init?.rate_limit_per_minute ?? ''),
    rate_limit_per_hour: String(init?.rate_limit_per_hour ?? ''),
    rate_limit_per_day: String(init?.rate_limit_per_day ?? ''),
    rate_limit_tokens_per_minute: String(init?.rate_limit_tokens_per_minute ?? ''),
  })
  const [expires, setExpires] = createSignal(toLocalInput(init?.expires_at ?? null))
  const [confidentialOnly, setConfidentialOnly] = createSignal(init?.confidential_only ?? false)
  const [dlpMode, setDlpMode] = createSignal<ApiKey['dlp_mode']>(init?.dlp_mode ?? null)
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)

  // The lists are a convenience; the server has the last word on what a key may reach.
  const modelList = () => props.lookups.models()
  const chatbotList = () => props.lookups.chatbots()
  const collectionList = () => props.lookups.collections()

  /** Which field the server (or the form) objected to, from ApiError.param such as "allowed_ips/0". */
  const invalid = (field: string) => {
    const e = error()
    return e instanceof ApiError && (e.param ?? '').split(/[/.[]/)[0] === field
  }

  /** A check of the form's own: its message goes beside `param`'s field, like the server's. */
  const fail = (message: string, param: string) => new ApiError(400, message, 'validation_failed', param)
  const shown = (field: string) => errorFor(error(), field, FIELD_LABELS)

  function build(): KeyInput | ApiError {
    const body: KeyInput = {
      name: name().trim(),
      scopes: scopes(),
      allowed_models: models(),
      allowed_chatbots: chatbots(),
      allowed_collections: collections(),
      allowed_endpoints: lines(endpoints()),
      allowed_ips: lines(ips()),
      allowed_origins: lines(origins()),
      confidential_only: confidentialOnly(),
      dlp_mode: dlpMode(),
      // The input has minute precision: untouched, it keeps the stored instant exactly.
      expires_at: expires() === toLocalInput(init?.expires_at ?? null) ? (init?.expires_at ?? null) : fromLocalInput(expires()),
    }
    if (!body.name) return fail('Give the key a name.', 'name')
    for (const [field, label] of LIMITS) {
      const raw = limits()[field].trim()
      if (raw === '') body[field] = null
      else if (/^[1-9]\d*$/.test(raw)) body[field] = Number(raw)
      else return fail(`${label} must be a whole number of at least 1, or empty for no limit.`, field)
    }
    if (body.expires_at && body.expires_at !== init?.expires_at && new Date(body.expires_at).getTime() <= Date.now()) return fail('The expiry must be in the future.', 'expires_at')
    if (!init) {
      // A new key: leave out what is empty, so the server's defaults apply.
      return Object.fromEntries(
        Object.entries(body).filter(([k, v]) => k === 'name' || k === 'scopes' || (v !== null && !(Array.isArray(v) && v.length === 0))),
      ) as KeyInput
    }
    const changed = Object.entries(body).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(init[k as keyof ApiKey] ?? null))
    return Object.fromEntries(changed) as KeyInput
  }

  async function submit(e: SubmitEvent) {
    e.preventDefault()
    const body = build()
    if (body instanceof ApiError) return setError(body)
    if (Object.keys(body).length === 0) return props.onCancel?.()
    setBusy(true)
    setError(null)
    try {
      await props.onSubmit(body)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  const textarea = (id: string, field: string, label: string, hint: string, value: () => string, set: (v: string) => void) => (
    <Field label={label} for={id} hint={hint} error={shown(field)}>
      <textarea id={id} rows="3" aria-describedby={`${id}-hint${shown(field) ? ` ${id}-error` : ''}`} aria-invalid={invalid(field)} value={value()} onInput={(e) => set(e.currentTarget.value)} />
    </Field>
  )

  return (
    <form class="stack key-form" onSubmit={(e) => void submit(e)} novalidate>
      <Field label="Name" for="key-name" hint="Something that tells you where the key is used, e.g. “billing service”." error={shown('name')}>
        <input id="key-name" required maxlength="100" aria-describedby={`key-name-hint${shown('name') ? ' key-name-error' : ''}`} aria-invalid={invalid('name')} value={name()} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>

      <fieldset class="choices" aria-invalid={invalid('scopes')}>
        <legend>Scopes</legend>
        <p class="hint">What the key may be used for.</p>
        <FieldError id="key-scopes" error={shown('scopes')} />
        <For each={SCOPES}>
          {(s) => (
            <label class="check">
              <input
                type="checkbox"
                checked={scopes().includes(s.id)}
                onChange={(e) => setScopes(e.currentTarget.checked ? [...scopes(), s.id] : scopes().filter((x) => x !== s.id))}
              />
              {s.label}
            </label>
          )}
        </For>
      </fieldset>

      <div class="form-columns">
        <Choices legend="Allowed models" hint="None ticked: every model." options={modelList() ?? []} chosen={models()} onChange={setModels} invalid={invalid('allowed_models')} />
        <Show when={(chatbotList()?.length ?? 0) > 0 || chatbots().length > 0}>
          <Choices legend="Allowed chatbots" hint="None ticked: all of yours." options={chatbotList() ?? []} chosen={chatbots()} onChange={setChatbots} invalid={invalid('allowed_chatbots')} />
        </Show>
        <Show when={(collectionList()?.length ?? 0) > 0 || collections().length > 0}>
          <Choices legend="Allowed document collections" hint="None ticked: all of yours." options={collectionList() ?? []} chosen={collections()} onChange={setCollections} invalid={invalid('allowed_collections')} />
        </Show>
      </div>

      <div class="form-columns">
        {textarea('key-endpoints', 'allowed_endpoints', 'Allowed endpoints', 'One path under /api/v1 per line, e.g. /chat/completions. Empty: all.', endpoints, setEndpoints)}
        {textarea('key-ips', 'allowed_ips', 'Allowed IP addresses', 'One address or CIDR range per line, e.g. 10.0.0.0/8. Empty: any.', ips, setIps)}
        {textarea('key-origins', 'allowed_origins', 'Allowed web origins', 'For browser use, e.g. https://example.com. Empty: none needed.', origins, setOrigins)}
      </div>

      <fieldset>
        <legend>Confidentiality</legend>
        <label class="check">
          <input type="checkbox" checked={confidentialOnly()} onChange={(e) => setConfidentialOnly(e.currentTarget.checked)} />
          Confidential models only (served in a TEE)
        </label>
        <Field label="Data-loss prevention" for="key-dlp" hint="For requests to providers outside the TEE. A key can only be stricter than its owner's policy.">
          <select id="key-dlp" aria-describedby="key-dlp-hint" value={dlpMode() ?? ''} onChange={(e) => setDlpMode((e.currentTarget.value || null) as ApiKey['dlp_mode'])}>
            <option value="">As the owner's policy</option>
            <option value="redact">Redact what is found</option>
            <option value="block">Block the request</option>
          </select>
        </Field>
      </fieldset>

      <fieldset>
        <legend>Rate limits</legend>
        <p class="hint">Empty: no limit.</p>
        <div class="row">
          <For each={LIMITS}>
            {([field, label]) => (
              <Field label={label} for={`key-${field}`} error={shown(field)}>
                <input
                  id={`key-${field}`}
                  type="number"
                  min="1"
                  step="1"
                  inputmode="numeric"
                  aria-invalid={invalid(field)}
                  value={limits()[field]}
                  onInput={(e) => setLimits({ ...limits(), [field]: e.currentTarget.value })}
                />
              </Field>
            )}
          </For>
        </div>
      </fieldset>

      <Field label="Expires" for="key-expires" hint="Empty: the key never expires." error={shown('expires_at')}>
        <input id="key-expires" type="datetime-local" aria-describedby={`key-expires-hint${shown('expires_at') ? ' key-expires-error' : ''}`} aria-invalid={invalid('expires_at')} value={expires()} onInput={(e) => setExpires(e.currentTarget.value)} />
      </Field>

      <Show when={error() && !aboutField(error(), Object.keys(FIELD_LABELS))}><ErrorAlert error={error()} /></Show>
      <div class="actions">
        <Show when={props.onCancel}>
          <button type="button" class="secondary" onClick={() => props.onCancel?.()}>Cancel</button>
        </Show>
        <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : props.submitLabel}</button>
      </div>
    </form>
  )
}
