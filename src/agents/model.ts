import { t } from 'elysia'

/** The agents API's shapes, shared by validation, OpenAPI and the dashboard. */

const Uuid = t.String({ format: 'uuid' })
const Host = t.String({ minLength: 1, maxLength: 260 })

/** A tool as an agent names it (src/tools/types.ts ToolSpec); resolved for the caller on every run. */
export const ToolSpecSchema = t.Union([
  t.Object(
    {
      type: t.Literal('rag_search'),
      collections: t.Optional(t.Array(Uuid, { maxItems: 50, uniqueItems: true, description: 'Narrows the collections the caller may read' })),
      top_k: t.Optional(t.Integer({ minimum: 1, maximum: 20 })),
    },
    { additionalProperties: false },
  ),
  t.Object(
    {
      type: t.Literal('web_fetch'),
      hosts: t.Array(Host, { minItems: 1, maxItems: 50, uniqueItems: true, description: 'Hosts it may reach: "api.example.com", "*.example.com", "host:8443"' }),
      max_bytes: t.Optional(t.Integer({ minimum: 1024, maximum: 10 * 1024 * 1024 })),
    },
    { additionalProperties: false },
  ),
  t.Object({ type: t.Literal('code_interpreter') }, { additionalProperties: false }),
  t.Object({ type: t.Literal('plugin'), plugin: t.String({ minLength: 3, maxLength: 40 }), tool: t.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
  t.Object(
    { type: t.Literal('mcp'), server_id: Uuid, allowed_tools: t.Optional(t.Array(t.String({ minLength: 1, maxLength: 128 }), { maxItems: 100, uniqueItems: true })) },
    { additionalProperties: false },
  ),
])

const fields = {
  name: t.String({ minLength: 1, maxLength: 200 }),
  model: t.String({ minLength: 1, maxLength: 256 }),
  instructions: t.String({ maxLength: 32_000, description: 'The system prompt' }),
  tools: t.Array(ToolSpecSchema, { maxItems: 20 }),
  max_steps: t.Integer({ minimum: 1, maximum: 50, description: 'Model calls a run may make (default 8)' }),
  max_cost_usd: t.Nullable(t.Number({ exclusiveMinimum: 0, maximum: 10_000, description: 'A run stops before it could cost more (null: budgets only)' })),
  temperature: t.Nullable(t.Number({ minimum: 0, maximum: 2 })),
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
