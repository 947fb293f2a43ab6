/**
 * The security thresholds, as the server holds them: confidentiality and DLP, prompt-injection screening,
 * credential-stuffing and probing blocks, and key anomalies. Saving sends only what changed; the server applies it on
 * every replica and audits it.
 */
import { createResource, createSignal, For, Show } from 'solid-js'
import { api } from '../../api.ts'
import { ErrorAlert, Field, Loading } from '../../ui.tsx'
import { SECURITY, type SecuritySettings } from './types.ts'

type NumberKey = { [K in keyof SecuritySettings]: SecuritySettings[K] extends number ? K : never }[keyof SecuritySettings]

/** The numeric thresholds, by what they govern: [field, label]. */
const GROUPS: { legend: string; hint: string; fields: [NumberKey, string][] }[] = [
  {
    legend: 'Credential stuffing',
    hint: 'More than this many failed sign-ins from one address, over at least this many accounts, within the window, block the address.',
    fields: [
      ['login_ip_max_failures', 'Failed sign-ins per address'],
      ['login_ip_min_accounts', 'Accounts'],
      ['login_ip_window_minutes', 'Window (minutes)'],
      ['login_ip_block_minutes', 'Block (minutes)'],
    ],
  },
  {
    legend: 'Probing',
    hint: 'Requests with traversal, injection or scanner patterns from one address, past this many within the window, block it.',
    fields: [
      ['probe_threshold', 'Probing requests'],
      ['probe_window_minutes', 'Window (minutes)'],
      ['probe_block_minutes', 'Block (minutes)'],
    ],
  },
  {
    legend: 'API key anomalies',
    hint: "Each key's recent window against its average window over the past week, once it has enough history.",
    fields: [
      ['key_anomaly_window_minutes', 'Window (minutes)'],
      ['key_anomaly_request_factor', 'Request spike factor'],
      ['key_anomaly_min_requests', 'Least requests for a spike'],
      ['key_anomaly_spend_factor', 'Spend spike factor'],
      ['key_anomaly_min_spend_usd', 'Least spend for a spike (USD)'],
      ['key_anomaly_min_history_hours', 'History needed (hours)'],
    ],
  },
  {
    legend: 'Prompt injection',
    hint: 'Document chunks and users\' messages scoring this or more (0 to 1) are flagged.',
    fields: [['injection_threshold', 'Threshold']],
  },
]

export function SecuritySettingsForm(props: { canManage: boolean; onSaved: () => void }) {
  const [view, { refetch, mutate }] = createResource(() =>
    api<{ settings: SecuritySettings; defaults: SecuritySettings }>('GET', `${SECURITY}/settings`),
  )
  const [draft, setDraft] = createSignal<Partial<SecuritySettings>>({})
  const [error, setError] = createSignal<unknown>(null)
  const [saved, setSaved] = createSignal(false)
  const value = <K extends keyof SecuritySettings>(k: K): SecuritySettings[K] | undefined => (draft()[k] ?? view()?.settings[k]) as SecuritySettings[K] | undefined
  const set = <K extends keyof SecuritySettings>(k: K, v: SecuritySettings[K]) => {
    setSaved(false)
    setDraft({ ...draft(), [k]: v })
  }

  async function save(e: Event) {
    e.preventDefault()
    setError(null)
    const current = view()?.settings
    const changed = Object.fromEntries(Object.entries(draft()).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(current?.[k as keyof SecuritySettings])))
    if (Object.keys(changed).length === 0) return
    try {
      mutate(await api<{ settings: SecuritySettings; defaults: SecuritySettings }>('PUT', `${SECURITY}/settings`, { body: changed }))
      setDraft({})
      setSaved(true)
      props.onSaved()
    } catch (err) {
      setError(err)
    }
  }

  return (
    <section class="card stack" aria-labelledby="security-settings">
      <h2 id="security-settings">Settings</h2>
      <Show when={!view.error} fallback={<ErrorAlert error={view.error} retry={refetch} />}>
        <Show when={view()} fallback={<Loading label="Loading settings…" />}>
          <form class="stack" onSubmit={(e) => void save(e)}>
            <fieldset disabled={!props.canManage} class="stack security-settings">
              <label>
                <input type="checkbox" checked={value('confidential_only') ?? false} onChange={(e) => set('confidential_only', e.currentTarget.checked)} />
                Confidential models only, for everyone
              </label>
              <div class="row">
                <Field label="Data-loss prevention (requests leaving the TEE)" for="sec-dlp">
                  <select id="sec-dlp" value={value('dlp_mode')} onChange={(e) => set('dlp_mode', e.currentTarget.value as SecuritySettings['dlp_mode'])}>
                    <option value="off">Off</option>
                    <option value="redact">Redact what is found</option>
                    <option value="block">Block the request</option>
                  </select>
                </Field>
                <Field label="Key anomaly policy" for="sec-anomaly">
                  <select id="sec-anomaly" value={value('key_anomaly_policy')} onChange={(e) => set('key_anomaly_policy', e.currentTarget.value as SecuritySettings['key_anomaly_policy'])}>
                    <option value="alert">Alert (a security event)</option>
                    <option value="suspend">Suspend the key</option>
                  </select>
                </Field>
              </div>
              <label>
                <input type="checkbox" checked={value('dlp_detect_contacts') ?? false} onChange={(e) => set('dlp_detect_contacts', e.currentTarget.checked)} />
                DLP also finds email addresses and phone numbers
              </label>
              <For each={GROUPS}>
                {(g) => (
                  <fieldset>
                    <legend>{g.legend}</legend>
                    <p class="hint">{g.hint}</p>
                    <div class="row">
                      <For each={g.fields}>
                        {([key, label]) => (
                          <Field label={label} for={`sec-${key}`}>
                            <input id={`sec-${key}`} type="number" step="any" min="0" value={value(key) ?? ''} onInput={(e) => set(key, Number(e.currentTarget.value))} />
                          </Field>
                        )}
                      </For>
                    </div>
                  </fieldset>
                )}
              </For>
              <div class="row">
                <Field label="Judge model for borderline chunks (optional)" for="sec-judge">
                  <input id="sec-judge" value={value('injection_judge_model') ?? ''} onInput={(e) => set('injection_judge_model', e.currentTarget.value.trim() || null)} />
                </Field>
                <Field label="Trusted addresses (never blocked)" for="sec-trusted" hint="IPs or CIDR ranges, comma-separated">
                  <input id="sec-trusted" value={(value('trusted_ips') ?? []).join(', ')} onInput={(e) => set('trusted_ips', e.currentTarget.value.split(',').map((s) => s.trim()).filter(Boolean))} />
                </Field>
              </div>
            </fieldset>
            <Show when={error()}><ErrorAlert error={error()} /></Show>
            <Show when={props.canManage}>
              <div class="actions">
                <Show when={saved()}><span role="status" class="muted">Saved</span></Show>
                <button type="submit">Save settings</button>
              </div>
            </Show>
          </form>
        </Show>
      </Show>
    </section>
  )
}
