import { t } from 'elysia'
import { ToolSpecSchema } from '../tools/model.ts'
import { RESERVED_VARIABLE_NAMES, VARIABLE_NAME, VARIABLE_RULE } from './templates.ts'

export const CHATBOT_TYPES = ['assistant', 'customer_support', 'teacher', 'researcher', 'creative_writer', 'custom'] as const
export type ChatbotType = (typeof CHATBOT_TYPES)[number]
export const ChatbotTypeSchema = t.Union([
  t.Literal('assistant'),
  t.Literal('customer_support'),
  t.Literal('teacher'),
  t.Literal('researcher'),
  t.Literal('creative_writer'),
  t.Literal('custom'),
])
const ModeSchema = t.Union([t.Literal('lexical'), t.Literal('vector'), t.Literal('hybrid')])

const fields = {
  name: t.String({ minLength: 1, maxLength: 200 }),
  type: ChatbotTypeSchema,
  model: t.String({ minLength: 1, maxLength: 200 }),
  /**
   * Default: the type's template. `{{name}}` placeholders are filled from prompt_variables, `{{company}}` and
   * `{{date}}` (today); any other placeholder is sent as written.
   */
  system_prompt: t.String({ minLength: 1, maxLength: 20_000 }),
  /** Names match VARIABLE_NAME and are none of RESERVED_VARIABLE_NAMES: checked by the service, with that message. */
  prompt_variables: t.Record(t.String(), t.String({ maxLength: 2000 }), {
    maxProperties: 100,
    propertyNames: { pattern: VARIABLE_NAME.source, not: { enum: [...RESERVED_VARIABLE_NAMES] } },
    description: `Values for {{name}} placeholders in the system prompt; ${VARIABLE_RULE}`,
  }),
  temperature: t.Number({ minimum: 0, maximum: 2 }),
  max_tokens: t.Integer({ minimum: 1, maximum: 100_000 }),
  context_window: t.Integer({ minimum: 512, maximum: 2_000_000 }),
  memory_length: t.Integer({ minimum: 0, maximum: 200 }),
  rag_collections: t.Array(t.String({ format: 'uuid' }), { maxItems: 20, uniqueItems: true }),
  rag_top_k: t.Integer({ minimum: 1, maximum: 50 }),
  rag_score_threshold: t.Nullable(t.Number()),
  rag_mode: t.Nullable(ModeSchema),
  fallback_response: t.Nullable(t.String({ maxLength: 4000 })),
  must_cite: t.Boolean(),
  /** Only confidential (TEE) models answer this chatbot (its model, fallbacks and search embeddings); others are refused with 403. */
  confidential_only: t.Boolean(),
  /** Keep chunks flagged as prompt injection at ingestion out of the model's context (default on). */
  exclude_flagged_context: t.Boolean(),
  is_active: t.Boolean(),
  /**
   * Agent mode: tools the model may call while answering (as an agent's, run under the chatbot owner's grants and
   * audited); empty: the chatbot answers in one model call. Retrieval from rag_collections still comes first.
   */
  tools: t.Array(ToolSpecSchema, { maxItems: 20 }),
  /**
   * A prompt template of the owner's (`/api-internal/v1/prompts`, its latest version): its instructions replace
   * system_prompt, its messages come before the conversation, and prompt_variables fill its variables. null: none.
   */
  prompt_id: t.Nullable(t.String({ minLength: 1, maxLength: 64 })),
  /** Model calls one answer may take in agent mode; the last one is offered no tools, so it answers. */
  max_tool_steps: t.Integer({ minimum: 1, maximum: 16 }),
}

/** `model` may be omitted when the platform has a default chatbot model (the setting default_chatbot_model). */
export const CreateChatbotBody = t.Composite(
  [t.Object({ name: fields.name, model: t.Optional(fields.model) }), t.Partial(t.Omit(t.Object(fields), ['name', 'model']))],
  { additionalProperties: false },
)
export type CreateChatbotInput = typeof CreateChatbotBody.static

export const UpdateChatbotBody = t.Partial(t.Object(fields), { additionalProperties: false, minProperties: 1 })
export type UpdateChatbotInput = typeof UpdateChatbotBody.static

export const ChatbotSchema = t.Object({
  id: t.String({ format: 'uuid' }),
  owner_id: t.String({ format: 'uuid' }),
  ...fields,
  created_at: t.String({ format: 'date-time' }),
  updated_at: t.String({ format: 'date-time' }),
})

export const ChatBody = t.Object(
  { message: t.String({ minLength: 1, maxLength: 100_000 }), conversation_id: t.Optional(t.String({ format: 'uuid' })) },
  { additionalProperties: false },
)
export type ChatInput = typeof ChatBody.static

/** The dashboard's test chat may ask for server-sent events. */
export const InternalChatBody = t.Composite([ChatBody, t.Object({ stream: t.Optional(t.Boolean()) })], { additionalProperties: false })

export const SourceSchema = t.Object({
  index: t.Integer(),
  document_id: t.String(),
  document_name: t.String(),
  collection_id: t.String(),
  chunk_id: t.Integer(),
  score: t.Number(),
  snippet: t.String(),
  metadata: t.Record(t.String(), t.Unknown()),
})
export type Source = typeof SourceSchema.static

export const ChatResponseSchema = t.Object({
  response: t.String(),
  conversation_id: t.String({ format: 'uuid' }),
  sources: t.Array(SourceSchema),
  /** With must_cite: the sources the answer cites as [n], in order of first citation. */
  citations: t.Array(SourceSchema),
  fallback: t.Boolean(),
  usage: t.Nullable(t.Object({ prompt_tokens: t.Integer(), completion_tokens: t.Integer() })),
  /** Which provider answered and whether confidentially (in a TEE); null when the fallback answer was given. */
  served: t.Nullable(t.Object({ provider: t.String(), confidential: t.Boolean() })),
})
export type ChatResponse = typeof ChatResponseSchema.static
