/**
 * Blocked addresses (live first, then history) and suspended API keys, each reversible by an administrator: a lift
 * or a reinstatement applies on every replica at once and is audited.
 */
import { createResource, createSignal, For, Show } from 'solid-js'
import { api } from '../../api.ts'
import { ConfirmButton, Empty, ErrorAlert, Field, formatDate, Loading } from '../../ui.tsx'
import { isLive, SECURITY, type IpBlock, type SuspendedKey } from './types.ts'
import { ResponsiveTable } from '../../table.tsx'
import { ShieldCheck } from '../../icons.ts'

const REASONS: Record<string, string> = { credential_stuffing: 'Credential stuffing', probing: 'Probing', manual: 'Blocked by hand' }

export function SecurityBlocks(props: { canManage: boolean; onChange: () => void }) {
  const [blocks, { refetch }] = createResource(() => api<{ data: IpBlock[] }>('GET', `${SECURITY}/blocks`).then((r) => r.data))
  const [ip, setIp] = createSignal('')
  const [minutes, setMinutes] = createSignal(60)
  const [error, setError] = createSignal<unknown>(null)

  async function block(e: Event) {
    e.preventDefault()
    setError(null)
    try {
      await api('POST', `${SECURITY}/blocks`, { body: { ip: ip().trim(), minutes: minutes() } })
      setIp('')
      await refetch()
      props.onChange()
    } catch (err) {
      setError(err)
    }
  }
  async function lift(address: string) {
    await api('DELETE', `${SECURITY}/blocks/${encodeURIComponent(address)}`)
    await refetch()
    props.onChange()
  }

  return (
    <section class="card stack" aria-labelledby="security-blocks">
      <h2 id="security-blocks">Blocked addresses</h2>
      <Show when={props.canManage}>
        <form class="row" onSubmit={(e) => void block(e)}>
          <Field label="Address" for="block-ip"><input id="block-ip" required value={ip()} placeholder="203.0.113.7" onInput={(e) => setIp(e.currentTarget.value)} /></Field>
          <Field label="Minutes" for="block-minutes">
            <input id="block-minutes" type="number" min="1" value={minutes()} onInput={(e) => setMinutes(Number(e.currentTarget.value))} />
          </Field>
          <div><button type="submit">Block</button></div>
        </form>
        <Show when={error()}><ErrorAlert error={error()} /></Show>
      </Show>
      <Show when={!blocks.error} fallback={<ErrorAlert error={blocks.error} retry={refetch} />}>
        <Show when={blocks.latest} fallback={<Loading label="Loading blocks…" />}>
          {(list) => (
            <Show when={list().length > 0} fallback={<Empty title="No address has been blocked" icon={() => <ShieldCheck />}>Credential stuffing and probing block their address here.</Empty>}>
              <ResponsiveTable testid="security-blocks">
                  <thead><tr><th>Address</th><th>Why</th><th>Since</th><th>Until</th><th>State</th><th><span class="sr-only">Actions</span></th></tr></thead>
                  <tbody>
                    <For each={list()}>
                      {(b) => (
                        <tr>
                          <td>{b.ip}</td>
                          <td>{REASONS[b.reason] ?? b.reason}</td>
                          <td>{formatDate(b.created_at)}</td>
                          <td>{formatDate(b.lifted_at ?? b.expires_at)}</td>
                          <td><span class={`badge ${isLive(b) ? 'bad' : 'ok'}`}>{isLive(b) ? 'blocked' : b.lifted_at && new Date(b.lifted_at) < new Date(b.expires_at) ? 'lifted' : 'expired'}</span></td>
                          <td>
                            <Show when={props.canManage && isLive(b)}>
                              <ConfirmButton label="Lift" title={`Lift the block of ${b.ip}?`} message="Requests from this address are served again at once, on every replica." action={() => lift(b.ip)} class="secondary small" />
                            </Show>
                          </td>
                        </tr>
                      )}
                    </For>
                  </tbody>

              </ResponsiveTable>
            </Show>
          )}
        </Show>
      </Show>
    </section>
  )
}

export function SuspendedKeys(props: { canManage: boolean; onChange: () => void }) {
  const [keys, { refetch }] = createResource(() => api<{ data: SuspendedKey[] }>('GET', `${SECURITY}/keys/suspended`).then((r) => r.data))
  async function reinstate(id: string) {
    await api('POST', `${SECURITY}/keys/${id}/reinstate`)
    await refetch()
    props.onChange()
  }
  return (
    <section class="card stack" aria-labelledby="security-keys">
      <h2 id="security-keys">Suspended API keys</h2>
      <Show when={!keys.error} fallback={<ErrorAlert error={keys.error} retry={refetch} />}>
        <Show when={keys.latest} fallback={<Loading label="Loading keys…" />}>
          {(list) => (
            <Show when={list().length > 0} fallback={<p class="muted">No key is suspended.</p>}>
              <ResponsiveTable testid="suspended-keys">
                  <thead><tr><th>Key</th><th>Owner</th><th>Why</th><th>Since</th><th><span class="sr-only">Actions</span></th></tr></thead>
                  <tbody>
                    <For each={list()}>
                      {(k) => (
                        <tr>
                          <td>{k.name} <code>{k.key_prefix}…</code></td>
                          <td>{k.owner_email ?? '—'}</td>
                          <td>{k.suspended_reason ?? '—'}</td>
                          <td>{formatDate(k.suspended_at)}</td>
                          <td>
                            <Show when={props.canManage}>
                              <ConfirmButton label="Reinstate" title={`Reinstate ${k.name}?`} message="The key works again at once, on every replica." action={() => reinstate(k.id)} class="secondary small" />
                            </Show>
                          </td>
                        </tr>
                      )}
                    </For>
                  </tbody>

              </ResponsiveTable>
            </Show>
          )}
        </Show>
      </Show>
    </section>
  )
}
