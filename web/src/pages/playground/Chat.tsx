/**
 * The chat tab: a conversation streamed token by token from the internal chat endpoint (server-sent events), with
 * a Stop button that aborts the request (the gateway then cancels the upstream and charges only what was made).
 */
import { createSignal, For, onCleanup, Show } from 'solid-js'
import { ApiError, authorizedFetch } from '../../api.ts'
import { Send, Square, Trash } from '../../icons.ts'
import { Markdown } from '../../markdown.tsx'
import { ConfirmButton, describedBy, ErrorAlert, Field, formatNumber } from '../../ui.tsx'
import { CodeView } from './CodeView.tsx'
import { costLabel, type PlaygroundModel, type Usage } from './models.ts'
import { sseEvents } from '../../live.ts'

interface Turn {
  role: 'user' | 'assistant'
  content: string
  /** The answer was cut short by the Stop button. */
  stopped?: boolean
}

interface LastRun {
  model: PlaygroundModel | undefined
  usage: Usage | null
  /** From the gateway's x-enclava-confidential header: where this answer was really served (a fallback may differ). */
  confidential: boolean | null
  provider: string | null
}

interface Params {
  system: string
  temperature: string
  top_p: string
  max_tokens: string
}

type ParamErrors = Partial<Record<keyof Params, string>>

/** Empty means "the model's default"; anything else must be in the API's range. */
function checkParams(p: Params): ParamErrors {
  const errors: ParamErrors = {}
  const num = (v: string) => (v.trim() === '' ? null : Number(v))
  const t = num(p.temperature)
  if (t !== null && !(t >= 0 && t <= 2)) errors.temperature = 'Temperature must be between 0 and 2.'
  const tp = num(p.top_p)
  if (tp !== null && !(tp >= 0 && tp <= 1)) errors.top_p = 'Top P must be between 0 and 1.'
  const mt = num(p.max_tokens)
  if (mt !== null && !(Number.isInteger(mt) && mt >= 1 && mt <= 1_000_000)) errors.max_tokens = 'Max tokens must be a whole number from 1 to 1,000,000.'
  return errors
}

class StreamError extends Error {}

