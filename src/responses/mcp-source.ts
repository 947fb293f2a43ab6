import { ApiError } from '../http/errors.ts'
import type { McpServerService } from '../mcp/service.ts'
import type { McpSource } from './tools.ts'

/**
 * A response's `mcp` tool, reached through Enclava's MCP client (the network guard, size and time limits): a
 * `server_url` is an ad-hoc server that must be on a public address (the guard refuses private and loopback ones on
 * every connection), with only the headers the request gives; without one, `server_label` names a registered
 * server the caller may use (their own or a shared one), with its sealed headers.
 */
export function mcpSource(servers: McpServerService): McpSource {
  return {
    async connect(caller, spec, signal) {
      if (spec.server_url) {
        let url: URL
        try {
          url = new URL(spec.server_url)
        } catch {
          throw new ApiError('validation_failed', `server_url of "${spec.server_label}" is not a URL`, 'tools')
        }
        if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ApiError('validation_failed', `server_url of "${spec.server_label}" must be http or https`, 'tools')
        if (url.username || url.password) throw new ApiError('validation_failed', `server_url of "${spec.server_label}" may not carry credentials; use headers`, 'tools')
        const endpoint = { url: url.href, transport: 'auto' as const, headers: spec.headers ?? {}, privateNetwork: false }
        const tools = await servers.endpointTools(endpoint, spec.server_label, signal)
        return { label: spec.server_label, tools, call: (tool, args, s) => servers.endpointCall(endpoint, spec.server_label, tool, args, s) }
      }
      const row = (await servers.list({ userId: caller.userId, isAdmin: false })).find((r) => r.name === spec.server_label)
      if (!row) throw new ApiError('not_found', `No MCP server named "${spec.server_label}" that you may use; register it, or give server_url`, 'tools')
      const listed = await servers.tools(row, signal)
      const tools = row.allowed_tools === null ? listed : listed.filter((t) => row.allowed_tools!.includes(t.name))
      return { label: spec.server_label, tools, call: (tool, args, s) => servers.call(row, tool, args, s) }
    },
  }
}
