import { Type } from '@sinclair/typebox'
import { t } from 'elysia'

/**
 * JSON integers only. Elysia's `t.Integer` also takes numeric strings, through a TypeBox transform: any transform in
 * a body schema makes Elysia decode the whole body after checking it, walking every message again, which took 5% of
 * the server thread per chat request (`bun bench/gateway.ts --profile`). OpenAI refuses `"max_tokens": "5"` too.
 */
const Integer = Type.Integer

const Content = t.Union([
  t.String(),
  t.Array(t.Object({ type: t.String({ maxLength: 64 }) }, { additionalProperties: true }), { maxItems: 256 }),
  t.Null(),
])

const Message = t.Object(
  {
    role: t.Union(['system', 'developer', 'user', 'assistant', 'tool', 'function'].map((r) => t.Literal(r))),
    content: t.Optional(Content),
    name: t.Optional(t.String({ maxLength: 256 })),
    tool_call_id: t.Optional(t.String({ maxLength: 256 })),
    tool_calls: t.Optional(t.Array(t.Object({}, { additionalProperties: true }), { maxItems: 128 })),
  },
  { additionalProperties: true },
)

/**
 * The OpenAI chat request. Known fields are checked with their limits; fields this version does not know pass
 * through to the upstream unchanged, so new OpenAI parameters keep working.
 */
export const ChatCompletionBody = t.Object(
  {
    model: t.String({ minLength: 1, maxLength: 256 }),
    messages: t.Array(Message, { minItems: 1, maxItems: 4096 }),
    temperature: t.Optional(t.Nullable(t.Number({ minimum: 0, maximum: 2 }))),
    top_p: t.Optional(t.Nullable(t.Number({ minimum: 0, maximum: 1 }))),
    max_tokens: t.Optional(t.Nullable(Integer({ minimum: 1, maximum: 1_000_000 }))),
    max_completion_tokens: t.Optional(t.Nullable(Integer({ minimum: 1, maximum: 1_000_000 }))),
    stop: t.Optional(t.Nullable(t.Union([t.String({ maxLength: 256 }), t.Array(t.String({ maxLength: 256 }), { maxItems: 4 })]))),
    n: t.Optional(t.Nullable(Integer({ minimum: 1, maximum: 16 }))),
    seed: t.Optional(t.Nullable(Integer())),
    presence_penalty: t.Optional(t.Nullable(t.Number({ minimum: -2, maximum: 2 }))),
    frequency_penalty: t.Optional(t.Nullable(t.Number({ minimum: -2, maximum: 2 }))),
    response_format: t.Optional(t.Object({ type: t.String({ maxLength: 64 }) }, { additionalProperties: true })),
    tools: t.Optional(t.Array(t.Object({ type: t.String({ maxLength: 64 }) }, { additionalProperties: true }), { maxItems: 128 })),
    tool_choice: t.Optional(t.Union([t.String({ maxLength: 64 }), t.Object({}, { additionalProperties: true })])),
    stream: t.Optional(t.Nullable(t.Boolean())),
    stream_options: t.Optional(t.Nullable(t.Object({ include_usage: t.Optional(t.Boolean()) }, { additionalProperties: true }))),
    user: t.Optional(t.String({ maxLength: 256 })),
  },
  { additionalProperties: true },
)
export type ChatCompletionRequest = typeof ChatCompletionBody.static

export const EmbeddingBody = t.Object(
  {
    model: t.String({ minLength: 1, maxLength: 256 }),
    input: t.Union([
      t.String({ maxLength: 1_000_000 }),
      t.Array(t.String({ maxLength: 1_000_000 }), { minItems: 1, maxItems: 2048 }),
      t.Array(Integer({ minimum: 0 }), { minItems: 1, maxItems: 100_000 }),
      t.Array(t.Array(Integer({ minimum: 0 }), { maxItems: 100_000 }), { minItems: 1, maxItems: 2048 }),
    ]),
    encoding_format: t.Optional(t.Union([t.Literal('float'), t.Literal('base64')])),
    dimensions: t.Optional(Integer({ minimum: 1, maximum: 65_536 })),
    user: t.Optional(t.String({ maxLength: 256 })),
  },
  { additionalProperties: true },
)
export type EmbeddingRequest = typeof EmbeddingBody.static

export const ModelObject = t.Object({
  id: t.String(),
  object: t.Literal('model'),
  created: Integer(),
  owned_by: t.String(),
  /** Served inside a TEE through privatemode's attested, end-to-end encrypted channel. */
  confidential: t.Boolean(),
})

export const ModelList = t.Object({ object: t.Literal('list'), data: t.Array(ModelObject) })

/** The playground's view of a model: the OpenAI fields plus what one request costs (USD per 1M tokens). */
export const PlaygroundModel = t.Composite([
  ModelObject,
  t.Object({ input_price_per_million: t.Number(), output_price_per_million: t.Number() }),
])
export const PlaygroundModelList = t.Object({ object: t.Literal('list'), data: t.Array(PlaygroundModel) })
