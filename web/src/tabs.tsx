/**
 * Tabs as the ARIA pattern has them: a tablist of buttons (arrow keys move between them), each controlling a
 * panel `panel-<id>` labelled by its tab `tab-<id>`. The panels are the page's; this draws the list.
 *
 * @example
 * <Tabs label="Playground mode" tabs={[{ id: 'chat', label: 'Chat' }]} value={tab()} onChange={setTab} />
 * <div role="tabpanel" id="panel-chat" aria-labelledby="tab-chat" hidden={tab() !== 'chat'}>…</div>
 */
import { For, type JSX } from 'solid-js'

export interface TabItem<T extends string> {
  id: T
  label: string
  icon?: () => JSX.Element
}

export function Tabs<T extends string>(props: { label: string; tabs: readonly TabItem<T>[]; value: T; onChange: (id: T) => void }) {
  function onKey(e: KeyboardEvent, index: number) {
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0
    if (!step) return
    e.preventDefault()
    const next = props.tabs[(index + step + props.tabs.length) % props.tabs.length]
    if (!next) return
    props.onChange(next.id)
    document.getElementById(`tab-${next.id}`)?.focus()
  }
  return (
    <div class="tabs" role="tablist" aria-label={props.label}>
      <For each={props.tabs}>
        {(t, i) => (
          <button
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            class="tab"
            aria-selected={props.value === t.id}
            aria-controls={`panel-${t.id}`}
            tabIndex={props.value === t.id ? 0 : -1}
            onClick={() => props.onChange(t.id)}
            onKeyDown={(e) => onKey(e, i())}
          >
            {t.icon?.()}
            {t.label}
          </button>
        )}
      </For>
    </div>
  )
}

/** A few exclusive choices as pressed buttons (a chart's period, say). */
export function Segmented<T extends string>(props: { label: string; options: readonly { value: T; label: string; title?: string }[]; value: T; onChange: (v: T) => void }) {
  return (
    <div class="segmented" role="group" aria-label={props.label}>
      <For each={props.options}>
        {(o) => (
          <button type="button" aria-pressed={props.value === o.value} title={o.title} onClick={() => props.onChange(o.value)}>
            {o.label}
          </button>
        )}
      </For>
    </div>
  )
}
