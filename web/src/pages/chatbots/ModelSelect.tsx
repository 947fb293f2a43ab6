/** The model picker shared by the create form and the builder, marking models served in a TEE. */
import { createEffect, For, Match, Show, Switch, type Resource } from 'solid-js'
import { ErrorAlert, Field } from '../../ui.tsx'
import type { Model } from './types.ts'

export function ModelSelect(props: { id: string; models: Resource<Model[]>; value: string; onChange: (id: string) => void }) {
  // A new chatbot starts on the first model, so the form is never left without one.
  createEffect(() => {
    const first = props.models.latest?.[0]
    if (!props.value && first) props.onChange(first.id)
  })
  const selected = () => props.models.latest?.find((m) => m.id === props.value)
  return (
    <Field label="Model" for={props.id}>
      <Switch>
        <Match when={props.models.error}><ErrorAlert error={props.models.error} /></Match>
        <Match when={true}>
          <select id={props.id} required value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)} disabled={!props.models.latest}>
            <Show when={!props.models.latest}><option value="">Loading models…</option></Show>
            {/* The saved model stays selectable even if the list no longer offers it. */}
            <Show when={props.models.latest && props.value && !selected()}><option value={props.value}>{props.value} (unavailable)</option></Show>
            <For each={props.models.latest}>{(m) => <option value={m.id}>{m.confidential ? `${m.id} — TEE` : m.id}</option>}</For>
          </select>
          <p class="hint model-badge">
            <Show when={selected()} fallback={<span>&nbsp;</span>}>
              {(m) => (m().confidential ? <span class="badge ok">TEE: runs in a confidential enclave</span> : <span class="badge warn">not confidential</span>)}
            </Show>
          </p>
        </Match>
      </Switch>
    </Field>
  )
}
