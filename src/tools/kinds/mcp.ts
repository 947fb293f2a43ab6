import { createHash } from 'node:crypto'
import { ApiError } from '../../http/errors.ts'
import type { Caller } from '../../gateway/service.ts'
import type { McpServerService } from '../../mcp/service.ts'
import type { ParametersSchema, Tool, ToolProvider, ToolSpec } from '../types.ts'

type Spec = Extract<ToolSpec, { type: 'mcp' }>

const MAX_NAME = 64
const VALID = /^[a-zA-Z0-9_-]+$/
/** A remote server's description is prompt text from outside: kept to a length a tool list can carry. */
const MAX_DESCRIPTION = 2000
const LIST_TIMEOUT_MS = 30_000

/**
 * What the model calls a server's tool: `<server>__<tool>`, unique among the tools of one agent (the server's name
 * is its owner's unique prefix) and valid for OpenAI's function names. A tool whose name would not fit, or needed
 * characters replaced, ends in a short hash of its real name, so two such tools cannot collide.
 * @example
 * modelToolName('github', 'create_issue') // 'github__create_issue'
 * modelToolName('docs', 'search.pages')  // 'docs__search_pages_3f2a9c'
 */
export function modelToolName(server: string, tool: string): string {
  const plain = `${server}__${tool}`
  if (VALID.test(plain) && plain.length <= MAX_NAME) return plain
  const hash = createHash('sha256').update(tool).digest('hex').slice(0, 6)
  const room = MAX_NAME - server.length - 2 - hash.length - 1
  return `${server}__${tool.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, Math.max(room, 1))}_${hash}`
}

/**
 * `mcp`: the tools of a registered MCP server the caller may use (their own or a shared one), narrowed by the
 * server's allow-list and then by the spec's; each calls the server's `tools/call` (one short session per call) and
 * gives the model its content as text, a failing tool as an error result.
 */
export function mcpTools(servers: McpServerService): ToolProvider<Spec> {
  return {
    kind: 'mcp',
    async tools(spec: Spec, caller: Caller): Promise<Tool[]> {
      const server = await servers.usable(caller.userId, spec.server_id).catch((err: unknown) => {
        throw err instanceof ApiError && err.code === 'not_found' ? new ApiError('not_found', `MCP server ${spec.server_id} not found or not usable by this caller`, 'tools') : err
      })
      const listed = await servers.tools(server, AbortSignal.timeout(LIST_TIMEOUT_MS))
      const byServer = server.allowed_tools === null ? listed : listed.filter((t) => server.allowed_tools!.includes(t.name))
      if (spec.allowed_tools?.length) {
        const missing = spec.allowed_tools.filter((name) => !byServer.some((t) => t.name === name))
        if (missing.length)
          throw new ApiError('validation_failed', `The MCP server "${server.name}" offers no tool (or allows none) named: ${missing.join(', ')}`, 'tools')
      }
      const wanted = spec.allowed_tools?.length ? byServer.filter((t) => spec.allowed_tools!.includes(t.name)) : byServer
      return wanted.map(
        (t): Tool => ({
          kind: 'mcp',
          name: modelToolName(server.name, t.name),
          description: `${t.description || t.name}`.slice(0, MAX_DESCRIPTION) + ` (MCP server ${server.name}, tool ${t.name})`,
          parameters: objectSchema(t.inputSchema),
          async execute(args, ctx) {
            return servers.call(server, t.name, args, ctx.signal)
          },
        }),
      )
    },
  }
}

/** MCP requires an object schema; one a server sends without `type` (or with a `$schema` OpenAI rejects) is fixed up. */
function objectSchema(schema: Record<string, unknown> | undefined): ParametersSchema {
  const { $schema: _ignored, ...rest } = schema ?? {}
  return { ...rest, type: 'object' }
}
