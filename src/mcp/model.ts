import { t } from 'elysia'

/** The MCP servers API's shapes, shared by validation, OpenAPI and the dashboard. */

/** Also the prefix of the server's tools as a model sees them (`<name>__<tool>`), so it is kept short and plain. */
export const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/
export const TRANSPORTS = ['auto', 'streamable_http', 'sse'] as const
export type McpTransport = (typeof TRANSPORTS)[number]

const Name = t.String({ pattern: SERVER_NAME.source, description: 'Letters, digits, _ and -, up to 32; prefixes its tool names (name__tool)' })
const Url = t.String({ pattern: '^https?://', minLength: 8, maxLength: 2048, description: 'The server\'s MCP endpoint, e.g. https://mcp.example.com/mcp' })
const Transport = t.Union(
  TRANSPORTS.map((x) => t.Literal(x)) as [ReturnType<typeof t.Literal<McpTransport>>],
  { description: 'auto (default): Streamable HTTP, falling back to HTTP+SSE for servers that only have that' },
)
/** MCP tool names are free text up to 128 characters in practice; the model-facing name is derived from them. */
const ToolName = t.String({ minLength: 1, maxLength: 128 })
const AllowedTools = t.Nullable(
  t.Array(ToolName, { maxItems: 200, uniqueItems: true, description: 'The tools that may be used; null or absent: every tool the server lists' }),
)
const HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"

export const CreateMcpServerBody = t.Object(
  {
    name: Name,
    url: Url,
    transport: t.Optional(Transport),
    headers: t.Optional(
      t.Record(t.String({ pattern: HEADER_NAME }), t.String({ minLength: 1, maxLength: 8192 }), {
        maxProperties: 20,
        description: 'Sent with every request to the server (e.g. Authorization); stored sealed, never returned',
      }),
    ),
    allowed_tools: t.Optional(AllowedTools),
    shared: t.Optional(t.Boolean({ description: 'Visible to and usable by everyone (administrators only)' })),
  },
  { additionalProperties: false },
)
export type CreateMcpServerInput = typeof CreateMcpServerBody.static

export const UpdateMcpServerBody = t.Object(
  {
    name: t.Optional(Name),
    url: t.Optional(Url),
    transport: t.Optional(Transport),
    headers: t.Optional(
      t.Record(t.String({ pattern: HEADER_NAME }), t.Nullable(t.String({ minLength: 1, maxLength: 8192 })), {
        maxProperties: 20,
        description: 'Merged into the stored headers: a value sets a header, null removes it, an absent name keeps it',
      }),
    ),
    allowed_tools: t.Optional(AllowedTools),
    shared: t.Optional(t.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type UpdateMcpServerInput = typeof UpdateMcpServerBody.static

export const McpServerSchema = t.Object({
  id: t.String({ format: 'uuid' }),
  owner_id: t.String({ format: 'uuid' }),
  name: t.String(),
  url: t.String(),
  transport: Transport,
  /** Which headers are set; their values are never returned. */
  header_names: t.Array(t.String()),
  allowed_tools: AllowedTools,
  shared: t.Boolean(),
  /** The URL was set by an administrator: it may name a private or loopback host. */
  private_network: t.Boolean(),
  created_at: t.String({ format: 'date-time' }),
  updated_at: t.String({ format: 'date-time' }),
})
export type McpServerView = typeof McpServerSchema.static

export const McpToolSchema = t.Object({
  name: t.String(),
  description: t.String(),
  input_schema: t.Record(t.String(), t.Unknown()),
  /** Whether the server's allow-list lets it be used. */
  allowed: t.Boolean(),
})

export const McpToolsSchema = t.Object({ data: t.Array(McpToolSchema) })

export const McpTestSchema = t.Object({
  ok: t.Boolean(),
  latency_ms: t.Integer(),
  /** The transport that answered. */
  transport: t.Optional(t.Union([t.Literal('streamable_http'), t.Literal('sse')])),
  server: t.Optional(t.Object({ name: t.String(), version: t.String() })),
  tools: t.Optional(t.Integer()),
  error: t.Optional(t.String()),
})
export type McpTestResult = typeof McpTestSchema.static
