/**
 * The builder's live test chat: the saved chatbot answers through the internal chat endpoint as server-sent events
 * (start with the conversation and sources, deltas, done or error), charged to the signed-in person. Stop aborts the
 * request: the gateway cancels the upstream and charges what was generated; the cut answer is not kept as history.
 */
import { createSignal, For, onCleanup, Show } from 'solid-js'
import { createStore, produce } from 'solid-js/store'
import { ApiError, authorizedFetch } from '../../api.ts'
import { Send, Square } from '../../icons.ts'
import { Markdown } from '../../markdown.tsx'
import { ErrorAlert, Field } from '../../ui.tsx'
import { readEvents } from './sse.ts'
import { SourceList } from './SourceList.tsx'
import type { Chatbot, Source } from './types.ts'

interface Turn {
  role: 'user' | 'assistant'
  content: string
  sources: Source[]
  pending?: boolean
  /** Cut short by Stop. */
  stopped?: boolean
}

interface StartEvent {
  conversation_id: string
  sources: Source[]
}

export function TestChat(props: { bot: Chatbot; unsaved: boolean }) {
  const [turns, setTurns] = createStore<Turn[]>([])
  const [conversation, setConversation] = createSignal<string | null>(null)
  const [message, setMessage] = createSignal('')
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  let log: HTMLOListElement | undefined
  let controller: AbortController | undefined
  let stopping = false
  onCleanup(() => controller?.abort())

  const scroll = () => log?.scrollTo({ top: log.scrollHeight })
  const last = (update: (t: Turn) => void) => setTurns(produce((list) => update(list[list.length - 1] as Turn)))

  async function send(e: SubmitEvent) {
    e.preventDefault()
    const text = message().trim()
    if (!text || busy()) return
    setError(null)
    setBusy(true)
    setMessage('')
    setTurns(turns.length, { role: 'user', content: text, sources: [] })
    setTurns(turns.length, { role: 'assistant', content: '', sources: [], pending: true })
    scroll()
    controller = new AbortController()
    stopping = false
    try {
      const body = { message: text, stream: true, ...(conversation() ? { conversation_id: conversation() } : {}) }
      const res = await authorizedFetch(`/api-internal/v1/chatbot/${props.bot.id}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify(body),
        signal: controller.signal,
      })
      if (!res.body) throw new ApiError(0, 'The server sent no answer.')
      for await (const { event, data } of readEvents(res.body)) {
        if (event === 'start') {
          const start = data as StartEvent
          setConversation(start.conversation_id)
          last((t) => (t.sources = start.sources ?? []))
        } else if (event === 'delta') {
          last((t) => (t.content += (data as { content: string }).content))
          scroll()
        } else if (event === 'done') {
          const done = data as { response: string; sources: Source[] }
          last((t) => {
            t.content = done.response
            t.sources = done.sources ?? t.sources
          })
        } else if (event === 'error') {
          const err = (data as { error?: { message?: string; code?: string } }).error
          throw new ApiError(502, err?.message ?? 'The chat failed.', err?.code ?? 'upstream_error')
        }
      }
      last((t) => (t.pending = false))
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') {
        if (stopping) last((t) => Object.assign(t, { pending: false, stopped: true }))
        return
      }
      setError(err)
      // A turn that produced nothing is dropped, so the log shows only what was said.
      setTurns(produce((list) => {
        const answer = list[list.length - 1]
        if (answer && !answer.content) list.pop()
        else if (answer) answer.pending = false
      }))
    } finally {
      setBusy(false)
      scroll()
    }
  }

  function stop() {
    stopping = true
    controller?.abort()
  }

  function restart() {
    controller?.abort()
    setTurns([])
    setConversation(null)
    setError(null)
  }

  return (
    <section class="card test-chat" aria-labelledby="test-chat-title">
      <div class="test-chat-head">
        <h2 id="test-chat-title">Test chat</h2>
        <button type="button" class="secondary small" onClick={restart} disabled={turns.length === 0}>New conversation</button>
      </div>
      <Show when={props.unsaved}>
        <p class="hint unsaved" role="status">You have unsaved changes: the test chat uses the saved settings.</p>
      </Show>
      <Show when={!props.bot.is_active}>
        <p class="hint unsaved">This chatbot is inactive, so it will refuse to answer. Turn on “Active” and save.</p>
      </Show>
      <ol class="chat-log" role="log" aria-label="Test conversation" ref={log}>
        <Show when={turns.length === 0}>
          <li class="muted chat-empty">Ask something to see how the chatbot answers with its saved settings.</li>
        </Show>
        <For each={turns}>
          {(t) => (
            <li class={`bubble ${t.role}`}>
              <span class="sr-only">{t.role === 'user' ? 'You:' : 'Chatbot:'}</span>
              <Show when={t.role === 'assistant' && t.content} fallback={<div class="bubble-text">{t.content || (t.pending ? '…' : '')}</div>}>
                <Markdown text={t.content} />
              </Show>
              <Show when={t.stopped}><span class="hint">Stopped before the end.</span></Show>
              <Show when={t.role === 'assistant' && !t.pending && t.sources.length}>
                <SourceList sources={t.sources} />
              </Show>
            </li>
          )}
        </For>
      </ol>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <form class="chat-form" onSubmit={(e) => void send(e)}>
        <Field label="Message" for="test-message">
          <textarea
            id="test-message"
            rows={2}
            maxLength={100000}
            value={message()}
            onInput={(e) => setMessage(e.currentTarget.value)}
            onKeyDown={(e) => {
              // Enter sends, Shift+Enter adds a line, as in most chat apps.
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault()
                e.currentTarget.form?.requestSubmit()
              }
            }}
          />
        </Field>
        <div class="actions">
          <Show when={busy()} fallback={<button type="submit" disabled={!message().trim()}><Send /> Send</button>}>
            <button type="button" class="danger" onClick={stop}><Square /> Stop</button>
          </Show>
        </div>
      </form>
    </section>
  )
}
