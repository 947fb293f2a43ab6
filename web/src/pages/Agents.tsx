/**
 * Agents: the list (`/agents`), a new agent's form (`/agents/new`; an agent id is a UUID, so it never collides) and
 * one agent's builder with its live test run and recent runs (`/agents/:id`). Needs the agents:use permission.
 */
import { ResourceRoutes } from '../resource.tsx'
import { Gate } from '../ui.tsx'
import { AgentForm } from './agents/AgentForm.tsx'
import { AgentDetail } from './agents/Detail.tsx'
import { AgentList } from './agents/List.tsx'
import './Agents.css'

export default function Agents() {
  return (
    <section aria-labelledby="page-title" class="stack agents-page">
      <Gate title="Agents" permission="agents:use" what="use agents">
        <ResourceRoutes
          base="/agents"
          newTitle="New agent"
          all="All agents"
          list={() => <AgentList />}
          form={(saved, cancel) => <AgentForm agent={null} onSaved={saved} onCancel={cancel} />}
          detail={(id) => <AgentDetail id={id} />}
        />
      </Gate>
    </section>
  )
}
