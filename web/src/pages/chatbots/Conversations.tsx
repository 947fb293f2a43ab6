/** Every conversation with the chatbot (test chat, API and widget), newest first; one opened with its messages. */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { api } from '../../api.ts'
import { ConfirmButton, Empty, ErrorAlert, formatDate, Loading } from '../../ui.tsx'
import { Markdown } from '../../markdown.tsx'
import { SourceList } from './SourceList.tsx'
import { BASE, type Chatbot, type Conversation, type StoredMessage } from './types.ts'
import { ResponsiveTable } from '../../table.tsx'
import { Bot } from '../../icons.ts'

const SOURCE_LABELS: Record<string, string> = { internal: 'Test chat', api: 'API or widget', plugin: 'Plugin' }

export function ConversationsView(props: { bot: Chatbot }) {
  const path = () => `${BASE}/${props.bot.id}/conversations`
  const [list, { refetch }] = createResource(path, (p) => api<{ data: Conversation[] }>('GET', p).then((r) => r.data))
  const [open, setOpen] = createSignal<Conversation | null>(null)
  const [messages] = createResource(open, (c) => api<{ data: StoredMessage[] }>('GET', `${path()}/${c.id}`).then((r) => r.data))

  async function remove(c: Conversation) {
    await api('DELETE', `${path()}/${c.id}`)
    if (open()?.id === c.id) setOpen(null)
    await refetch()
  }

  return (
    <div class="conversations">
      <section class="stack" aria-labelledby="conversations-title">
        <div class="test-chat-head">
          <h2 id="conversations-title">Conversations</h2>
          <button type="button" class="secondary small" onClick={() => void refetch()}>Refresh</button>
        </div>
        <Switch>
          <Match when={list.error}><ErrorAlert error={list.error} retry={() => void refetch()} /></Match>
          <Match when={list.loading && !list.latest}><Loading label="Loading conversations…" /></Match>
          <Match when={list.latest?.length === 0}>
            <Empty title="No conversations yet" icon={() => <Bot />}>Conversations from the test chat, the API and the widget appear here.</Empty>
          </Match>
          <Match when={list.latest}>
            {(items) => (
              <ResponsiveTable>
                  <caption class="sr-only">Conversations, newest first</caption>
                  <thead>
                    <tr><th scope="col">First message</th><th scope="col">From</th><th scope="col">Last activity</th><th scope="col"><span class="sr-only">Actions</span></th></tr>
                  </thead>
                  <tbody>
                    <For each={items()}>
                      {(c) => (
                        <tr classList={{ selected: open()?.id === c.id }}>
                          <td class="conv-title">{c.title || '(untitled)'}</td>
                          <td>{SOURCE_LABELS[c.source] ?? c.source}</td>
                          <td>{formatDate(c.updated_at)}</td>
                          <td class="row-actions">
                            <button type="button" class="secondary small" aria-label={`Read conversation “${c.title}”`} onClick={() => setOpen(c)}>Read</button>
                            <ConfirmButton
                              label="Delete"
                              title="Delete this conversation?"
                              message={<>“{c.title}” and all of its messages are deleted for good.</>}
                              confirmLabel="Delete conversation"
                              action={() => remove(c)}
                            />
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

      <Show when={open()}>
        {(c) => (
          <section class="card transcript" aria-labelledby="transcript-title">
            <div class="test-chat-head">
              <h2 id="transcript-title">{c().title || 'Conversation'}</h2>
              <button type="button" class="secondary small" onClick={() => setOpen(null)}>Close</button>
            </div>
            <p class="muted">Started {formatDate(c().created_at)}</p>
            <Switch>
              <Match when={messages.error}><ErrorAlert error={messages.error} /></Match>
              <Match when={messages.loading}><Loading label="Loading messages…" /></Match>
              <Match when={messages()?.length === 0}><p class="muted">This conversation has no messages.</p></Match>
              <Match when={messages()}>
                {(msgs) => (
                  <ol class="chat-log transcript-log" aria-label="Messages">
                    <For each={msgs()}>
                      {(m) => (
                        <li class={`bubble ${m.role === 'user' ? 'user' : 'assistant'}`}>
                          <span class="bubble-meta">
                            {m.role === 'user' ? 'User' : 'Chatbot'} · {formatDate(m.created_at)}
                            <Show when={m.role !== 'user' && m.model}> · {m.model}</Show>
                          </span>
                          <Show when={m.role === 'assistant'} fallback={<div class="bubble-text">{m.content}</div>}><Markdown text={m.content} /></Show>
                          <Show when={m.sources?.length}><SourceList sources={m.sources ?? []} /></Show>
                        </li>
                      )}
                    </For>
                  </ol>
                )}
              </Match>
            </Switch>
          </section>
        )}
      </Show>
    </div>
  )
}