export function Chat(props: { model: () => PlaygroundModel | undefined }) {
  const [turns, setTurns] = createSignal<Turn[]>([])
  const [draft, setDraft] = createSignal('')
  /** The answer being streamed; null when idle. */
  const [partial, setPartial] = createSignal<string | null>(null)
  const [error, setError] = createSignal<unknown>(null)
  const [last, setLast] = createSignal<LastRun | null>(null)
  const [params, setParams] = createSignal<Params>({ system: '', temperature: '0.7', top_p: '1', max_tokens: '' })
  const [paramErrors, setParamErrors] = createSignal<ParamErrors>({})
  let controller: AbortController | undefined
  let input: HTMLTextAreaElement | undefined
  let log: HTMLOListElement | undefined
  /** Follows the answer as it grows, unless the person scrolled up to read. */
  let pinned = true
  const scrollSoon = () => queueMicrotask(() => log && pinned && (log.scrollTop = log.scrollHeight))
  onCleanup(() => controller?.abort())

  const setParam = (key: keyof Params, value: string) => {
    setParams({ ...params(), [key]: value })
    if (paramErrors()[key]) {
      const next = { ...paramErrors() }
      delete next[key]
      setParamErrors(next)
    }
  }

  /** The request as it would be sent now: the conversation so far, plus the message being written. */
  function requestBody(history: Turn[], next: string): Record<string, unknown> | null {
    const model = props.model()
    if (!model) return null
    const p = params()
    const messages: { role: string; content: string }[] = []
    if (p.system.trim()) messages.push({ role: 'system', content: p.system })
    for (const t of history) messages.push({ role: t.role, content: t.content })
    if (next.trim()) messages.push({ role: 'user', content: next })
    if (!messages.some((m) => m.role === 'user')) return null
    const body: Record<string, unknown> = { model: model.id, messages }
    if (p.temperature.trim()) body.temperature = Number(p.temperature)
    if (p.top_p.trim()) body.top_p = Number(p.top_p)
    if (p.max_tokens.trim()) body.max_tokens = Number(p.max_tokens)
    body.stream = true
    body.stream_options = { include_usage: true }
    return body
  }

  async function send(e?: Event) {
    e?.preventDefault()
    if (partial() !== null) return
    const text = draft()
    const errors = checkParams(params())
    setParamErrors(errors)
    if (Object.keys(errors).length) return
    if (!text.trim()) {
      input?.focus()
      return
    }
    const model = props.model()
    const body = requestBody(turns(), text)
    if (!model || !body) return
    const history = turns()
    setTurns([...history, { role: 'user', content: text }])
    setDraft('')
    setError(null)
    // The last answer's tokens, cost and TEE flag belong to it alone: a request that fails must not show them.
    setLast(null)
    setPartial('')
    scrollSoon()
    controller = new AbortController()
    let answer = ''
    let usage: Usage | null = null
    let stopped = false
    try {
      const res = await authorizedFetch('/api-internal/v1/llm/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify(body),
        signal: controller.signal,
      })
      const header = res.headers.get('x-enclava-confidential')
      setLast({ model, usage: null, confidential: header === null ? null : header === 'true', provider: res.headers.get('x-enclava-provider') })
      if (!res.body) throw new StreamError('The server sent no answer.')
      for await (const { data } of sseEvents(res.body)) {
        if (data === '[DONE]') break
        const chunk = JSON.parse(data) as {
          error?: { message?: string }
          choices?: { delta?: { content?: string | null } }[]
          usage?: Usage | null
        }
        if (chunk.error) throw new StreamError(chunk.error.message ?? 'The answer broke off.')
        const delta = chunk.choices?.[0]?.delta?.content
        if (delta) {
          setPartial((answer += delta))
          scrollSoon()
        }
        if (chunk.usage) usage = chunk.usage
      }
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') stopped = true
      else if (err instanceof ApiError) setError(err)
      else setError(new ApiError(0, err instanceof StreamError ? err.message : 'The answer could not be read. Try again.'))
    } finally {
      controller = undefined
      setPartial(null)
    }
    if (answer || stopped) {
      setTurns([...turns(), { role: 'assistant', content: answer, stopped }])
      const run = last()
      if (run) setLast({ ...run, usage })
    } else {
      // Nothing came back: give the message back so it can be sent again.
      setTurns(history)
      setDraft(text)
    }
    scrollSoon()
    input?.focus()
  }

  function onKeyDown(e: KeyboardEvent) {
    // Enter sends, Shift+Enter starts a new line, as in most chat tools.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) void send(e)
  }

  return (
    <div class="chat-layout">
      <div class="stack chat-main">
        <ol class="chat-log" aria-label="Conversation" ref={log} onScroll={(e) => (pinned = e.currentTarget.scrollHeight - e.currentTarget.scrollTop - e.currentTarget.clientHeight < 40)}>
          <Show when={turns().length || partial() !== null} fallback={<li class="chat-empty">Send a message to start. Answers appear as they are written.</li>}>
            <For each={turns()}>
              {(t) => (
                <li class={`bubble ${t.role}`}>
                  <span class="bubble-role">{t.role === 'user' ? 'You' : 'Assistant'}</span>
                  <Show when={t.role === 'assistant'} fallback={<div class="turn-text">{t.content}</div>}>
                    <Markdown text={t.content} />
                  </Show>
                  <Show when={t.stopped}><span class="hint">Stopped before the end.</span></Show>
                </li>
              )}
            </For>
            <Show when={partial() !== null}>
              <li class="bubble assistant" aria-busy="true">
                <span class="bubble-role">Assistant</span>
                <Show when={partial()} fallback={<span class="muted">Waiting for the first token…</span>}>
                  <Markdown text={partial() ?? ''} />
                </Show>
              </li>
            </Show>
          </Show>
        </ol>
        <Show when={error()}><ErrorAlert error={error()} /></Show>
        <form class="composer" onSubmit={(e) => void send(e)} aria-label="Send a message">
          <Field label="Message" for="chat-input" hint="Enter sends; Shift+Enter adds a line.">
            <textarea
              id="chat-input"
              ref={input}
              rows={3}
              value={draft()}
              onInput={(e) => setDraft(e.currentTarget.value)}
              onKeyDown={onKeyDown}
              aria-describedby="chat-input-hint"
            />
          </Field>
          <div class="actions composer-actions">
            <Show when={turns().length && partial() === null}>
              <ConfirmButton
                label="Clear conversation"
                class="secondary"
                icon={() => <Trash />}
                title="Clear the conversation?"
                message="The messages on screen are removed. Nothing is stored, so they cannot be brought back."
                confirmLabel="Clear"
                action={async () => {
                  setTurns([])
                  setLast(null)
                  setError(null)
                }}
              />
            </Show>
            <Show
              when={partial() !== null}
              fallback={<button type="submit" disabled={!props.model()}><Send /> Send</button>}
            >
              <button type="button" class="danger" onClick={() => controller?.abort()}><Square /> Stop</button>
            </Show>
          </div>
        </form>
        <Show when={partial() === null}>
          <LastAnswer run={last()} />
        </Show>
        <CodeView endpoint="chat" body={() => requestBody(turns(), draft())} />
      </div>
      <aside class="card chat-params" aria-labelledby="params-title">
        <h2 id="params-title">Parameters</h2>
        <Field label="System prompt" for="p-system" hint="Sent first, before the conversation.">
          <textarea id="p-system" rows={3} value={params().system} onInput={(e) => setParam('system', e.currentTarget.value)} aria-describedby="p-system-hint" />
        </Field>
        <ParamInput id="p-temperature" label="Temperature" min="0" max="2" step="0.1" hint="0 to 2; lower is more focused." value={params().temperature} error={paramErrors().temperature} onInput={(v) => setParam('temperature', v)} />
        <ParamInput id="p-top-p" label="Top P" min="0" max="1" step="0.05" hint="0 to 1." value={params().top_p} error={paramErrors().top_p} onInput={(v) => setParam('top_p', v)} />
        <ParamInput id="p-max-tokens" label="Max tokens" min="1" max="1000000" step="1" hint="Empty: the model's limit." value={params().max_tokens} error={paramErrors().max_tokens} onInput={(v) => setParam('max_tokens', v)} />
      </aside>
    </div>
  )
}

