import { For, Show } from 'solid-js'
import { priceLabel, type PlaygroundModel } from './models.ts'

/** A model select whose options say which models run in a TEE, with the chosen model's badge and prices beside it. */
export function ModelPicker(props: { id: string; models: PlaygroundModel[]; value: string; onChange: (id: string) => void }) {
  const selected = () => props.models.find((m) => m.id === props.value)
  return (
    <div class="field model-picker">
      <label for={props.id}>Model</label>
      <select id={props.id} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)} aria-describedby={`${props.id}-info`}>
        <For each={props.models}>
          {(m) => <option value={m.id}>{m.confidential ? `${m.id} (confidential, TEE)` : m.id}</option>}
        </For>
      </select>
      <Show when={selected()}>
        {(m) => (
          <p class="hint model-info" id={`${props.id}-info`}>
            <Show
              when={m().confidential}
              fallback={<span class="badge warn" title="Sent to the provider without TEE protection">Not confidential</span>}
            >
              <span class="badge ok" title="Runs inside a trusted execution environment; the provider cannot read prompts or answers">
                TEE · confidential
              </span>
            </Show>
            <span>Provider: {m().owned_by}</span>
            <span>Price: {priceLabel(m())}</span>
          </p>
        )}
      </Show>
    </div>
  )
}
