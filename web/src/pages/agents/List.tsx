/** The agent list: name, model and tools at a glance, with delete; "New agent" opens the form at /agents/new. */
import { createResource, createSignal, For, Match, Show, Switch } from 'solid-js'
import { A } from '@solidjs/router'
import { api } from '../../api.ts'
import { ConfirmButton, Empty, ErrorAlert, formatDate, Loading, PageHeader } from '../../ui.tsx'
import { AGENTS, toolLabel, type Agent } from './types.ts'
import { ResponsiveTable } from '../../table.tsx'
import { Workflow } from '../../icons.ts'

export function AgentList() {
  const [agents, { refetch }] = createResource(() => api<{ data: Agent[] }>('GET', AGENTS).then((r) => r.data))
  const [notice, setNotice] = createSignal<string | null>(null)
  return (
    <>
      <PageHeader title="Agents">
        <A class="button" href="/agents/new">New agent</A>
      </PageHeader>
      <p class="hint intro">
        An agent is a model with instructions and tools: it calls its tools, reads their results and answers. Runs are charged to whoever starts
        them, and its tools act with their permissions.
      </p>
      <Show when={notice()}><p class="alert ok-note" role="status">{notice()}</p></Show>
      <Switch>
        <Match when={agents.error}><ErrorAlert error={agents.error} retry={() => void refetch()} /></Match>
        <Match when={agents.loading && !agents.latest}><Loading label="Loading agents…" /></Match>
        <Match when={agents.latest?.length === 0}>
          <Empty title="No agents yet" icon={() => <Workflow />}>Create one with “New agent”: pick a model, write its instructions and give it tools.</Empty>
        </Match>
        <Match when={agents.latest}>
          {(list) => (
            <ResponsiveTable label="Agents">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Model</th>
                    <th scope="col">Tools</th>
                    <th scope="col">Updated</th>
                    <th scope="col"><span class="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                  <For each={list()}>
                    {(agent) => (
                      <tr>
                        <th scope="row"><A href={`/agents/${agent.id}`}>{agent.name}</A></th>
                        <td><code>{agent.model}</code></td>
                        <td>{agent.tools.length ? agent.tools.map((t) => toolLabel(t.type)).join(', ') : <span class="muted">none</span>}</td>
                        <td>{formatDate(agent.updated_at)}</td>
                        <td>
                          <ConfirmButton
                            label="Delete"
                            title={`Delete ${agent.name}?`}
                            message="The agent and all of its runs are deleted. API clients that run it get a 404. This cannot be undone."
                            confirmLabel="Delete agent"
                            action={async () => {
                              await api('DELETE', `${AGENTS}/${agent.id}`)
                              setNotice(`Agent ${agent.name} deleted.`)
                              await refetch()
                            }}
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
    </>
  )
}