function ParamInput(props: { id: string; label: string; min: string; max: string; step: string; hint: string; value: string; error: string | undefined; onInput: (v: string) => void }) {
  return (
    <Field label={props.label} for={props.id} hint={props.hint} error={props.error}>
      <input
        id={props.id}
        type="number"
        inputmode="decimal"
        min={props.min}
        max={props.max}
        step={props.step}
        value={props.value}
        onInput={(e) => props.onInput(e.currentTarget.value)}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={describedBy(props.id, { hint: true, error: props.error })}
      />
    </Field>
  )
}

/** Tokens, cost and where the last answer ran. */
function LastAnswer(props: { run: LastRun | null }) {
  return (
    <Show when={props.run}>
      {(run) => (
        <section class="card last-answer" aria-labelledby="last-title" data-testid="last-answer">
          <h2 id="last-title">Last answer</h2>
          <dl>
            <dt>Confidential</dt>
            <dd>
              <Show when={run().confidential !== null} fallback="Unknown">
                <Show when={run().confidential} fallback={<span class="badge warn">No: not run in a TEE</span>}>
                  <span class="badge ok">Yes: ran in a TEE</span>
                </Show>
              </Show>
              <Show when={run().provider}> <span class="muted">via {run().provider}</span></Show>
            </dd>
            <Show when={run().usage} fallback={<><dt>Tokens</dt><dd>Not reported</dd></>}>
              {(u) => (
                <>
                  <dt>Tokens</dt>
                  <dd>
                    {formatNumber(u().prompt_tokens)} in, {formatNumber(u().completion_tokens ?? 0)} out,{' '}
                    {formatNumber(u().total_tokens ?? u().prompt_tokens + (u().completion_tokens ?? 0))} total
                  </dd>
                  <Show when={costLabel(run().model, u())}>
                    {(cost) => (
                      <>
                        <dt>Cost</dt>
                        <dd>{cost()}</dd>
                      </>
                    )}
                  </Show>
                </>
              )}
            </Show>
          </dl>
        </section>
      )}
    </Show>
  )
}
