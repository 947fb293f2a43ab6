/**
 * Your notifications: the inbox (events about you, and the platform events your role should hear of), which of them
 * the inbox shows, your own webhook and email channels, and their delivery log.
 */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { useNavigate, useParams } from '@solidjs/router'
import { api } from '../api.ts'
import { Tabs } from '../tabs.tsx'
import { Badge, Card, Empty, ErrorAlert, formatDate, Loading, PageHeader } from '../ui.tsx'
import { toast } from '../toast.tsx'
import { ChannelsPanel } from './notifications/Channels.tsx'
import { DeliveryLog } from './notifications/DeliveryLog.tsx'
import { N, type EventType, type Notification } from './notifications/types.ts'
import './Administration.css'

const TABS = [
  { id: 'inbox', label: 'Inbox' },
  { id: 'channels', label: 'Channels' },
] as const
type Tab = (typeof TABS)[number]['id']

function Inbox() {
  const [unreadOnly, setUnreadOnly] = createSignal(false)
  const [inbox, { refetch }] = createResource(
    () => ({ unread: unreadOnly() }),
    (q) => api<{ data: Notification[]; total: number; unread: number }>('GET', `${N}?limit=100${q.unread ? '&unread=true' : ''}`),
  )
  async function read(id: string | null) {
    await api('POST', id ? `${N}/${id}/read` : `${N}/read-all`)
    await refetch()
  }
  return (
    <Card
      title={<>Inbox <Show when={inbox.latest?.unread}>{(n) => <Badge tone="accent">{n()} unread</Badge>}</Show></>}
      testid="inbox"
      actions={
        <>
          <label class="check small-text"><input type="checkbox" checked={unreadOnly()} onChange={(e) => setUnreadOnly(e.currentTarget.checked)} />Unread only</label>
          <button type="button" class="secondary small" disabled={!inbox.latest?.unread} onClick={() => void read(null).then(() => toast('All read'))}>Mark all read</button>
        </>
      }
    >
      <Switch>
        <Match when={inbox.error}><ErrorAlert error={inbox.error} retry={refetch} /></Match>
        <Match when={!inbox.latest}><Loading /></Match>
        <Match when={inbox.latest!.data.length === 0}><Empty title="Nothing here">Budget warnings, expiring keys and failed documents appear here as they happen.</Empty></Match>
        <Match when={inbox.latest}>
          {(page) => (
            <ul class="inbox-list">
              <For each={page().data}>
                {(n) => (
                  <li classList={{ unread: !n.read_at }}>
                    <div>
                      <strong>{n.title}</strong>
                      <div class="muted small-text">{n.type} · {formatDate(n.created_at)}</div>
                    </div>
                    <Show when={!n.read_at}>
                      <button type="button" class="ghost small" onClick={() => void read(n.id)} aria-label={`Mark “${n.title}” read`}>Mark read</button>
                    </Show>
                  </li>
                )}
              </For>
            </ul>
          )}
        </Match>
      </Switch>
    </Card>
  )
}

function Subscriptions() {
  const [subs, { mutate }] = createResource(() => api<{ events: string[]; available: string[] }>('GET', `${N}/subscriptions`))
  const [types] = createResource(() => api<{ data: EventType[] }>('GET', `${N}/event-types`).then((r) => r.data))
  const [error, setError] = createSignal<unknown>(null)
  async function toggle(type: string, on: boolean) {
    setError(null)
    const next = new Set(subs.latest?.events ?? [])
    if (on) next.add(type)
    else next.delete(type)
    try {
      mutate(await api<{ events: string[]; available: string[] }>('PUT', `${N}/subscriptions`, { body: { events: [...next] } }))
    } catch (err) {
      setError(err)
    }
  }
  return (
    <Card title="What the inbox shows" testid="subscriptions">
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <Show when={subs.latest && types.latest} fallback={<Loading lines={2} />}>
        <div class="admin-events">
          <For each={types.latest!.filter((t) => subs.latest!.available.includes(t.type))}>
            {(t) => (
              <label class="check">
                <input type="checkbox" checked={subs.latest!.events.includes(t.type)} onChange={(e) => void toggle(t.type, e.currentTarget.checked)} />
                <span>{t.title} <span class="muted small-text">{t.description}</span></span>
              </label>
            )}
          </For>
        </div>
      </Show>
    </Card>
  )
}

export default function Notifications() {
  const params = useParams<{ id?: string }>()
  const navigate = useNavigate()
  const tab = (): Tab => (params.id === 'channels' ? 'channels' : 'inbox')
  const [deliveries, setDeliveries] = createSignal(0)
  return (
    <section class="admin-page" aria-labelledby="page-title">
      <PageHeader title="Notifications" description="Events about your budgets, keys and documents (and, with the right role, about the platform), in the dashboard, by webhook or by email." />
      <Tabs label="Notifications" tabs={TABS} value={tab()} onChange={(id) => navigate(id === 'inbox' ? '/notifications' : `/notifications/${id}`)} />
      <div role="tabpanel" id={`panel-${tab()}`} aria-labelledby={`tab-${tab()}`} class="stack">
        <Switch>
          <Match when={tab() === 'inbox'}>
            <Inbox />
            <Subscriptions />
          </Match>
          <Match when={tab() === 'channels'}>
            <ChannelsPanel scope="user" onChange={() => setDeliveries(deliveries() + 1)} />
            <DeliveryLog scope="user" reload={deliveries()} />
          </Match>
        </Switch>
      </div>
    </section>
  )
}
