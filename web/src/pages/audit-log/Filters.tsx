import { createResource, createSignal, For, Show } from 'solid-js'
import type { AuditFacetsSchema } from '../../../../src/audit/model.ts'
import { api } from '../../api.ts'
import { Field } from '../../ui.tsx'
import { FILTER_KEYS, OUTCOMES, RANGES, type Filters } from './model.ts'

type Facets = typeof AuditFacetsSchema.static

/** A select's options: the known values, plus the current one when the list lacks it (a shared link, say). */
const withCurrent = (known: string[] | undefined, current: string | undefined) =>
  current && !(known ?? []).includes(current) ? [current, ...(known ?? [])] : (known ?? [])

/** The filter form; applying it writes the filters to the URL, which is what the list follows. */
export function AuditFilters(props: { filters: Filters; problem: string | null; onApply: (f: Filters) => void }) {
  const [facets] = createResource(() => api<Facets>('GET', '/api-internal/v1/audit/facets'))
  /** The period: one ending now, any time ('' ), or custom start and end times. */
  const [period, setPeriod] = createSignal(props.filters.range ?? (props.filters.from || props.filters.to ? 'custom' : ''))
  /** A day from an older link becomes that day's first (or last) minute in the time fields. */
  const asMinute = (v: string | undefined, end: boolean) => (v && /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T${end ? '23:59' : '00:00'}` : (v ?? ''))

  function submit(e: SubmitEvent) {
    e.preventDefault()
    const form = new FormData(e.currentTarget as HTMLFormElement)
    const next: Filters = {}
    for (const key of FILTER_KEYS) {
      const value = String(form.get(key) ?? '').trim()
      if (value) next[key] = value
    }
    // A period ending now, or custom times: never both.
    if (period() === 'custom') delete next.range
    else {
      delete next.from
      delete next.to
      if (period()) next.range = period()
    }
    props.onApply(next)
  }

  /** Empties the fields too: text typed but never applied would otherwise stay after the list is cleared. */
  function clear(e: Event) {
    e.preventDefault()
    for (const el of (e.currentTarget as HTMLFormElement).elements)
      if (el instanceof HTMLInputElement || el instanceof HTMLSelectElement) el.value = ''
    setPeriod('')
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
        <Field label="Period" for="f-range">
          <select id="f-range" name="range" value={period()} onChange={(e) => setPeriod(e.currentTarget.value)}>
            <option value="">Any time</option>
            <For each={RANGES}>{(r) => <option value={r.value}>{r.label}</option>}</For>
            <option value="custom">Custom times…</option>
          </select>
        </Field>
        <Show when={period() === 'custom'}>
          <Field label="From" for="f-from" hint="Your time zone, to the minute">
            <input id="f-from" name="from" type="datetime-local" value={asMinute(props.filters.from, false)} aria-describedby="f-from-hint" />
          </Field>
          <Field label="To" for="f-to" hint="Included">
            <input id="f-to" name="to" type="datetime-local" value={asMinute(props.filters.to, true)} aria-describedby="f-to-hint" />
          </Field>
        </Show>
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
