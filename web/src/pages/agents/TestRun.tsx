/**
 * A test run of the saved agent, charged to the signed-in person: the run streams as server-sent events and each
 * step, tool call, tool result and piece of the answer is shown as it arrives. Stop aborts the request; the server
 * then cancels the run and stores it as cancelled.
 */
import { createSignal, onCleanup, Show } from 'solid-js'
import { createStore, produce, reconcile } from 'solid-js/store'
import { ApiError, authorizedFetch } from '../../api.ts'
import { ErrorAlert, Field } from '../../ui.tsx'
import { readEvents } from '../chatbots/sse.ts'
import { apply, type Timeline } from './timeline.ts'
import { RunTimeline } from './Timeline.tsx'
import { AGENTS, type Agent } from './types.ts'

export function TestRun(props: { agent: Agent; unsaved: boolean; onFinished: () => void }) {
  const [input, setInput] = createSignal('')
  const [timeline, setTimeline] = createStore<Timeline>({ entries: [], run: null })
  const [asked, setAsked] = createSignal<string | null>(null)
  const [busy, setBusy] = createSignal(false)
  const [error, setError] = createSignal<unknown>(null)
  const [stopped, setStopped] = createSignal(false)
  let controller: AbortController | undefined
  onCleanup(() => controller?.abort())

  async function run(e: SubmitEvent) {
    e.preventDefault()
    const text = input().trim()
    if (!text || busy()) return
    setError(null)
    setStopped(false)
    setAsked(text)
    setTimeline(reconcile({ entries: [], run: null }))
    setBusy(true)
    controller = new AbortController()
    try {
      const res = await authorizedFetch(`${AGENTS}/${props.agent.id}/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ input: text, stream: true }),
        signal: controller.signal,
      })
      if (!res.body) throw new ApiError(0, 'The server sent no answer.')
      for await (const { event, data } of readEvents(res.body)) {
        // A failure after the stream opened comes as an error event with the API's error envelope.
        if (event === 'error') {
          const err = (data as { error?: { message?: string; code?: string } }).error
          throw new ApiError(502, err?.message ?? 'The run failed.', err?.code ?? 'run_failed')
        }
        setTimeline(produce((t) => apply(t, event, data)))
      }
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') setStopped(true)
      else setError(err)
    } finally {
      setBusy(false)
      props.onFinished()
    }
  }

  return (
    <section class="card test-run" aria-labelledby="test-run-title">
      <h2 id="test-run-title">Test run</h2>
      <Show when={props.unsaved}>
        <p class="hint unsaved" role="status">You have unsaved changes: a test run uses the saved agent.</p>
      </Show>
      <form onSubmit={(e) => void run(e)}>
        <Field label="Input" for="run-input" hint="Runs the saved agent, with its tools; the cost is charged to you.">
          <textarea
            id="run-input"
            rows={3}
            maxLength={100000}
            value={input()}
            onInput={(e) => setInput(e.currentTarget.value)}
            aria-describedby="run-input-hint"
            onKeyDown={(e) => {
              // Ctrl/Cmd+Enter runs, as in most editors; Enter alone adds a line.
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
                e.preventDefault()
                e.currentTarget.form?.requestSubmit()
              }
            }}
          />
        </Field>
        <div class="actions">
          <Show when={busy()} fallback={<button type="submit" disabled={!input().trim()}>Run</button>}>
            <button type="button" class="danger" onClick={() => controller?.abort()}>Stop</button>
          </Show>
        </div>
      </form>
      <Show when={error()}><ErrorAlert error={error()} /></Show>
      <Show when={asked()}>
        <div class="live-run" aria-busy={busy()}>
          <p class="run-input"><span class="muted">Input:</span> {asked()}</p>
          <RunTimeline data={timeline} running={busy()} label="Steps of the test run" />
          <Show when={stopped()}><p class="hint" role="status">Stopped: the server cancels the run and keeps it as cancelled.</p></Show>
        </div>
      </Show>
    </section>
  )
}
