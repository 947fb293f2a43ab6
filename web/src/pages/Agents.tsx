/**
 * Agents: the list (`/agents`), a new agent's form (`/agents/new`; an agent id is a UUID, so it never collides) and
 * one agent's builder with its live test run and recent runs (`/agents/:id`). Needs the agents:use permission.
 */
import { createResource, Match, Switch } from 'solid-js'
import { useNavigate, useParams } from '@solidjs/router'
import { api } from '../api.ts'
import type { User } from '../session.ts'
import { Empty, ErrorAlert, Loading, PageHeader } from '../ui.tsx'
import { AgentForm } from './agents/AgentForm.tsx'
import { AgentDetail } from './agents/Detail.tsx'
import { AgentList } from './agents/List.tsx'
import './Agents.css'

export default function Agents() {
  const [me] = createResource(() => api<User>('GET', '/api-internal/v1/auth/me'))
  const allowed = () => me()?.permissions?.includes('agents:use') ?? false
  return (
    <section aria-labelledby="page-title" class="stack agents-page">
      <Switch>
        <Match when={me.error}>
          <PageHeader title="Agents" />
          <ErrorAlert error={me.error} />
        </Match>
        <Match when={me.loading}>
          <PageHeader title="Agents" />
          <Loading />
        </Match>
        <Match when={!allowed()}>
          <PageHeader title="Agents" />
          <Empty title="You do not have permission to use agents">Ask an administrator for a role that includes them.</Empty>
        </Match>
        <Match when={true}><Route /></Match>
      </Switch>
    </section>
  )
}

function Route() {
  const params = useParams()
  const navigate = useNavigate()
  return (
    <Switch>
      <Match when={!params.id}><AgentList /></Match>
      <Match when={params.id === 'new'}>
        <PageHeader title="New agent" />
        <AgentForm agent={null} onSaved={(a) => navigate(`/agents/${a.id}`)} onCancel={() => navigate('/agents')} />
      </Match>
      {/* Keyed: another agent's id starts a fresh builder instead of reusing this one's form state. */}
      <Match when={params.id} keyed>{(id) => <AgentDetail id={id} />}</Match>
    </Switch>
  )
}
