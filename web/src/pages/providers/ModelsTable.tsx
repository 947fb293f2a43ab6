/**
 * Every model with the provider serving it, whether it runs in a TEE, its prices, output cap and fallback, and its
 * settings, changed in a drawer: the provider and upstream id it is routed to, prices, the output cap, the fallback
 * (and whether a confidential model's fallback may leave the TEE: off unless ticked), whether an embedding model's
 * vectors may be shortened, and whether it is offered at all. The settings endpoint replaces the whole row, so
 * saving sends every field.
 */
import { createSignal, For, Show } from 'solid-js'
import { api } from '../../api.ts'
import { Pencil, RefreshCw } from '../../icons.ts'
import { ResponsiveTable } from '../../table.tsx'
import { toast } from '../../toast.tsx'
import { ConfirmButton, createFormErrors, describedBy, Drawer, ErrorAlert, Field, formatNumber } from '../../ui.tsx'
import { formatPrice } from '../playground/models.ts'
import { settingsPath, type CatalogModel, type ModelSettingsInput } from './types.ts'

const priceText = (v: number | null) => (v === null ? '—' : formatPrice(v))

export function ModelsTable(props: { models: CatalogModel[]; providers: string[]; onChanged: () => void }) {
  const [editing, setEditing] = createSignal<CatalogModel | null>(null)
  return (
    <>
      <ResponsiveTable caption="Models, their providers and prices in USD per 1M tokens" label="Models">
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Provider</th>
            <th scope="col">TEE</th>
            <th scope="col" class="num">Input / 1M</th>
            <th scope="col" class="num">Output / 1M</th>
            <th scope="col" class="num">Output cap</th>
            <th scope="col">Fallback</th>
            <th scope="col"><span class="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          <For each={props.models}>
            {(m) => (
              <tr>
                <th scope="row">
                  <span class="model-id">{m.id}</span>
                  <Show when={!m.available}> <span class="badge warn">{m.settings && !m.settings.is_active ? 'switched off' : 'not served'}</span></Show>
                  <Show when={m.settings}> <span class="badge">custom</span></Show>
                  <Show when={m.settings?.upstream_id}>{(u) => <span class="hint block">upstream id {u()}</span>}</Show>
                </th>
                <td>{m.provider ?? '—'}</td>
                <td>
                  <Show when={m.confidential !== null} fallback="—">
                    <Show when={m.confidential} fallback={<span class="badge warn">no</span>}>
                      <span class="badge ok">TEE</span>
                    </Show>
                  </Show>
                </td>
                <td class="num">{priceText(m.input_price_per_million)}</td>
                <td class="num">{priceText(m.output_price_per_million)}</td>
                <td class="num">{m.settings?.max_output_tokens ? formatNumber(m.settings.max_output_tokens) : <span class="muted">default</span>}</td>
                <td>{m.settings?.fallback_model ? <code>{m.settings.fallback_model}</code> : <span class="muted">none</span>}</td>
                <td>
                  <div class="actions row-actions">
                    <button type="button" class="secondary small" onClick={() => setEditing(m)} aria-label={`Edit settings of ${m.id}`}><Pencil /> Edit</button>
                    <Show when={m.settings}>
                      <ConfirmButton
                        label="Reset"
                        class="secondary small"
                        icon={() => <RefreshCw />}
                        ariaLabel={`Reset ${m.id} to its defaults`}
                        title={`Reset ${m.id} to its defaults?`}
                        message="Its custom prices and any other settings for this model (provider, output cap, fallback, switched off) are removed; the provider's defaults apply again."
                        confirmLabel="Reset to defaults"
                        done={`${m.id} reset to its defaults`}
                        action={async () => {
                          await api('DELETE', settingsPath(m.id))
                          props.onChanged()
                        }}
                      />
                    </Show>
                  </div>
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </ResponsiveTable>
      <Drawer open={editing() !== null} title={`Settings of ${editing()?.id ?? ''}`} onClose={() => setEditing(null)} testid="model-settings">
        <Show when={editing()} keyed>
          {(m) => (
            <ModelSettingsForm
              model={m}
              providers={props.providers}
              others={props.models.map((x) => x.id).filter((id) => id !== m.id)}
              onDone={(saved) => {
                setEditing(null)
                if (saved) {
                  toast(`Settings of ${m.id} saved`)
                  props.onChanged()
                }
              }}
            />
          )}
        </Show>
      </Drawer>
    </>
  )
}

const LABELS = {
  provider_name: 'Provider',
  upstream_id: 'Upstream id',
  input_price_per_million: 'Input price',
  output_price_per_million: 'Output price',
  max_output_tokens: 'Output cap',
  fallback_model: 'Fallback model',
}

function ModelSettingsForm(props: { model: CatalogModel; providers: string[]; others: string[]; onDone: (saved: boolean) => void }) {
  const m = props.model
  const s = m.settings
  const [provider, setProvider] = createSignal(s?.provider_name ?? '')
  const [upstream, setUpstream] = createSignal(s?.upstream_id ?? '')
  const [input, setInput] = createSignal(String(m.input_price_per_million ?? ''))
  const [output, setOutput] = createSignal(String(m.output_price_per_million ?? ''))
  const [cap, setCap] = createSignal(String(s?.max_output_tokens ?? ''))
  const [fallback, setFallback] = createSignal(s?.fallback_model ?? '')
  const [leavesTee, setLeavesTee] = createSignal(s?.fallback_leaves_tee ?? false)
  const [truncatable, setTruncatable] = createSignal(s?.truncatable_dimensions ?? false)
  const [active, setActive] = createSignal(s?.is_active ?? true)
  const [busy, setBusy] = createSignal(false)
  const errors = createFormErrors(LABELS)
  const id = (k: string) => `ms-${k}`

  const parse = (v: string) => (v.trim() === '' ? null : Number(v))
  const validPrice = (v: number | null) => v === null || (Number.isFinite(v) && v >= 0 && v <= 100_000)

  async function save(e: SubmitEvent) {
    e.preventDefault()
    const inPrice = parse(input())
    const outPrice = parse(output())
    const capValue = parse(cap())
    const found: Partial<Record<keyof typeof LABELS, string>> = {}
    if (!validPrice(inPrice)) found.input_price_per_million = 'A price is US dollars per 1M tokens, from 0 to 100,000. Empty uses the default.'
    if (!validPrice(outPrice)) found.output_price_per_million = 'A price is US dollars per 1M tokens, from 0 to 100,000. Empty uses the default.'
    if (capValue !== null && !(Number.isInteger(capValue) && capValue >= 1 && capValue <= 1_000_000))
      found.max_output_tokens = 'A whole number of tokens from 1 to 1,000,000. Empty uses the platform default.'
    errors.set(found)
    if (Object.keys(found).length) return
    setBusy(true)
    try {
      const body: ModelSettingsInput = {
        provider_name: provider() || null,
        upstream_id: upstream().trim() || null,
        input_price_per_million: inPrice,
        output_price_per_million: outPrice,
        max_output_tokens: capValue,
        fallback_model: fallback().trim() || null,
        fallback_leaves_tee: leavesTee(),
        truncatable_dimensions: truncatable(),
        is_active: active(),
      }
      await api('PUT', settingsPath(m.id), { body })
      props.onDone(true)
    } catch (err) {
      errors.take(err)
    } finally {
      setBusy(false)
    }
  }

  const text = (key: keyof typeof LABELS, value: () => string, set: (v: string) => void, extra: Record<string, unknown> = {}, hint = false) => ({
    id: id(key),
    value: value(),
    onInput: (e: InputEvent & { currentTarget: HTMLInputElement }) => {
      set(e.currentTarget.value)
      errors.clear(key)
    },
    'aria-invalid': errors.field(key) ? ('true' as const) : undefined,
    'aria-describedby': describedBy(id(key), { hint, error: errors.field(key) }),
    ...extra,
  })

  return (
    <form class="form-grid" onSubmit={(e) => void save(e)} aria-label={`Settings of ${m.id}`} novalidate>
      <p class="muted">
        {m.provider ? `Served by ${m.provider}` : 'Not served by any provider now'}
        {m.confidential === true ? ', in a TEE (confidential).' : m.confidential === false ? ', not confidential.' : '.'}
      </p>
      <Field label="Provider" for={id('provider_name')} hint="The provider requests for this model go to. Automatic: whichever lists it." error={errors.field('provider_name')}>
        <select id={id('provider_name')} value={provider()} onChange={(e) => setProvider(e.currentTarget.value)} aria-describedby={describedBy(id('provider_name'), { hint: true, error: errors.field('provider_name') })}>
          <option value="">Automatic</option>
          <For each={props.providers}>{(p) => <option value={p}>{p}</option>}</For>
        </select>
      </Field>
      <Field label="Upstream id" for={id('upstream_id')} hint="The model's name at the provider, when it differs. Empty: the same id." error={errors.field('upstream_id')}>
        <input {...text('upstream_id', upstream, setUpstream, { maxLength: 256 }, true)} />
      </Field>
      <Field label="Input price (USD per 1M tokens)" for={id('input_price_per_million')} error={errors.field('input_price_per_million')}>
        <input {...text('input_price_per_million', input, setInput, { type: 'number', min: '0', max: '100000', step: 'any', inputmode: 'decimal' })} />
      </Field>
      <Field label="Output price (USD per 1M tokens)" for={id('output_price_per_million')} error={errors.field('output_price_per_million')}>
        <input {...text('output_price_per_million', output, setOutput, { type: 'number', min: '0', max: '100000', step: 'any', inputmode: 'decimal' })} />
      </Field>
      <Field label="Output cap (tokens)" for={id('max_output_tokens')} hint="Most a request may generate; larger max_tokens are lowered to it. Empty: the platform default." error={errors.field('max_output_tokens')}>
        <input {...text('max_output_tokens', cap, setCap, { type: 'number', min: '1', max: '1000000', step: '1', inputmode: 'numeric' }, true)} />
      </Field>
      <Field label="Fallback model" for={id('fallback_model')} hint="Serves the request when this model's provider fails. Empty: none." error={errors.field('fallback_model')}>
        <input {...text('fallback_model', fallback, setFallback, { maxLength: 256, list: 'ms-model-ids' }, true)} />
        <datalist id="ms-model-ids"><For each={props.others}>{(o) => <option value={o} />}</For></datalist>
      </Field>
      <div class="checks">
        <Show when={m.confidential}>
          <label class="check">
            <input type="checkbox" checked={leavesTee()} onChange={(e) => setLeavesTee(e.currentTarget.checked)} />
            Its fallback may leave the TEE (off: a fallback that is not confidential is never used; when allowed, every such fallback is audited)
          </label>
        </Show>
        <label class="check">
          <input type="checkbox" checked={truncatable()} onChange={(e) => setTruncatable(e.currentTarget.checked)} />
          Embeddings may be shortened to the dimensions a request asks for (models trained for it only)
        </label>
        <label class="check">
          <input type="checkbox" checked={active()} onChange={(e) => setActive(e.currentTarget.checked)} />
          Offered (off: requests for this model are refused and it leaves every model list)
        </label>
      </div>
      <Show when={errors.general()}><ErrorAlert error={errors.general()} /></Show>
      <div class="form-actions">
        <button type="button" class="secondary" onClick={() => props.onDone(false)}>Cancel</button>
        <button type="submit" disabled={busy()}>{busy() ? 'Saving…' : 'Save'}</button>
      </div>
    </form>
  )
}
