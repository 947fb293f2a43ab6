import { t } from 'elysia'

/** The tools API's shapes, shared by agents and chatbots (validation, OpenAPI and the dashboard). */

const Uuid = t.String({ format: 'uuid' })
const Host = t.String({ minLength: 1, maxLength: 260 })

/** A tool as an agent or a chatbot names it (src/tools/types.ts ToolSpec); resolved for the caller on every run. */
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

