/**
 * What an update changed, before and after, from the event's `details.changes` (recorded by update routes), a
 * role change's `from`/`to`, or, for events recorded before values were kept, the names of the changed fields.
 */
import { For, Match, Show, Switch } from 'solid-js'
import { ResponsiveTable } from '../../table.tsx'
import { Card } from '../../ui.tsx'

type Change = { from: unknown; to: unknown } | { changed: true }

const words = (field: string) => field.replace(/_/g, ' ')

function Value(props: { value: unknown }) {
  const v = () => props.value
  return (
    <Switch fallback={<code>{JSON.stringify(v())}</code>}>
      <Match when={v() === null || v() === undefined || v() === ''}><span class="muted">none</span></Match>
      <Match when={typeof v() === 'boolean'}>{v() ? 'yes' : 'no'}</Match>
      <Match when={typeof v() === 'string' || typeof v() === 'number'}>{String(v())}</Match>
      <Match when={Array.isArray(v()) && (v() as unknown[]).length === 0}><span class="muted">none</span></Match>
    </Switch>
  )
}

export function ResourceTable(props: { details: Record<string, unknown> }) {
  const changes = (): [string, Change][] => {
    const d = props.details
    if (d.changes && typeof d.changes === 'object') return Object.entries(d.changes as Record<string, Change>)
    if ('from' in d && 'to' in d) return [['role', { from: d.from, to: d.to }]]
    return []
  }
  const fields = () => (Array.isArray(props.details.fields) ? (props.details.fields as string[]) : [])
  return (
    <Show when={changes().length > 0 || fields().length > 0}>
      <Card title="What changed" id="changes-title" testid="event-changes">
        <Show when={changes().length > 0} fallback={<p>Fields changed: {fields().map(words).join(', ')}. <span class="muted">(Their values were not recorded for this event.)</span></p>}>
          <ResponsiveTable label="What changed">
            <thead>
              <tr><th scope="col">Field</th><th scope="col">Before</th><th scope="col">After</th></tr>
            </thead>
            <tbody>
              <For each={changes()}>
                {([field, change]) => (
                  <tr>
                    <th scope="row">{words(field)}</th>
                    <Show when={'from' in change} fallback={<td colSpan={2} class="muted">changed (a secret: not recorded)</td>}>
                      <td><Value value={(change as { from: unknown }).from} /></td>
                      <td><Value value={(change as { to: unknown }).to} /></td>
                    </Show>
                  </tr>
                )}
              </For>
            </tbody>
          </ResponsiveTable>
        </Show>
      </Card>
    </Show>
  )
}
