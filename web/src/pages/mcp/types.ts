/** Shapes of the MCP servers API: the server's own schemas (src/mcp/model.ts), imported as types only. */
import type { CreateMcpServerBody, McpServerSchema, McpTestSchema, McpToolSchema, UpdateMcpServerBody } from '../../../../src/mcp/model.ts'

export type McpServer = typeof McpServerSchema.static
export type McpTool = typeof McpToolSchema.static
export type McpTest = typeof McpTestSchema.static
export type CreateInput = typeof CreateMcpServerBody.static
export type UpdateInput = typeof UpdateMcpServerBody.static
export type Transport = McpServer['transport']

export const SERVERS = '/api-internal/v1/mcp-servers'
export const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/
