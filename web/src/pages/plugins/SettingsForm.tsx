/**
 * The plugin's settings as a form generated from its config JSON Schema. Secret fields are write-only: the input
 * is always empty, shows only whether a value is stored, and an empty input keeps the stored one (the API leaves
 * an omitted secret untouched; null clears it).
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { createStore } from 'solid-js/store'
import { api, ApiError } from '../../api.ts'
import { ErrorAlert, Loading } from '../../ui.tsx'
import { buildValues, fieldErrors, initialValue, schemaFields, type FormState, type SchemaField } from './schema.ts'
import type { PluginSettingsSchema } from '../../../../src/plugins/model.ts'
import { pluginPath } from './types.tsx'

type Settings = typeof PluginSettingsSchema.static

export function SettingsForm(props: { name: string }) {
  const [settings, { refetch, mutate }] = createResource(
    () => props.name,
    (name) => api<Settings>('GET', `${pluginPath(name)}/config`),
  )
  return (
    <section class="card" aria-labelledby="settings-title">
      <h2 id="settings-title">Settings</h2>
      <Switch>
        <Match when={settings.error}><ErrorAlert error={settings.error} retry={() => void refetch()} /></Match>
        <Match when={settings.loading && !settings()}><Loading /></Match>
        <Match when={settings()}>
          {(s) => (
            <Show when={schemaFields(s().schema).length > 0} fallback={<p class="muted">This plugin has no settings.</p>}>
              <Form name={props.name} settings={s()} saved={(next) => mutate(next)} />
            </Show>
          )}
        </Match>
      </Switch>
    </section>
  )
}

function Form(props: { name: string; settings: Settings; saved: (s: Settings) => void }) {
  const fields = () => schemaFields(props.settings.schema)
  const fresh = (): FormState => ({
    values: Object.fromEntries(fields().map((f) => [f.key, initialValue(f, props.settings.values)])),
    clear: {},
  })
  const [state, setState] = createStore<FormState>(fresh())
  const [busy, setBusy] = createSignal(false)
  const [errors, setErrors] = createSignal<{ byField: Record<string, string>; general: string[] }>({ byField: {}, general: [] })
  const [failure, setFailure] = createSignal<unknown>(null)
  const [done, setDone] = createSignal(false)

  async function save(e: SubmitEvent) {
    e.preventDefault()
    setBusy(true)
    setDone(false)
    setFailure(null)
    setErrors({ byField: {}, general: [] })
    try {
      const values = buildValues(fields(), state, props.settings.values)
      const next = await api<Settings>('PUT', `${pluginPath(props.name)}/config`, { body: { values } })
      props.saved(next)
      // Typed secrets are cleared from the inputs once stored: the page never holds them longer than needed.
      setState(fresh())
      setDone(true)
    } catch (err) {
      if (err instanceof ApiError && err.code === 'validation_failed') setErrors(fieldErrors(err.message, fields()))
      else setFailure(err)
    } finally {
      setBusy(false)
    }
  }

  const problemCount = () => Object.keys(errors().byField).length + errors().general.length

  return (
    <form onSubmit={(e) => void save(e)} noValidate aria-describedby="settings-status">
      <For each={fields()}>
        {(f) => (
          <SettingField
            field={f}
            plugin={props.name}
            value={state.values[f.key] ?? ''}
            isSet={props.settings.secrets[f.key] === true}
            clear={state.clear[f.key] === true}
            error={errors().byField[f.key]}
            onInput={(v) => setState('values', f.key, v)}
            onClear={(v) => setState('clear', f.key, v)}
          />
        )}
      </For>
      <div id="settings-status">
        <Show when={problemCount() > 0}>
          <div class="alert error" role="alert">
            The settings were not saved.{' '}
            {Object.keys(errors().byField).length > 0 ? 'Check the fields marked below each input.' : ''}
            <For each={errors().general}>{(g) => <> {g}</>}</For>
          </div>
        </Show>
        <Show when={failure()}><ErrorAlert error={failure()} /></Show>
        <Show when={done()}><p class="muted" role="status">Settings saved.</p></Show>
      </div>
      <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : 'Save settings'}</button>
    </form>
  )
}

function SettingField(props: {
  field: SchemaField
  plugin: string
  value: string | boolean
  isSet: boolean
  clear: boolean
  error: string | undefined
  onInput: (v: string | boolean) => void
  onClear: (v: boolean) => void
}) {
  const id = () => `setting-${props.field.key}`
  const f = () => props.field
    const hint = () => {
    const parts: string[] = []
    if (f().description) parts.push(f().description ?? '')
    if (f().kind === 'number' || f().kind === 'integer') {
      if (f().minimum !== null && f().maximum !== null) parts.push(`From ${f().minimum} to ${f().maximum}.`)
      else if (f().minimum !== null) parts.push(`At least ${f().minimum}.`)
      else if (f().maximum !== null) parts.push(`At most ${f().maximum}.`)
    }
    if (!f().secret && f().defaultValue !== undefined && f().kind !== 'unsupported') parts.push(`Default when left empty: ${String(f().defaultValue)}.`)
    if (f().secret) parts.push(props.isSet ? 'Leave empty to keep the stored value.' : 'No value is stored yet.')
    return parts.join(' ')
  }
  const describedBy = () => [hint() ? `${id()}-hint` : '', props.error ? `${id()}-error` : ''].filter(Boolean).join(' ') || undefined
  const common = () => ({
    id: id(),
    'aria-invalid': props.error ? true : undefined,
    'aria-describedby': describedBy(),
    'aria-required': f().required || undefined,
  })

  return (
    <div class="field plugin-setting">
      <Switch>
        <Match when={f().kind === 'boolean'}>
          <label class="check">
            <input type="checkbox" {...common()} checked={props.value === true} onChange={(e) => props.onInput(e.currentTarget.checked)} />
            {f().label}
          </label>
        </Match>
        <Match when={true}>
          <label for={id()}>
            {f().label}
            <Show when={f().required}><span class="muted"> (required)</span></Show>
            <Show when={f().secret}>
              {' '}
              <span class={`badge ${props.isSet ? 'ok' : 'warn'}`} data-testid={`secret-${f().key}`}>{props.isSet ? 'set' : 'not set'}</span>
            </Show>
          </label>
          <Switch>
            <Match when={f().kind === 'enum'}>
              <select {...common()} value={String(props.value)} onChange={(e) => props.onInput(e.currentTarget.value)}>
                <Show when={!f().required}><option value="">(not set)</option></Show>
                <For each={f().options}>{(o) => <option value={o}>{o}</option>}</For>
              </select>
            </Match>
            <Match when={f().kind === 'unsupported'}>
              <p class="muted" id={id()}>This setting cannot be edited here; its stored value is kept.</p>
            </Match>
            <Match when={f().secret}>
              <input
                {...common()}
                type="password"
                autocomplete="new-password"
                value={String(props.value)}
                disabled={props.clear}
                placeholder={props.isSet ? '••••••• (stored)' : ''}
                onInput={(e) => props.onInput(e.currentTarget.value)}
              />
            </Match>
            <Match when={f().kind === 'number' || f().kind === 'integer'}>
              <input
                {...common()}
                type="number"
                inputmode={f().kind === 'integer' ? 'numeric' : 'decimal'}
                step={f().kind === 'integer' ? '1' : 'any'}
                min={f().minimum ?? undefined}
                max={f().maximum ?? undefined}
                value={String(props.value)}
                onInput={(e) => props.onInput(e.currentTarget.value)}
              />
            </Match>
            <Match when={true}>
              <input
                {...common()}
                type={f().format === 'uri' ? 'url' : f().format === 'email' ? 'email' : 'text'}
                value={String(props.value)}
                onInput={(e) => props.onInput(e.currentTarget.value)}
              />
            </Match>
          </Switch>
        </Match>
      </Switch>
      <Show when={hint()}><p class="hint" id={`${id()}-hint`}>{hint()}</p></Show>
      <Show when={f().secret && props.isSet && !f().required}>
        <label class="check small-label">
          <input type="checkbox" checked={props.clear} onChange={(e) => props.onClear(e.currentTarget.checked)} />
          Remove the stored value when saving
        </label>
      </Show>
      <Show when={props.error}><p class="field-error" id={`${id()}-error`}>{props.error}</p></Show>
    </div>
  )
}
