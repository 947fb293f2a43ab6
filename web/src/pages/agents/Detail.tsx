/**
 * One agent: its settings beside a live test run, and its recent runs below. The agent is loaded once here and
 * handed down, so a save is what the next test run uses.
 */
import { createResource, createSignal, Match, Switch } from 'solid-js'
import { A, useNavigate } from '@solidjs/router'
import { api } from '../../api.ts'
import { BackLink, ConfirmButton, ErrorAlert, Loading, PageHeader } from '../../ui.tsx'
import { AgentForm } from './AgentForm.tsx'
import { RecentRuns } from './Runs.tsx'
import { TestRun } from './TestRun.tsx'
import { AGENTS, type Agent } from './types.ts'

export function AgentDetail(props: { id: string }) {
  const [agent, { mutate, refetch }] = createResource(() => props.id, (id) => api<Agent>('GET', `${AGENTS}/${id}`))
  const [runs, setRuns] = createSignal(0)
  const [dirty, setDirty] = createSignal(false)
  const navigate = useNavigate()
  return (
    <>
      <BackLink href="/agents" label="All agents" />
      <Switch>
        <Match when={agent.error}>
          <PageHeader title="Agent" />
          <ErrorAlert error={agent.error} retry={() => void refetch()} />
        </Match>
        <Match when={agent.latest}>
          {(a) => (
            <>
              <PageHeader title={a().name}>
                <ConfirmButton
                  label="Delete agent"
                  title={`Delete ${a().name}?`}
                  message="The agent and all of its runs are deleted. API clients that run it get a 404. This cannot be undone."
                  action={async () => {
                    await api('DELETE', `${AGENTS}/${a().id}`)
                    navigate('/agents')
                  }}
                />
              </PageHeader>
              <div class="agent-builder">
                <AgentForm agent={a()} onSaved={(saved) => mutate(saved)} onDirty={setDirty} />
                <TestRun agent={a()} unsaved={dirty()} onFinished={() => setRuns(runs() + 1)} />
              </div>
              <RecentRuns agentId={a().id} reload={runs()} />
            </>
          )}
        </Match>
        <Match when={agent.loading}><Loading label="Loading agent…" /></Match>
      </Switch>
    </>
  )
}
