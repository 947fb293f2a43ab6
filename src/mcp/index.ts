import { Elysia, t } from 'elysia'
import { changes } from '../audit/changes.ts'
import { auditFor } from '../audit/service.ts'
import { guards } from '../auth/guards.ts'
import { holds } from '../auth/roles.ts'
import type { Services } from '../services.ts'
import type { UserRow } from '../users/service.ts'
import { handleMcpRequest } from './enclava-server.ts'
import { CreateMcpServerBody, McpServerSchema, McpTestSchema, McpToolsSchema, UpdateMcpServerBody } from './model.ts'
import { presentMcpServer, type McpActor } from './service.ts'

const IdParams = t.Object({ id: t.String({ format: 'uuid' }) })
const actorOf = (user: UserRow): McpActor => ({ userId: user.id, isAdmin: holds(user, 'mcp:admin') })

/**
 * MCP servers Enclava calls (internal API: owner-scoped, admins see all and share), and Enclava's own MCP endpoint
 * for API keys with the `mcp` scope (`/api/v1/mcp`).
 */
export function mcpRoutes(s: Services) {
  const { mcp } = s
  const audit = auditFor(s.audit, 'mcp_server')

  const internal = new Elysia({ prefix: '/api-internal/v1/mcp-servers', tags: ['mcp'] })
    .use(guards(s.guardDeps))
    .get('/', async ({ user }) => ({ data: (await mcp.list(actorOf(user))).map(presentMcpServer) }), {
      permission: 'mcp:use',
      response: t.Object({ data: t.Array(McpServerSchema) }),
      detail: { summary: 'Your MCP servers and the shared ones (admins: all)' },
    })
    .post(
      '/',
      async ({ user, body, meta, set }) => {
        const row = await mcp.create(actorOf(user), body)
        await audit(user, 'mcp_server.create', row.id, meta, { name: row.name, url: row.url, shared: row.shared, headers: row.header_names })
        set.status = 201
        return presentMcpServer(row)
      },
      {
        permission: 'mcp:use',
        body: CreateMcpServerBody,
        response: { 201: McpServerSchema },
        detail: { summary: "Register an MCP server (a user's must be on a public address; admins may share theirs)" },
      },
    )
    .get('/:id', async ({ user, params }) => presentMcpServer(await mcp.get(actorOf(user), params.id)), {
      permission: 'mcp:use',
      params: IdParams,
      response: McpServerSchema,
      detail: { summary: 'One MCP server (header values are never returned, only their names)' },
    })
    .patch(
      '/:id',
      async ({ user, params, body, meta }) => {
        const before = presentMcpServer(await mcp.get(actorOf(user), params.id))
        const row = await mcp.update(actorOf(user), params.id, body)
        // The header names changed, never their values (`headers` is a secret field to changes()).
        const fields = Object.keys(body)
        await audit(user, 'mcp_server.update', row.id, meta, {
          fields,
          changes: changes(before, presentMcpServer(row), fields),
          headers: body.headers ? Object.keys(body.headers) : undefined,
        })
        return presentMcpServer(row)
      },
      {
        permission: 'mcp:use',
        params: IdParams,
        body: UpdateMcpServerBody,
        response: McpServerSchema,
        detail: { summary: 'Change an MCP server: headers are merged (null removes one); allowed_tools null allows every tool' },
      },
    )
    .delete(
      '/:id',
      async ({ user, params, meta, set }) => {
        await mcp.delete(actorOf(user), params.id)
        await audit(user, 'mcp_server.delete', params.id, meta)
        set.status = 204
      },
      { permission: 'mcp:use', params: IdParams, detail: { summary: 'Remove an MCP server' } },
    )
    .post('/:id/test', async ({ user, params, request }) => mcp.test(await mcp.get(actorOf(user), params.id), request.signal), {
      permission: 'mcp:use',
      params: IdParams,
      response: McpTestSchema,
      detail: { summary: 'Connect, initialize and list tools: ok or the error, with the latency' },
    })
    .get(
      '/:id/tools',
      async ({ user, params, request }) => {
        const row = await mcp.get(actorOf(user), params.id)
        const tools = await mcp.tools(row, request.signal)
        return {
          data: tools.map((tool) => ({
            name: tool.name,
            description: tool.description,
            input_schema: tool.inputSchema,
            allowed: row.allowed_tools === null || row.allowed_tools.includes(tool.name),
          })),
        }
      },
      { permission: 'mcp:use', params: IdParams, response: McpToolsSchema, detail: { summary: "The server's tools, each saying whether the allow-list lets it be used" } },
    )

  // GET (a standalone event stream) and DELETE (ending a session) have nothing to do on a stateless server; the
  // spec's answer is 405. They are guarded like the POST, so an anonymous probe learns nothing.
  const notAllowed = () =>
    new Response(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP endpoint is stateless; POST only' }, id: null }), {
      status: 405,
      headers: { allow: 'POST', 'content-type': 'application/json' },
    })
  const endpoint = new Elysia({ prefix: '/api/v1', tags: ['mcp'] })
    .use(guards(s.guardDeps))
    .post('/mcp', ({ apiKey, request, body }) => handleMcpRequest(s, apiKey, request, body), {
      apiKey: 'mcp',
      detail: {
        summary: "Enclava's MCP endpoint (Streamable HTTP, JSON-RPC): search_documents and ask_chatbot, with the key's reach and budget",
      },
    })
    .get('/mcp', notAllowed, { apiKey: 'mcp', detail: { summary: 'Not used: the endpoint is stateless (405)' } })
    .delete('/mcp', notAllowed, { apiKey: 'mcp', detail: { summary: 'Not used: the endpoint is stateless (405)' } })

  return new Elysia().use(internal).use(endpoint)
}
