import { createResource, For, Show } from 'solid-js'
import type { AuditFacetsSchema } from '../../../../src/audit/model.ts'
import { api } from '../../api.ts'
import { Field } from '../../ui.tsx'
import { FILTER_KEYS, OUTCOMES, type Filters } from './model.ts'

type Facets = typeof AuditFacetsSchema.static

/** A select's options: the known values, plus the current one when the list lacks it (a shared link, say). */
const withCurrent = (known: string[] | undefined, current: string | undefined) =>
  current && !(known ?? []).includes(current) ? [current, ...(known ?? [])] : (known ?? [])

/** The filter form; applying it writes the filters to the URL, which is what the list follows. */
export function AuditFilters(props: { filters: Filters; problem: string | null; onApply: (f: Filters) => void }) {
  const [facets] = createResource(() => api<Facets>('GET', '/api-internal/v1/audit/facets'))

  function submit(e: SubmitEvent) {
    e.preventDefault()
    const form = new FormData(e.currentTarget as HTMLFormElement)
    const next: Filters = {}
    for (const key of FILTER_KEYS) {
      const value = String(form.get(key) ?? '').trim()
      if (value) next[key] = value
    }
    props.onApply(next)
  }

  /** Empties the fields too: text typed but never applied would otherwise stay after the list is cleared. */
  function clear(e: Event) {
    e.preventDefault()
    for (const el of (e.currentTarget as HTMLFormElement).elements)
      if (el instanceof HTMLInputElement || el instanceof HTMLSelectElement) el.value = ''
    props.onApply({})
  }

  return (
    <form class="card audit-filters" role="search" aria-label="Filter events" onSubmit={submit} onReset={clear}>
      <div class="audit-filter-grid">
        <Field label="Action" for="f-action">
          <select id="f-action" name="action">
            <option value="" selected={!props.filters.action}>Any action</option>
            <For each={withCurrent(facets()?.actions, props.filters.action)}>{(a) => <option value={a} selected={a === props.filters.action}>{a}</option>}</For>
          </select>
        </Field>
        <Field label="Actor" for="f-actor" hint="Part of an email, or a user id">
          <input id="f-actor" name="actor" type="search" maxlength="254" value={props.filters.actor ?? ''} aria-describedby="f-actor-hint" />
        </Field>
        <Field label="Outcome" for="f-outcome">
          <select id="f-outcome" name="outcome">
            <option value="" selected={!props.filters.outcome}>Any outcome</option>
            <For each={OUTCOMES}>{(o) => <option value={o} selected={o === props.filters.outcome}>{o}</option>}</For>
          </select>
        </Field>
        <Field label="Resource type" for="f-resource-type">
          <select id="f-resource-type" name="resource_type">
            <option value="" selected={!props.filters.resource_type}>Any resource</option>
            <For each={withCurrent(facets()?.resource_types, props.filters.resource_type)}>{(r) => <option value={r} selected={r === props.filters.resource_type}>{r}</option>}</For>
          </select>
        </Field>
        <Field label="Resource id" for="f-resource-id">
          <input id="f-resource-id" name="resource_id" maxlength="200" value={props.filters.resource_id ?? ''} />
        </Field>
        <Field label="From" for="f-from">
          <input id="f-from" name="from" type="date" value={props.filters.from ?? ''} />
        </Field>
        <Field label="To" for="f-to" hint="Both days included, in your time zone">
          <input id="f-to" name="to" type="date" value={props.filters.to ?? ''} aria-describedby="f-to-hint" />
        </Field>
      </div>
      <Show when={props.problem}>
        <div class="alert error" role="alert">{props.problem}</div>
      </Show>
      <div class="actions">
        <button type="reset" class="secondary">Clear filters</button>
        <button type="submit">Apply filters</button>
      </div>
    </form>
  )
}
