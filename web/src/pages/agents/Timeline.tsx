/**
 * A run, step by step: each model call with its tokens and cost, each tool call with its arguments and result (an
 * error result marked as one), the answer, and why the run ended. Used live by the test run and for past runs.
 */
import { For, Match, Show, Switch } from 'solid-js'
import { formatMicros, formatNumber } from '../../ui.tsx'
import type { Entry, ModelEntry, Timeline as Data, ToolEntry } from './timeline.ts'
import { STATUS_TEXT, statusBadge, type Run } from './types.ts'

/** Arguments as the model sent them, indented when they are JSON. */
function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return text
  }
}

/** The model step whose text is the answer (so far): the last one, unless tool calls followed it. */
function answerStep(entries: Entry[]): ModelEntry | undefined {
  const last = entries[entries.length - 1]
  return last?.type === 'model' ? last : undefined
}

export function RunTimeline(props: { data: Data; running: boolean; label: string }) {
  const answer = () => props.data.run?.output ?? answerStep(props.data.entries)?.text ?? ''
  return (
    <div class="run-timeline">
      <ol class="steps" aria-label={props.label}>
        <For each={props.data.entries}>
          {(e) => (
            <Switch>
              <Match when={e.type === 'model' && e}>
                {(m) => <ModelStep step={m()} answer={answerStep(props.data.entries) === m()} running={props.running} />}
              </Match>
              <Match when={e.type === 'tool_call' && e}>{(c) => <ToolStep call={c()} />}</Match>
            </Switch>
          )}
        </For>
      </ol>
      <Show when={answer()}>
        <section class="answer" aria-label="Answer">
          <h4>Answer</h4>
          <div class="answer-text">{answer()}</div>
        </section>
      </Show>
      <Show when={props.data.run}>{(run) => <RunSummary run={run()} />}</Show>
    </div>
  )
}

function ModelStep(props: { step: ModelEntry; answer: boolean; running: boolean }) {
  const done = () => props.step.prompt_tokens !== null
  return (
    <li class="step model-step">
      <span class="step-title">Step {props.step.index + 1}: model</span>{' '}
      <Show when={done()} fallback={<Show when={props.running}><span class="muted">working…</span></Show>}>
        <span class="muted">
          {props.step.finish_reason === 'tool_calls' ? 'asked for tools' : (props.step.finish_reason ?? 'finished')} ·{' '}
          {formatNumber((props.step.prompt_tokens ?? 0) + (props.step.completion_tokens ?? 0))} tokens · {formatMicros(props.step.cost_micros ?? 0)}
        </span>
      </Show>
      {/* Text the model wrote before calling tools; the answer's text is shown as the answer. */}
      <Show when={!props.answer && props.step.text}><div class="step-text">{props.step.text}</div></Show>
    </li>
  )
}

function ToolStep(props: { call: ToolEntry }) {
  return (
    <li class="step tool-step" classList={{ failed: props.call.is_error }} aria-label={`Tool call ${props.call.name}`}>
      <span class="step-title">Tool call: <code>{props.call.name}</code></span>{' '}
      <Switch>
        <Match when={props.call.result === null}><span class="muted">running…</span></Match>
        <Match when={props.call.is_error}><span class="badge bad">error</span></Match>
        <Match when={true}><span class="badge ok">ok</span></Match>
      </Switch>
      <Show when={props.call.duration_ms !== null}> <span class="muted">{props.call.duration_ms} ms</span></Show>
      <p class="io-label">Arguments</p>
      <pre aria-label={`Arguments of ${props.call.name}`} tabIndex={0}><code>{pretty(props.call.arguments)}</code></pre>
      <Show when={props.call.result !== null}>
        <p class="io-label">{props.call.is_error ? 'Error result' : 'Result'}</p>
        <pre aria-label={`Result of ${props.call.name}`} tabIndex={0}><code>{props.call.result}</code></pre>
      </Show>
    </li>
  )
}

export function RunSummary(props: { run: Run }) {
  const u = () => props.run.usage
  return (
    <p class="run-summary" role="status">
      <span class={`badge ${statusBadge(props.run.status)}`}>{props.run.status}</span> {STATUS_TEXT[props.run.status]}
      <Show when={props.run.error}>: {props.run.error}</Show>
      {'. '}
      <span class="muted">
        {formatNumber(u().total_tokens)} tokens ({formatNumber(u().prompt_tokens)} in, {formatNumber(u().completion_tokens)} out) · cost {formatMicros(Math.round(props.run.cost_usd * 1e6))}
      </span>
    </p>
  )
}
