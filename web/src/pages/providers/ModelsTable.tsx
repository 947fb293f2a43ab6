/**
 * Every model with the provider serving it, whether it runs in a TEE, and its settings, which can be changed here:
 * prices, the output cap, the fallback (and whether a confidential model's fallback may leave the TEE: off unless
 * ticked), and whether an embedding model's vectors may be shortened. The settings endpoint replaces the whole row,
 * so saving sends every field.
 */
import { createSignal, For, Show } from 'solid-js'
import { api } from '../../api.ts'
import { ConfirmButton, ErrorAlert } from '../../ui.tsx'
import { formatPrice } from '../playground/models.ts'
import { settingsPath, type CatalogModel, type ModelSettingsInput } from './types.ts'

export function ModelsTable(props: { models: CatalogModel[]; onChanged: () => void }) {
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">Models, their providers and prices in USD per 1M tokens</caption>
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Provider</th>
            <th scope="col">TEE</th>
            <th scope="col">Input / 1M</th>
            <th scope="col">Output / 1M</th>
            <th scope="col"><span class="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          <For each={props.models}>{(m) => <ModelRow model={m} onChanged={props.onChanged} />}</For>
        </tbody>
      </table>
    </div>
  )
}

const priceText = (v: number | null) => (v === null ? '—' : formatPrice(v))

