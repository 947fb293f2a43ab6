/**
 * The agent's recent runs (the server keeps the latest 50 listed), newest first, each expandable to its steps. Test
 * runs from here, runs with an API key and runs through the agent's OpenAI-compatible URL all appear.
 */
import { createResource, For, Match, Switch } from 'solid-js'
import { api } from '../../api.ts'
import { Empty, ErrorAlert, formatDate, formatMicros, formatNumber, Loading } from '../../ui.tsx'
import { fromRun } from './timeline.ts'
import { RunTimeline } from './Timeline.tsx'
import { AGENTS, statusBadge, type Run } from './types.ts'

/** `reload` changes whenever a test run ends, so the list follows without polling. */
export function RecentRuns(props: { agentId: string; reload: number }) {
  const [runs, { refetch }] = createResource(
    () => ({ id: props.agentId, n: props.reload }),
    ({ id }) => api<{ data: Run[] }>('GET', `${AGENTS}/${id}/runs`).then((r) => r.data),
  )
  return (
    <section class="card recent-runs" aria-labelledby="runs-title">
      <h2 id="runs-title">Recent runs</h2>
      <Switch>
        <Match when={runs.error}><ErrorAlert error={runs.error} retry={() => void refetch()} /></Match>
        <Match when={runs.loading && !runs.latest}><Loading label="Loading runs…" /></Match>
        <Match when={runs.latest?.length === 0}><Empty title="No runs yet">A test run above, or a run with an API key, appears here.</Empty></Match>
        <Match when={runs.latest}>
          {(list) => (
            <ul class="run-list" aria-label="Runs">
              <For each={list()}>{(run) => <RunItem run={run} />}</For>
            </ul>
          )}
        </Match>
      </Switch>
    </section>
  )
}

function RunItem(props: { run: Run }) {
  const calls = () => props.run.steps.filter((s) => s.type === 'tool_call').length
  return (
    <li>
      <details>
        <summary>
          <span class={`badge ${statusBadge(props.run.status)}`}>{props.run.status}</span> <span class="run-input-text">{props.run.input}</span>
          <span class="muted run-meta">
            {formatDate(props.run.created_at)} · {calls()} tool {calls() === 1 ? 'call' : 'calls'} · {formatNumber(props.run.usage.total_tokens)} tokens ·{' '}
            {formatMicros(Math.round(props.run.cost_usd * 1e6))}
          </span>
        </summary>
        <RunTimeline data={fromRun(props.run)} running={false} label={`Steps of the run “${props.run.input.slice(0, 60)}”`} />
      </details>
    </li>
  )
}
