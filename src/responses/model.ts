import { t } from 'elysia'

/**
 * The Responses, Conversations and Prompts APIs' request shapes, shared by validation, OpenAPI and the dashboard.
 * Items are open objects here (OpenAI adds fields often, and the official SDK sends what the caller passes); their
 * type and fields are checked item by item in items.ts, which names the offending `input[i]` in its 400.
 */

const Metadata = t.Record(t.String({ maxLength: 64 }), t.String({ maxLength: 512 }), {
  maxProperties: 16,
  description: 'Up to 16 pairs; keys up to 64 characters, values up to 512',
})
const Item = t.Object({ type: t.Optional(t.String({ maxLength: 64 })) }, { additionalProperties: true })
/** Enough for long histories passed by value; the body limit (MAX_JSON_BODY_MB) bounds their size. */
const MAX_INPUT_ITEMS = 4096

export const PromptReference = t.Object(
  {
    id: t.String({ minLength: 1, maxLength: 64 }),
    version: t.Optional(t.Nullable(t.String({ pattern: '^[0-9]{1,9}$', description: 'A version number as a string; the latest when omitted' }))),
    variables: t.Optional(
      t.Nullable(
        t.Record(t.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), t.Union([t.String({ maxLength: 100_000 }), t.Object({ type: t.String(), text: t.Optional(t.String({ maxLength: 100_000 })) }, { additionalProperties: true })]), {
          maxProperties: 64,
        }),
      ),
    ),
  },
  { additionalProperties: false },
)

export const CreateResponseBody = t.Object(
  {
    model: t.Optional(t.String({ minLength: 1, maxLength: 256 })),
    input: t.Optional(t.Union([t.String({ maxLength: 4_000_000 }), t.Array(Item, { maxItems: MAX_INPUT_ITEMS })])),
    instructions: t.Optional(t.Nullable(t.String({ maxLength: 1_000_000 }))),
    temperature: t.Optional(t.Nullable(t.Number({ minimum: 0, maximum: 2 }))),
    top_p: t.Optional(t.Nullable(t.Number({ minimum: 0, maximum: 1 }))),
    max_output_tokens: t.Optional(t.Nullable(t.Integer({ minimum: 1, maximum: 1_000_000 }))),
    max_tool_calls: t.Optional(t.Nullable(t.Integer({ minimum: 1, maximum: 100 }))),
    tools: t.Optional(t.Array(t.Object({ type: t.String({ maxLength: 64 }) }, { additionalProperties: true }), { maxItems: 128 })),
    tool_choice: t.Optional(t.Union([t.String({ maxLength: 64 }), t.Object({ type: t.String({ maxLength: 64 }) }, { additionalProperties: true })])),
    parallel_tool_calls: t.Optional(t.Nullable(t.Boolean())),
    text: t.Optional(
      t.Nullable(
        t.Object(
          { format: t.Optional(t.Object({ type: t.String({ maxLength: 64 }) }, { additionalProperties: true })), verbosity: t.Optional(t.Nullable(t.String({ maxLength: 16 }))) },
          { additionalProperties: true },
        ),
      ),
    ),
    store: t.Optional(t.Nullable(t.Boolean({ description: 'Keep the response (default true); false: nothing is stored' }))),
    previous_response_id: t.Optional(t.Nullable(t.String({ minLength: 1, maxLength: 64 }))),
    conversation: t.Optional(t.Nullable(t.Union([t.String({ minLength: 1, maxLength: 64 }), t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) })]))),
    prompt: t.Optional(t.Nullable(PromptReference)),
    metadata: t.Optional(t.Nullable(Metadata)),
    stream: t.Optional(t.Nullable(t.Boolean())),
    background: t.Optional(t.Nullable(t.Boolean())),
    include: t.Optional(t.Nullable(t.Array(t.String({ maxLength: 128 }), { maxItems: 16 }))),
    truncation: t.Optional(t.Nullable(t.Union([t.Literal('auto'), t.Literal('disabled')]))),
    user: t.Optional(t.String({ maxLength: 256 })),
    safety_identifier: t.Optional(t.String({ maxLength: 256 })),
  },
  { additionalProperties: true },
)
export type CreateResponseInput = typeof CreateResponseBody.static

/** Cursor pagination as OpenAI lists items: `after` an item id, `limit` 1–100, `order` asc or desc. */
export const ListQuery = t.Object({
  after: t.Optional(t.String({ maxLength: 64 })),
  limit: t.Integer({ minimum: 1, maximum: 100, default: 20 }),
  order: t.Union([t.Literal('asc'), t.Literal('desc')], { default: 'desc' }),
  include: t.Optional(t.Union([t.String({ maxLength: 128 }), t.Array(t.String({ maxLength: 128 }), { maxItems: 16 })])),
})
export type ListInput = typeof ListQuery.static

export const CreateConversationBody = t.Object(
  { items: t.Optional(t.Nullable(t.Array(Item, { maxItems: 20 }))), metadata: t.Optional(t.Nullable(Metadata)) },
  { additionalProperties: false },
)
export const UpdateConversationBody = t.Object({ metadata: t.Nullable(Metadata) }, { additionalProperties: false })
export const AddItemsBody = t.Object({ items: t.Array(Item, { minItems: 1, maxItems: 20 }) }, { additionalProperties: false })

const PromptMessage = t.Object(
  {
    role: t.Union([t.Literal('system'), t.Literal('developer'), t.Literal('user'), t.Literal('assistant')]),
    content: t.String({ maxLength: 100_000 }),
  },
  { additionalProperties: false },
)
const PromptVariable = t.Object(
  {
    name: t.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$', description: 'Used as {{name}} in the instructions and messages' }),
    description: t.Optional(t.String({ maxLength: 500 })),
    default: t.Optional(t.Nullable(t.String({ maxLength: 100_000, description: 'Used when a response passes no value; none: the value is required' }))),
  },
  { additionalProperties: false },
)
const promptFields = {
  instructions: t.String({ maxLength: 100_000, description: 'The system prompt, with {{variables}}' }),
  messages: t.Array(PromptMessage, { maxItems: 100, description: 'Messages put before the input (few-shot examples), with {{variables}}' }),
  variables: t.Array(PromptVariable, { maxItems: 64, description: 'The variables the template uses; any other {{name}} is refused' }),
}
export const CreatePromptBody = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 200 }),
    description: t.Optional(t.String({ maxLength: 2000 })),
    instructions: t.Optional(promptFields.instructions),
    messages: t.Optional(promptFields.messages),
    variables: t.Optional(promptFields.variables),
  },
  { additionalProperties: false },
)
export type CreatePromptInput = typeof CreatePromptBody.static
/** Each save is a new version: what is not sent is carried over from the latest one. */
export const UpdatePromptBody = t.Partial(CreatePromptBody, { additionalProperties: false })
export type UpdatePromptInput = typeof UpdatePromptBody.static

export const PromptVersionSchema = t.Object({
  version: t.Integer(),
  instructions: t.String(),
  messages: t.Array(PromptMessage),
  variables: t.Array(PromptVariable),
  created_at: t.String({ format: 'date-time' }),
})
export const PromptSchema = t.Object({
  id: t.String(),
  object: t.Literal('prompt'),
  name: t.String(),
  description: t.String(),
  version: t.Integer({ description: 'The latest version' }),
  instructions: t.String(),
  messages: t.Array(PromptMessage),
  variables: t.Array(PromptVariable),
  created_at: t.String({ format: 'date-time' }),
  updated_at: t.String({ format: 'date-time' }),
})
export type PromptMessageInput = typeof PromptMessage.static
export type PromptVariableInput = typeof PromptVariable.static
