import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { ToolSpec } from '../tools/types.ts'
import type { AgentView, CreateAgentInput, RunStatus, RunView, Step, UpdateAgentInput } from './model.ts'

export interface AgentRow {
  id: string
  owner_id: string
  name: string
  model: string
  instructions: string
  tools: ToolSpec[]
  max_steps: number
  max_cost_micros: string | null
  temperature: number | null
  confidential_only: boolean
  created_at: Date
  updated_at: Date
}

export interface RunRow {
  id: string
  agent_id: string
  conversation_id: string
  user_id: string
  api_key_id: string | null
  source: string
  status: RunStatus
  input: string
  output: string | null
  steps: Step[]
  prompt_tokens: number
  completion_tokens: number
  cost_micros: string
  error: string | null
  created_at: Date
  finished_at: Date | null
}

/** Who asks: owners see and run their own agents; admins (agents:admin) everyone's. */
export interface AgentActor {
  userId: string
  isAdmin: boolean
}

export const presentAgent = (a: AgentRow): AgentView => ({
  id: a.id,
  owner_id: a.owner_id,
  name: a.name,
  model: a.model,
  instructions: a.instructions,
  tools: a.tools as AgentView['tools'],
  max_steps: a.max_steps,
  max_cost_usd: a.max_cost_micros === null ? null : Number(a.max_cost_micros) / 1e6,
  temperature: a.temperature,
  confidential_only: a.confidential_only,
  created_at: a.created_at.toISOString(),
  updated_at: a.updated_at.toISOString(),
})

export const presentRun = (r: RunRow): RunView => ({
  id: r.id,
  agent_id: r.agent_id,
  conversation_id: r.conversation_id,
  status: r.status,
  input: r.input,
  output: r.output,
  steps: r.steps,
  usage: { prompt_tokens: r.prompt_tokens, completion_tokens: r.completion_tokens, total_tokens: r.prompt_tokens + r.completion_tokens },
  cost_usd: Number(r.cost_micros) / 1e6,
  error: r.error,
  created_at: r.created_at.toISOString(),
  finished_at: r.finished_at?.toISOString() ?? null,
})

const micros = (usd: number | null | undefined) => (usd == null ? null : Math.round(usd * 1e6))

/** Agents and their stored runs: owner-scoped, like chatbots (another user's agent is a 404). */
export class AgentService {
  constructor(readonly sql: Sql) {}

  async list(actor: AgentActor): Promise<AgentRow[]> {
    return actor.isAdmin
      ? [...(await this.sql<AgentRow[]>`SELECT * FROM agents ORDER BY created_at DESC`)]
      : [...(await this.sql<AgentRow[]>`SELECT * FROM agents WHERE owner_id = ${actor.userId} ORDER BY created_at DESC`)]
  }

  async get(actor: AgentActor, id: string): Promise<AgentRow> {
    const [row] = await this.sql<AgentRow[]>`SELECT * FROM agents WHERE id = ${id}`
    if (!row || (!actor.isAdmin && row.owner_id !== actor.userId)) throw new ApiError('not_found', `Agent ${id} not found`)
    return row
  }

  async create(ownerId: string, input: CreateAgentInput): Promise<AgentRow> {
    const [row] = await this.sql<AgentRow[]>`
      INSERT INTO agents (owner_id, name, model, instructions, tools, max_steps, max_cost_micros, temperature, confidential_only)
      VALUES (${ownerId}, ${input.name}, ${input.model}, ${input.instructions ?? ''}, ${this.sql.json((input.tools ?? []) as never)},
        ${input.max_steps ?? 8}, ${micros(input.max_cost_usd)}, ${input.temperature ?? null}, ${input.confidential_only ?? false})
      RETURNING *`
    return row!
  }

  async update(actor: AgentActor, id: string, input: UpdateAgentInput): Promise<AgentRow> {
    await this.get(actor, id)
    const values: Record<string, unknown> = {}
    if (input.name !== undefined) values.name = input.name
    if (input.model !== undefined) values.model = input.model
    if (input.instructions !== undefined) values.instructions = input.instructions
    if (input.tools !== undefined) values.tools = this.sql.json(input.tools as never)
    if (input.max_steps !== undefined) values.max_steps = input.max_steps
    if (input.max_cost_usd !== undefined) values.max_cost_micros = micros(input.max_cost_usd)
    if (input.temperature !== undefined) values.temperature = input.temperature
    if (input.confidential_only !== undefined) values.confidential_only = input.confidential_only
    const [row] = await this.sql<AgentRow[]>`UPDATE agents SET ${this.sql(values)}, updated_at = now() WHERE id = ${id} RETURNING *`
    return row!
  }

  async delete(actor: AgentActor, id: string): Promise<void> {
    await this.get(actor, id)
    await this.sql`DELETE FROM agents WHERE id = ${id}`
  }

  async runs(actor: AgentActor, agentId: string, limit = 50): Promise<RunRow[]> {
    await this.get(actor, agentId)
    return [...(await this.sql<RunRow[]>`SELECT * FROM agent_runs WHERE agent_id = ${agentId} ORDER BY created_at DESC LIMIT ${limit}`)]
  }

  /** A run of one of `actor`'s agents (or any, for admins). */
  async run(actor: AgentActor, agentId: string, runId: string): Promise<RunRow> {
    await this.get(actor, agentId)
    const [row] = await this.sql<RunRow[]>`SELECT * FROM agent_runs WHERE id = ${runId} AND agent_id = ${agentId}`
    if (!row) throw new ApiError('not_found', `Run ${runId} not found`)
    return row
  }
}
