/**
 * Agents: the list (`/agents`), a new agent's form (`/agents/new`; an agent id is a UUID, so it never collides) and
 * one agent's builder with its live test run and recent runs (`/agents/:id`). Needs the agents:use permission.
 */
import { Match, Switch } from 'solid-js'
import { useNavigate, useParams } from '@solidjs/router'
import { Gate, PageHeader } from '../ui.tsx'
import { AgentForm } from './agents/AgentForm.tsx'
import { AgentDetail } from './agents/Detail.tsx'
import { AgentList } from './agents/List.tsx'
import './Agents.css'

export default function Agents() {
  return (
    <section aria-labelledby="page-title" class="stack agents-page">
      <Gate title="Agents" permission="agents:use" what="use agents">
        <Route />
      </Gate>
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
        <PageHeader title="New agent" back={{ href: '/agents', label: 'All agents' }} />
        <AgentForm agent={null} onSaved={(a) => navigate(`/agents/${a.id}`)} onCancel={() => navigate('/agents')} />
      </Match>
      {/* Keyed: another agent's id starts a fresh builder instead of reusing this one's form state. */}
      <Match when={params.id} keyed>{(id) => <AgentDetail id={id} />}</Match>
    </Switch>
  )
}
