import { For, Show } from 'solid-js'
import { A } from '@solidjs/router'
import { formatDate, formatNumber } from '../../ui.tsx'
import { namesOf, type Named } from './lookups.ts'
import { StatusBadge, type ApiKey } from './types.tsx'
import { ResponsiveTable } from '../../table.tsx'

/** The keys as a table; each name leads to the key's page with its actions and usage. `owners` adds an owner column. */
export function KeyList(props: { keys: ApiKey[]; owners?: Named[] | undefined }) {
  return (
    <ResponsiveTable class="keys-table" label="API keys">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <Show when={props.owners}><th scope="col">Owner</th></Show>
            <th scope="col">Key</th>
            <th scope="col">Status</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col" class="num">API calls</th>
          </tr>
        </thead>
        <tbody>
          <For each={props.keys}>
            {(k) => (
              <tr>
                <td><A href={`/api-keys/${k.id}`}>{k.name}</A></td>
                <Show when={props.owners}>{(owners) => <td>{namesOf([k.user_id], owners())[0]}</td>}</Show>
                <td><code>{k.key_prefix}…</code></td>
                <td><StatusBadge apiKey={k} /></td>
                <td>{k.last_used_at ? formatDate(k.last_used_at) : <span class="muted">never</span>}</td>
                <td>{k.expires_at ? formatDate(k.expires_at) : <span class="muted">never</span>}</td>
                <td class="num">{formatNumber(k.request_count)}</td>
              </tr>
            )}
          </For>
        </tbody>

    </ResponsiveTable>
  )
}
