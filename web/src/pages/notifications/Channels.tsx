/**
 * Notification channels: webhooks (signed, see the hint) and email addresses, each hearing the events it is
 * subscribed to. Your own channels hear events about you; platform-wide ones (administrators) hear every event of
 * their types. A webhook's secret is shown once, when the channel is created or its secret replaced.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api, ApiError } from '../../api.ts'
import { ResponsiveTable } from '../../table.tsx'
import { Badge, ConfirmButton, CopyButton, Empty, ErrorAlert, Field, fieldMessage, formatDate, Loading } from '../../ui.tsx'
import { toast } from '../../toast.tsx'
import { N, type Channel, type Delivery, type EventType, type Scope } from './types.ts'

const LABELS: Record<string, string> = { name: 'Name', url: 'URL', address: 'Address', events: 'Events', secret: 'Secret', type: 'Type', scope: 'Scope' }

function NewChannel(props: { scope: Scope; events: EventType[]; onCreated: (c: Channel & { secret: string | null }) => void; onCancel: () => void }) {
  const [name, setName] = createSignal('')
  const [type, setType] = createSignal<'webhook' | 'email'>('webhook')
  const [target, setTarget] = createSignal('')
  const [chosen, setChosen] = createSignal(new Set<string>())
  const [errors, setErrors] = createSignal<Record<string, string>>({})
  const [general, setGeneral] = createSignal<unknown>(null)
  const [busy, setBusy] = createSignal(false)
  const offered = () => props.events.filter((e) => (props.scope === 'admin' ? true : e.audience === 'user'))
  async function create(e: Event) {
    e.preventDefault()
    setErrors({})
    setGeneral(null)
    if (chosen().size === 0) {
      setErrors({ events: 'Choose at least one event' })
      return
    }
    setBusy(true)
    try {
      const body = { name: name().trim(), type: type(), [type() === 'webhook' ? 'url' : 'address']: target().trim(), events: [...chosen()], scope: props.scope }
      props.onCreated(await api<Channel & { secret: string | null }>('POST', `${N}/channels`, { body }))
    } catch (err) {
      const param = err instanceof ApiError ? err.param?.replace(/\[\d+\]$/, '') : undefined
      if (err instanceof ApiError && param && param in LABELS) setErrors({ [param]: fieldMessage(err, LABELS) })
      else setGeneral(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <form class="card stack" onSubmit={(e) => void create(e)} aria-labelledby={`new-channel-${props.scope}`} data-testid="new-channel">
      <h3 id={`new-channel-${props.scope}`}>New channel</h3>
      <div class="row">
        <Field label="Name" for={`ch-name-${props.scope}`} error={errors().name}>
          <input id={`ch-name-${props.scope}`} required value={name()} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field label="Type" for={`ch-type-${props.scope}`} error={errors().type}>
          <select id={`ch-type-${props.scope}`} value={type()} onChange={(e) => setType(e.currentTarget.value as 'webhook' | 'email')}>
            <option value="webhook">Webhook</option>
            <option value="email">Email</option>
          </select>
        </Field>
      </div>
      <Show
        when={type() === 'webhook'}
        fallback={
          <Field label="Address" for={`ch-target-${props.scope}`} error={errors().address}>
            <input id={`ch-target-${props.scope}`} type="email" required value={target()} onInput={(e) => setTarget(e.currentTarget.value)} />
          </Field>
        }
      >
        <Field
          label="URL"
          for={`ch-target-${props.scope}`}
          error={errors().url}
          hint={
            props.scope === 'admin'
              ? 'Events are POSTed as JSON, signed: X-Enclava-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">. A host on the private network must be named exactly.'
              : 'Events are POSTed as JSON, signed (X-Enclava-Signature). It must be a public address.'
          }
        >
          <input id={`ch-target-${props.scope}`} type="url" required value={target()} placeholder="https://hooks.example.com/enclava" onInput={(e) => setTarget(e.currentTarget.value)} />
        </Field>
      </Show>
      <fieldset aria-describedby={errors().events ? `ch-events-${props.scope}-error` : undefined}>
        <legend>Events</legend>
        <div class="admin-events">
          <For each={offered()}>
            {(ev) => (
              <label class="check">
                <input
                  type="checkbox"
                  checked={chosen().has(ev.type)}
                  onChange={(e) => {
                    const next = new Set(chosen())
                    if (e.currentTarget.checked) next.add(ev.type)
                    else next.delete(ev.type)
                    setChosen(next)
                  }}
                />
                <span>{ev.title} <span class="muted small-text">{ev.description}</span></span>
              </label>
            )}
          </For>
        </div>
        <Show when={errors().events}><p class="field-error" id={`ch-events-${props.scope}-error`}>{errors().events}</p></Show>
      </fieldset>
      <Show when={general()}><ErrorAlert error={general()} /></Show>
      <div class="form-actions">
        <button type="submit" disabled={busy()}>Add channel</button>
        <button type="button" class="secondary" onClick={props.onCancel}>Cancel</button>
      </div>
    </form>
  )
}

export function ChannelsPanel(props: { scope: Scope; onChange?: () => void }) {
  const [channels, { refetch }] = createResource(() => api<{ data: Channel[] }>('GET', `${N}/channels?scope=${props.scope}`).then((r) => r.data))
  const [events] = createResource(() => api<{ data: EventType[] }>('GET', `${N}/event-types`).then((r) => r.data))
  const [adding, setAdding] = createSignal(false)
  const [secret, setSecret] = createSignal<{ name: string; secret: string } | null>(null)
  const [error, setError] = createSignal<unknown>(null)
  const changed = () => {
    void refetch()
    props.onChange?.()
  }
  async function test(c: Channel) {
    setError(null)
    try {
      const d = await api<Delivery>('POST', `${N}/channels/${c.id}/test`)
      toast(d.status === 'delivered' ? `Test delivered to ${c.name}` : `Test to ${c.name} failed: ${d.last_error ?? d.status}`, d.status === 'delivered' ? 'ok' : 'error')
      changed()
    } catch (err) {
      setError(err)
    }
  }
  async function setActive(c: Channel, active: boolean) {
    setError(null)
    try {
      await api('PATCH', `${N}/channels/${c.id}`, { body: { is_active: active } })
      changed()
    } catch (err) {
      setError(err)
    }
  }
  const title = props.scope === 'admin' ? 'Platform-wide channels' : 'Your channels'
  return (
    <section class="card stack" aria-labelledby={`channels-${props.scope}`} data-testid={`channels-${props.scope}`}>
      <div class="card-head">
        <h2 id={`channels-${props.scope}`}>{title}</h2>
        <Show when={!adding()}><div class="actions"><button type="button" onClick={() => setAdding(true)}>Add channel</button></div></Show>
      </div>
      <p class="muted">
        {props.scope === 'admin'
          ? 'Every event of the types a channel chooses, from the whole platform.'
          : 'Events about you (your budgets, keys and documents). Your dashboard inbox has them too.'}
      </p>
      <Show when={secret()}>
        {(s) => (
          <div class="alert ok-note" role="status" data-testid="channel-secret">
            <span class="alert-body">
              The signing secret of {s().name}, shown only now: <code>{s().secret}</code>
            </span>
            <CopyButton text={s().secret} />
            <button type="button" class="secondary small" onClick={() => setSecret(null)}>Done</button>
          </div>
        )}
      </Show>
      <Show when={adding() && events.latest}>
        <NewChannel
          scope={props.scope}
          events={events.latest!}
          onCancel={() => setAdding(false)}
          onCreated={(c) => {
            setAdding(false)
            if (c.secret) setSecret({ name: c.name, secret: c.secret })
            toast(`Channel ${c.name} added`)
            changed()
          }}
        />
      </Show>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <Switch>
        <Match when={channels.error}><ErrorAlert error={channels.error} retry={refetch} /></Match>
        <Match when={!channels.latest}><Loading label="Loading channels…" /></Match>
        <Match when={channels.latest!.length === 0}>
          <Empty title="No channel yet">Add a webhook or an email address to hear of events as they happen.</Empty>
        </Match>
        <Match when={channels.latest}>
          {(list) => (
            <ResponsiveTable label={title}>
              <thead><tr><th>Channel</th><th>Sends to</th><th>Events</th><th>Last delivery</th><th><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                <For each={list()}>
                  {(c) => (
                    <tr>
                      <td>
                        <strong>{c.name}</strong> <Badge tone={c.is_active ? 'ok' : 'warn'}>{c.type}{c.is_active ? '' : ', off'}</Badge>
                      </td>
                      <td class="admin-target">{c.url ?? c.address}</td>
                      <td>{c.events.join(', ')}</td>
                      <td>
                        <Show when={c.last_delivery} fallback="—">
                          {(d) => <><Badge tone={d().status === 'delivered' ? 'ok' : d().status === 'failed' ? 'bad' : 'warn'}>{d().status}</Badge> <span class="small-text muted">{formatDate(d().at)}</span></>}
                        </Show>
                      </td>
                      <td>
                        <div class="actions">
                          <button type="button" class="secondary small" onClick={() => void test(c)} aria-label={`Send a test to ${c.name}`}>Test</button>
                          <button type="button" class="secondary small" onClick={() => void setActive(c, !c.is_active)}>{c.is_active ? 'Pause' : 'Resume'}</button>
                          <Show when={c.type === 'webhook'}>
                            <ConfirmButton
                              label="New secret"
                              class="secondary small"
                              title={`Replace the secret of ${c.name}?`}
                              message="Deliveries are signed with the new secret at once: update the receiver."
                              confirmLabel="Replace"
                              action={async () => {
                                const r = await api<Channel & { secret: string }>('POST', `${N}/channels/${c.id}/rotate-secret`)
                                setSecret({ name: c.name, secret: r.secret })
                              }}
                            />
                          </Show>
                          <ConfirmButton
                            label="Remove"
                            ariaLabel={`Remove ${c.name}`}
                            title={`Remove ${c.name}?`}
                            message="Its delivery log goes with it."
                            action={async () => {
                              await api('DELETE', `${N}/channels/${c.id}`)
                              changed()
                            }}
                            done={`Channel ${c.name} removed`}
                          />
                        </div>
                      </td>
                    </tr>
                  )}
                </For>
              </tbody>
            </ResponsiveTable>
          )}
        </Match>
      </Switch>
    </section>
  )
}
