/**
 * The platform's runtime settings as a form, grouped by what they govern. Saving sends only what changed
 * (`PATCH /settings`); the server validates each one (its message is shown beside the field it names), applies the
 * change on every replica within a second and audits it with before and after values. Settings that need a restart
 * are listed, not editable.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api, ApiError, type Wire } from '../../api.ts'
import type { SettingsView } from '../../../../src/settings/model.ts'
import { ErrorAlert, Field, fieldMessage, Loading } from '../../ui.tsx'
import { toast } from '../../toast.tsx'

type View = Wire<typeof SettingsView.static>
type Value = string | number | boolean | null | string[]

type Kind = 'bool' | 'int' | 'number' | 'days' | 'text' | 'nullable' | 'list' | 'secret' | { options: [string, string][] } | 'types'

interface FieldSpec {
  key: string
  label: string
  kind: Kind
  hint?: string
}

const GROUPS: { legend: string; fields: FieldSpec[] }[] = [
  {
    legend: 'Accounts',
    fields: [
      { key: 'allow_registration', label: 'Anyone may create an account', kind: 'bool' },
      { key: 'lockout_threshold', label: 'Failed sign-ins before a lockout', kind: 'int' },
      { key: 'lockout_minutes', label: 'Lockout (minutes)', kind: 'int' },
    ],
  },
  {
    legend: 'Rate limits',
    fields: [
      { key: 'rate_limit_public_per_minute', label: 'Requests per minute per API key', kind: 'int', hint: 'Unless the key sets its own' },
      { key: 'rate_limit_internal_per_minute', label: 'Requests per minute per user (dashboard)', kind: 'int' },
      { key: 'widget_rate_limit_per_minute', label: 'Widget messages per minute per visitor', kind: 'int' },
    ],
  },
  {
    legend: 'Documents and models',
    fields: [
      { key: 'upload_max_file_mb', label: 'Largest uploaded document (MB)', kind: 'number' },
      { key: 'default_chatbot_model', label: 'Default chatbot model', kind: 'nullable', hint: 'Used when a chatbot names none; empty: a chatbot must name its model' },
      { key: 'default_embedding_model', label: 'Default embeddings model', kind: 'nullable', hint: 'For collections created without one; empty: lexical search only' },
    ],
  },
  {
    legend: 'Confidentiality',
    fields: [
      { key: 'confidential_only', label: 'Confidential (TEE) models only, for everyone', kind: 'bool' },
      {
        key: 'dlp_mode',
        label: 'Data-loss prevention (requests leaving the TEE)',
        kind: { options: [['off', 'Off'], ['redact', 'Redact what is found'], ['block', 'Block the request']] },
        hint: 'More thresholds are on the Security page',
      },
    ],
  },
  {
    legend: 'Chat widget',
    fields: [{ key: 'widget_allowed_origins', label: 'Origins the widget may be used from', kind: 'list', hint: 'Comma-separated, e.g. https://shop.example.com; empty: any origin a widget key names' }],
  },
  {
    legend: 'Retention (days; empty keeps data)',
    fields: [
      { key: 'retention_audit_days', label: 'Audit events', kind: 'days' },
      { key: 'retention_usage_days', label: 'Usage records', kind: 'days', hint: 'At least 31; summed per day before they are deleted' },
      { key: 'retention_plugin_logs_days', label: 'Plugin logs', kind: 'int' },
      { key: 'retention_conversations_days', label: 'Chatbot conversations', kind: 'days', hint: 'After their last message' },
      { key: 'retention_responses_days', label: 'Stored responses', kind: 'days' },
    ],
  },
  {
    legend: 'Notifications',
    fields: [
      { key: 'notification_channel_types', label: 'Channel types in use', kind: 'types' },
      { key: 'notification_user_channels', label: 'Users may add channels of their own', kind: 'bool' },
      { key: 'smtp_host', label: 'Mail server', kind: 'nullable', hint: 'Empty: no email' },
      { key: 'smtp_port', label: 'Mail server port', kind: 'int' },
      { key: 'smtp_security', label: 'Mail server security', kind: { options: [['starttls', 'STARTTLS (587)'], ['tls', 'TLS (465)'], ['none', 'None (local relay only)']] } },
      { key: 'smtp_username', label: 'Mail server user', kind: 'nullable' },
      { key: 'smtp_password', label: 'Mail server password', kind: 'secret' },
      { key: 'smtp_from', label: 'Sender', kind: 'text', hint: 'An address, or Name <address>' },
    ],
  },
]

const LABELS = Object.fromEntries(GROUPS.flatMap((g) => g.fields.map((f) => [f.key, f.label])))
const idOf = (key: string) => `set-${key}`

export function PlatformSettingsForm() {
  const [view, { refetch, mutate }] = createResource(() => api<View>('GET', '/api-internal/v1/settings'))
  const [draft, setDraft] = createSignal<Record<string, Value>>({})
  const [errors, setErrors] = createSignal<Record<string, string>>({})
  const [general, setGeneral] = createSignal<unknown>(null)
  const [saving, setSaving] = createSignal(false)

  const current = (key: string): Value => (key in draft() ? draft()[key]! : ((view()?.settings as Record<string, Value> | undefined)?.[key] ?? null))
  const set = (key: string, value: Value) => {
    setDraft({ ...draft(), [key]: value })
    if (errors()[key]) setErrors(Object.fromEntries(Object.entries(errors()).filter(([k]) => k !== key)))
  }

  async function save(e: Event) {
    e.preventDefault()
    setGeneral(null)
    setErrors({})
    const saved = (view()?.settings ?? {}) as Record<string, Value>
    const changed = Object.fromEntries(Object.entries(draft()).filter(([k, v]) => k === 'smtp_password' || JSON.stringify(v) !== JSON.stringify(saved[k])))
    if (Object.keys(changed).length === 0) {
      setDraft({})
      toast('Nothing to save')
      return
    }
    setSaving(true)
    try {
      mutate(await api<View>('PATCH', '/api-internal/v1/settings', { body: changed }))
      setDraft({})
      toast('Settings saved: every replica applies them within a second')
    } catch (err) {
      const param = err instanceof ApiError ? err.param?.replace(/\[\d+\]$/, '') : undefined
      if (err instanceof ApiError && param && param in LABELS) setErrors({ [param]: fieldMessage(err, { [err.param ?? param]: LABELS[param]! }) })
      else setGeneral(err)
    } finally {
      setSaving(false)
    }
  }

  function control(f: FieldSpec) {
    const id = idOf(f.key)
    const error = () => errors()[f.key]
    const described = () => [f.hint ? `${id}-hint` : '', error() ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined
    // Getters: the spread stays reactive, so a field's error marks its control at once.
    const common = {
      id,
      get 'aria-invalid'() {
        return error() ? ('true' as const) : undefined
      },
      get 'aria-describedby'() {
        return described()
      },
    }
    const kind = f.kind
    if (kind === 'bool')
      return (
        <label class="check">
          <input type="checkbox" id={id} checked={current(f.key) === true} onChange={(e) => set(f.key, e.currentTarget.checked)} />
          {f.label}
        </label>
      )
    let input
    if (typeof kind === 'object')
      input = (
        <select {...common} onChange={(e) => set(f.key, e.currentTarget.value)}>
          {/* selected on the option, not value on the select: set before its options exist, the value would not stick. */}
          <For each={kind.options}>{([value, label]) => <option value={value} selected={String(current(f.key) ?? '') === value}>{label}</option>}</For>
        </select>
      )
    else if (kind === 'types')
      input = (
        <div class="checks" id={id} role="group" aria-label={f.label}>
          <For each={[['webhook', 'Webhooks'], ['email', 'Email']] as const}>
            {([type, label]) => (
              <label class="check">
                <input
                  type="checkbox"
                  checked={((current(f.key) as string[] | null) ?? []).includes(type)}
                  onChange={(e) => {
                    const list = new Set((current(f.key) as string[] | null) ?? [])
                    if (e.currentTarget.checked) list.add(type)
                    else list.delete(type)
                    set(f.key, [...list])
                  }}
                />
                {label}
              </label>
            )}
          </For>
        </div>
      )
    else if (kind === 'list')
      input = (
        <input
          {...common}
          value={((current(f.key) as string[] | null) ?? []).join(', ')}
          onChange={(e) => set(f.key, e.currentTarget.value.split(',').map((s) => s.trim()).filter(Boolean))}
        />
      )
    else if (kind === 'secret')
      input = (
        <input
          {...common}
          type="password"
          autocomplete="new-password"
          placeholder={view()?.secrets.smtp_password ? 'Set (leave empty to keep it)' : 'Not set'}
          value={typeof draft()[f.key] === 'string' ? (draft()[f.key] as string) : ''}
          onInput={(e) => {
            const v = e.currentTarget.value
            if (v) set(f.key, v)
            else setDraft(Object.fromEntries(Object.entries(draft()).filter(([k]) => k !== f.key)))
          }}
        />
      )
    else if (kind === 'text' || kind === 'nullable')
      input = (
        <input {...common} value={(current(f.key) as string | null) ?? ''} onInput={(e) => set(f.key, e.currentTarget.value.trim() === '' && kind === 'nullable' ? null : e.currentTarget.value)} />
      )
    else
      input = (
        <input
          {...common}
          type="number"
          inputmode="numeric"
          step={kind === 'number' ? 'any' : '1'}
          value={current(f.key) === null ? '' : String(current(f.key))}
          onInput={(e) => {
            const raw = e.currentTarget.value.trim()
            set(f.key, raw === '' && kind === 'days' ? null : Number(raw))
          }}
        />
      )
    return (
      <Field label={f.label} for={id} hint={f.hint} error={error()}>
        {input}
      </Field>
    )
  }

  return (
    <Switch>
      <Match when={view.error}><ErrorAlert error={view.error} retry={refetch} /></Match>
      <Match when={!view.latest}><Loading label="Loading settings…" /></Match>
      <Match when={view.latest}>
        <form class="stack admin-settings" onSubmit={(e) => void save(e)} data-testid="platform-settings" novalidate>
          <For each={GROUPS}>
            {(g) => (
              <fieldset class="card form-grid">
                <legend>{g.legend}</legend>
                <For each={g.fields}>{(f) => control(f)}</For>
              </fieldset>
            )}
          </For>
          <Show when={general()}><ErrorAlert error={general()} /></Show>
          <div class="form-actions admin-save">
            <Show when={Object.keys(draft()).length > 0}><span class="muted small-text">Unsaved changes</span></Show>
            <button type="submit" disabled={saving()}>{saving() ? 'Saving…' : 'Save settings'}</button>
          </div>
          <details class="card">
            <summary>Settings that need a restart ({view.latest!.restart_required.length})</summary>
            <p class="hint">These are read once at start: change them in the environment (or the ENCLAVA_CONFIG file) and restart each replica.</p>
            <ul class="admin-fixed" data-testid="restart-required">
              <For each={view.latest!.restart_required}>{(r) => <li><code>{r.name}</code> <span class="muted">{r.description}</span></li>}</For>
            </ul>
          </details>
        </form>
      </Match>
    </Switch>
  )
}