function ModelRow(props: { model: CatalogModel; onChanged: () => void }) {
  const m = () => props.model
  const [editing, setEditing] = createSignal(false)
  const [input, setInput] = createSignal('')
  const [output, setOutput] = createSignal('')
  const [cap, setCap] = createSignal('')
  const [fallback, setFallback] = createSignal('')
  const [leavesTee, setLeavesTee] = createSignal(false)
  const [truncatable, setTruncatable] = createSignal(false)
  const [fieldError, setFieldError] = createSignal<string | null>(null)
  const [error, setError] = createSignal<unknown>(null)
  const [busy, setBusy] = createSignal(false)

  function start() {
    setInput(String(m().input_price_per_million ?? ''))
    setOutput(String(m().output_price_per_million ?? ''))
    const s = m().settings
    setCap(String(s?.max_output_tokens ?? ''))
    setFallback(s?.fallback_model ?? '')
    setLeavesTee(s?.fallback_leaves_tee ?? false)
    setTruncatable(s?.truncatable_dimensions ?? false)
    setFieldError(null)
    setError(null)
    setEditing(true)
  }

  const parse = (v: string) => (v.trim() === '' ? null : Number(v))
  const valid = (v: number | null) => v === null || (Number.isFinite(v) && v >= 0 && v <= 100_000)

  async function save(e: SubmitEvent) {
    e.preventDefault()
    const inPrice = parse(input())
    const outPrice = parse(output())
    if (!valid(inPrice) || !valid(outPrice)) {
      setFieldError('Prices are US dollars per 1M tokens, from 0 to 100,000. Empty uses the default.')
      return
    }
    const capValue = parse(cap())
    if (capValue !== null && !(Number.isInteger(capValue) && capValue >= 1 && capValue <= 1_000_000)) {
      setFieldError('The output cap is a whole number of tokens from 1 to 1,000,000. Empty uses the platform default.')
      return
    }
    setFieldError(null)
    setBusy(true)
    try {
      const s = m().settings
      const body: ModelSettingsInput = {
        provider_name: s?.provider_name ?? null,
        upstream_id: s?.upstream_id ?? null,
        input_price_per_million: inPrice,
        output_price_per_million: outPrice,
        max_output_tokens: capValue,
        fallback_model: fallback().trim() || null,
        fallback_leaves_tee: leavesTee(),
        truncatable_dimensions: truncatable(),
        is_active: s?.is_active ?? true,
      }
      await api('PUT', settingsPath(m().id), { body })
      setEditing(false)
      props.onChanged()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <>
      <tr>
        <th scope="row">
          <span class="model-id">{m().id}</span>
          <Show when={!m().available}> <span class="badge warn">not served</span></Show>
          <Show when={m().settings}> <span class="badge">custom</span></Show>
        </th>
        <td>{m().provider ?? '—'}</td>
        <td>
          <Show when={m().confidential !== null} fallback="—">
            <Show when={m().confidential} fallback={<span class="badge warn">no</span>}>
              <span class="badge ok">TEE</span>
            </Show>
          </Show>
        </td>
        <td>{priceText(m().input_price_per_million)}</td>
        <td>{priceText(m().output_price_per_million)}</td>
        <td>
          <div class="actions">
            <Show when={!editing()}>
              <button type="button" class="secondary small" onClick={start} aria-label={`Edit settings of ${m().id}`}>Edit</button>
            </Show>
            <Show when={m().settings}>
              <ConfirmButton
                label="Reset"
                class="secondary small"
                title={`Reset ${m().id} to its defaults?`}
                message="Its custom prices and any other settings for this model (provider, output cap, fallback, switched off) are removed; the provider's defaults apply again."
                confirmLabel="Reset to defaults"
                action={async () => {
                  await api('DELETE', settingsPath(m().id))
                  props.onChanged()
                }}
              />
            </Show>
          </div>
        </td>
      </tr>
      <Show when={editing()}>
        <tr class="edit-row">
          <td colSpan={6}>
            <form class="price-form" onSubmit={(e) => void save(e)} aria-label={`Settings of ${m().id}`}>
              <div class="row">
                <div class="field">
                  <label for={`in-${m().id}`}>Input price (USD per 1M tokens)</label>
                  <input id={`in-${m().id}`} ref={(el) => queueMicrotask(() => el.focus())} type="number" min="0" max="100000" step="any" inputmode="decimal" value={input()} onInput={(e) => setInput(e.currentTarget.value)} />
                </div>
                <div class="field">
                  <label for={`out-${m().id}`}>Output price (USD per 1M tokens)</label>
                  <input id={`out-${m().id}`} type="number" min="0" max="100000" step="any" inputmode="decimal" value={output()} onInput={(e) => setOutput(e.currentTarget.value)} />
                </div>
              </div>
              <div class="row">
                <div class="field">
                  <label for={`cap-${m().id}`}>Output cap (tokens)</label>
                  <input id={`cap-${m().id}`} type="number" min="1" max="1000000" step="1" inputmode="numeric" value={cap()} aria-describedby={`cap-hint-${m().id}`} onInput={(e) => setCap(e.currentTarget.value)} />
                  <p class="hint" id={`cap-hint-${m().id}`}>Most a request may generate; larger max_tokens are lowered to it. Empty: the platform default.</p>
                </div>
                <div class="field">
                  <label for={`fb-${m().id}`}>Fallback model</label>
                  <input id={`fb-${m().id}`} type="text" maxLength={256} value={fallback()} aria-describedby={`fb-hint-${m().id}`} onInput={(e) => setFallback(e.currentTarget.value)} />
                  <p class="hint" id={`fb-hint-${m().id}`}>Serves the request when this model's provider fails. Empty: none.</p>
                </div>
              </div>
              <Show when={m().confidential}>
                <label class="check">
                  <input type="checkbox" checked={leavesTee()} onChange={(e) => setLeavesTee(e.currentTarget.checked)} />
                  Its fallback may leave the TEE (off: a fallback that is not confidential is never used; when allowed, every such fallback is audited)
                </label>
              </Show>
              <label class="check">
                <input type="checkbox" checked={truncatable()} onChange={(e) => setTruncatable(e.currentTarget.checked)} />
                Embeddings may be shortened to the dimensions a request asks for (models trained for it only)
              </label>
              <Show when={fieldError()}><p class="field-error" role="alert">{fieldError()}</p></Show>
              <Show when={error()}><ErrorAlert error={error()} /></Show>
              <div class="actions">
                <button type="button" class="secondary small" onClick={() => setEditing(false)}>Cancel</button>
                <button type="submit" class="small" disabled={busy()}>{busy() ? 'Saving…' : 'Save'}</button>
              </div>
            </form>
          </td>
        </tr>
      </Show>
    </>
  )
}
