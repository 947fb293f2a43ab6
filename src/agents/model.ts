import { t } from 'elysia'
import { ToolSpecSchema } from '../tools/model.ts'

/** The agents API's shapes, shared by validation, OpenAPI and the dashboard. */

export { ToolSpecSchema }
const Uuid = t.String({ format: 'uuid' })

const fields = {
  name: t.String({ minLength: 1, maxLength: 200 }),
  model: t.String({ minLength: 1, maxLength: 256 }),
  instructions: t.String({ maxLength: 32_000, description: 'The system prompt' }),
  tools: t.Array(ToolSpecSchema, { maxItems: 20 }),
  max_steps: t.Integer({ minimum: 1, maximum: 50, description: 'Model calls a run may make (default 8)' }),
  max_cost_usd: t.Nullable(t.Number({ exclusiveMinimum: 0, maximum: 10_000, description: 'A run stops before it could cost more (null: budgets only)' })),
  temperature: t.Nullable(t.Number({ minimum: 0, maximum: 2 })),
  /** Only confidential (TEE) models answer this agent's runs (fallbacks included), whoever runs it: others are a 403. */
  confidential_only: t.Boolean(),
}

export const CreateAgentBody = t.Composite(
  [t.Object({ name: fields.name, model: fields.model }), t.Partial(t.Omit(t.Object(fields), ['name', 'model']))],
  { additionalProperties: false },
)
export type CreateAgentInput = typeof CreateAgentBody.static
export const UpdateAgentBody = t.Partial(t.Object(fields), { additionalProperties: false, minProperties: 1 })
export type UpdateAgentInput = typeof UpdateAgentBody.static

export const AgentSchema = t.Object({
  id: t.String(),
  owner_id: t.String(),
  name: t.String(),
  model: t.String(),
  instructions: t.String(),
  tools: t.Array(ToolSpecSchema),
  max_steps: t.Integer(),
  max_cost_usd: t.Nullable(t.Number()),
  temperature: t.Nullable(t.Number()),
  confidential_only: t.Boolean(),
  created_at: t.String(),
  updated_at: t.String(),
})
export type AgentView = typeof AgentSchema.static

export const RunBody = t.Object(
  {
    input: t.String({ minLength: 1, maxLength: 100_000 }),
    /** Continue an earlier run's conversation (its id, or the conversation_id it answered with). */
    conversation_id: t.Optional(Uuid),
    stream: t.Optional(t.Boolean()),
  },
  { additionalProperties: false },
)
export type RunInput = typeof RunBody.static

export const RUN_STATUSES = ['running', 'completed', 'max_steps', 'max_cost', 'budget_exceeded', 'error', 'cancelled'] as const
export type RunStatus = (typeof RUN_STATUSES)[number]

export const StepSchema = t.Union([
  t.Object({
    type: t.Literal('model'),
    index: t.Integer(),
    finish_reason: t.Nullable(t.String()),
    prompt_tokens: t.Integer(),
    completion_tokens: t.Integer(),
    cost_micros: t.Integer(),
  }),
  t.Object({
    type: t.Literal('tool_call'),
    index: t.Integer(),
    id: t.String(),
    name: t.String(),
    arguments: t.String(),
    result: t.String(),
    is_error: t.Boolean(),
    duration_ms: t.Integer(),
  }),
])
export type Step = typeof StepSchema.static

export const RunSchema = t.Object({
  id: t.String(),
  agent_id: t.String(),
  conversation_id: t.String(),
  status: t.UnionEnum(RUN_STATUSES),
  input: t.String(),
  output: t.Nullable(t.String()),
  steps: t.Array(StepSchema),
  usage: t.Object({ prompt_tokens: t.Integer(), completion_tokens: t.Integer(), total_tokens: t.Integer() }),
  cost_usd: t.Number(),
  error: t.Nullable(t.String()),
  created_at: t.String(),
  finished_at: t.Nullable(t.String()),
})
export type RunView = typeof RunSchema.static
