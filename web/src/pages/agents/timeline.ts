/**
 * A run as a timeline of entries, built either live from its server-sent events (step, tool_call, tool_result,
 * delta, done: src/agents/index.ts) or from a stored run's steps. One shape for both, so a test run and a past run
 * read the same.
 */
import type { Run, Step } from './types.ts'

export type Entry =
  | {
      type: 'model'
      index: number
      /** What the model wrote in this step as it streamed; stored runs keep only the final answer. */
      text: string
      finish_reason: string | null
      prompt_tokens: number | null
      completion_tokens: number | null
      cost_micros: number | null
    }
  | {
      type: 'tool_call'
      index: number
      id: string
      name: string
      arguments: string
      /** null while the tool runs. */
      result: string | null
      is_error: boolean
      duration_ms: number | null
    }

export interface Timeline {
  entries: Entry[]
  /** Set by the done event: the run as stored. */
  run: Run | null
}

export type ModelEntry = Extract<Entry, { type: 'model' }>
export type ToolEntry = Extract<Entry, { type: 'tool_call' }>

const fromStep = (s: Step): Entry => (s.type === 'model' ? { ...s, text: '' } : s)

/** The current model step: the last one (the target's lib has no findLast). */
function lastModel(entries: Entry[]): ModelEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]
    if (e?.type === 'model') return e
  }
  return undefined
}

export const fromRun = (run: Run): Timeline => ({ entries: run.steps.map(fromStep), run })

/**
 * Applies one event to the timeline (mutating it: the caller passes a store draft). Unknown events are ignored, so a
 * server that adds one does not break the page.
 */
export function apply(t: Timeline, event: string, data: unknown): void {
  const d = data as Record<string, unknown>
  if (event === 'step') {
    t.entries.push({ type: 'model', index: Number(d.index), text: '', finish_reason: null, prompt_tokens: null, completion_tokens: null, cost_micros: null })
  } else if (event === 'delta') {
    const model = lastModel(t.entries)
    if (model) model.text += String(d.content ?? '')
  } else if (event === 'tool_call') {
    const index = lastModel(t.entries)?.index ?? 0
    t.entries.push({ type: 'tool_call', index, id: String(d.id), name: String(d.name), arguments: String(d.arguments ?? ''), result: null, is_error: false, duration_ms: null })
  } else if (event === 'tool_result') {
    const call = t.entries.find((e): e is ToolEntry => e.type === 'tool_call' && e.id === d.id)
    if (call) {
      call.result = String(d.content ?? '')
      call.is_error = d.is_error === true
    }
  } else if (event === 'done') {
    finish(t, (d as { run: Run }).run)
  }
}

/** The stored run's figures (tokens and cost per step, durations) put onto what was streamed; the text stays. */
function finish(t: Timeline, run: Run): void {
  t.run = run
  for (const step of run.steps) {
    const entry = t.entries.find((e) => e.type === step.type && e.index === step.index && (step.type === 'model' || (e as ToolEntry).id === step.id))
    if (entry) Object.assign(entry, step.type === 'model' ? { ...step, text: (entry as ModelEntry).text } : step)
  }
}
