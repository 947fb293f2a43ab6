/**
 * A table that becomes a list of cards on narrow screens instead of hiding columns or scrolling sideways: each cell
 * is labelled with its column's header (`data-label`, copied from the header row, also for rows added later), and
 * the stylesheet lays a row out as a card of "label: value" lines below 720 px.
 *
 * @example
 * <ResponsiveTable label="API keys"><thead>…</thead><tbody>…</tbody></ResponsiveTable>
 */
import { onCleanup, onMount, type JSX, type ParentProps } from 'solid-js'

function label(table: HTMLTableElement): void {
  const headers = [...(table.tHead?.rows[0]?.cells ?? [])].map((th) => (th.querySelector('.sr-only') ? '' : (th.textContent ?? '').trim()))
  for (const body of table.tBodies)
    for (const row of body.rows) {
      let column = 0
      for (const cell of row.cells) {
        const text = cell.colSpan > 1 ? '' : (headers[column] ?? '')
        if (cell.dataset.label !== text) cell.dataset.label = text
        column += cell.colSpan
      }
    }
}

export function ResponsiveTable(props: ParentProps<{ label?: string; class?: string; wrapClass?: string; testid?: string; caption?: JSX.Element }>) {
  let table: HTMLTableElement | undefined
  onMount(() => {
    if (!table) return
    const el = table
    label(el)
    const observer = new MutationObserver(() => label(el))
    observer.observe(el, { childList: true, subtree: true })
    onCleanup(() => observer.disconnect())
  })
  return (
    <div class={`table-wrap cards-on-mobile ${props.wrapClass ?? ''}`}>
      <table ref={table} class={props.class} aria-label={props.caption ? undefined : props.label} data-testid={props.testid}>
        {props.caption ? <caption class="sr-only">{props.caption}</caption> : null}
        {props.children}
      </table>
    </div>
  )
}
