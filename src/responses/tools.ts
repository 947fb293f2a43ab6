import { ApiError } from '../http/errors.ts'
import type { Caller } from '../gateway/service.ts'
import { ToolEngine } from '../tools/engine.ts'
import type { ParametersSchema, Tool, ToolResult } from '../tools/types.ts'
import { modelToolName } from '../tools/kinds/mcp.ts'

/** An MCP server as a response's `mcp` tool reaches it: registered (by label) or given by URL. */
export interface McpConnection {
  label: string
  tools: { name: string; description: string; inputSchema: Record<string, unknown> }[]
  call(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<{ content: string; isError: boolean }>
}

export interface McpSource {
  /**
   * The server an `mcp` tool names: `server_url` (reached through the network guard: public addresses only) with
   * the request's own headers, or else the caller's registered (or a shared) server named `server_label`.
   */
  connect(caller: Caller, spec: { server_label: string; server_url?: string; headers?: Record<string, string> }, signal: AbortSignal): Promise<McpConnection>
}

/** What a tool the model may call is, for the Responses state machine. */
export type Callable =
  | { kind: 'function' }
  | { kind: 'file_search'; tool: Tool; includeResults: boolean }
  | { kind: 'code_interpreter'; tool: Tool; containerId: string }
  | { kind: 'mcp'; tool: Tool; serverLabel: string; name: string; approval: boolean }

export interface ToolSet {
  /** OpenAI's chat `tools` for the upstream. */
  definitions: ReturnType<typeof ToolEngine.definitions>
  /** By the name the model calls. */
  byName: Map<string, Callable>
  /** The tools Enclava runs, for the tools engine (checked, bounded, audited calls). */
  builtins: Tool[]
  /** The tools as the response object shows them: headers and authorization never included. */
  shown: Record<string, unknown>[]
  /** One `mcp_list_tools` item per server: what each offered. */
  lists: { server_label: string; tools: { name: string; description: string; input_schema: Record<string, unknown>; annotations: null }[]; error: string | null }[]
}

const NAME = /^[a-zA-Z0-9_-]{1,64}$/
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const LIST_TIMEOUT_MS = 30_000

/** `require_approval`: "always" (OpenAI's default), "never", or per tool ({always|never: {tool_names}}). */
function approvalRule(rule: unknown, at: string): (tool: string) => boolean {
  if (rule === undefined || rule === null || rule === 'always') return () => true
  if (rule === 'never') return () => false
  if (!isObject(rule)) throw new ApiError('validation_failed', `${at}.require_approval must be "always", "never" or {always, never}`, `${at}.require_approval`)
  const names = (v: unknown) => (isObject(v) && Array.isArray(v.tool_names) ? v.tool_names.filter((n): n is string => typeof n === 'string') : [])
  const never = new Set(names(rule.never))
  const always = new Set(names(rule.always))
  return (tool) => always.has(tool) || !never.has(tool)
}

function allowedTools(v: unknown, at: string): string[] | null {
  if (v === undefined || v === null) return null
  const list = Array.isArray(v) ? v : isObject(v) && Array.isArray(v.tool_names) ? v.tool_names : null
  if (!list || !list.every((n) => typeof n === 'string')) throw new ApiError('validation_failed', `${at}.allowed_tools must be a list of tool names`, `${at}.allowed_tools`)
  return list as string[]
}

function headersOf(tool: Record<string, unknown>, at: string): Record<string, string> {
  const headers: Record<string, string> = {}
  if (tool.headers !== undefined && tool.headers !== null) {
    if (!isObject(tool.headers) || !Object.values(tool.headers).every((v) => typeof v === 'string'))
      throw new ApiError('validation_failed', `${at}.headers must map header names to strings`, `${at}.headers`)
    Object.assign(headers, tool.headers)
  }
  if (typeof tool.authorization === 'string') headers.authorization = `Bearer ${tool.authorization}`
  return headers
}

/**
 * A request's `tools`, resolved for its caller: `function` tools (the client runs them), and the tools Enclava runs
 * itself: `file_search` over collections the caller may read (`vector_store_ids` are collection ids),
 * `code_interpreter` in the code sandbox, and `mcp` servers (each tool `<label>__<name>` for the model). Anything
 * else is a 400 naming it; a collection or server the caller may not use is a 404.
 */
export async function resolveTools(
  raw: readonly Record<string, unknown>[],
  include: readonly string[],
  caller: Caller,
  deps: { engine: ToolEngine; mcp: McpSource },
  signal: AbortSignal,
): Promise<ToolSet> {
  const set: ToolSet = { definitions: [], byName: new Map(), builtins: [], shown: [], lists: [] }
  const add = (name: string, callable: Callable, description: string, parameters: ParametersSchema, at: string) => {
    if (set.byName.has(name)) throw new ApiError('validation_failed', `Two tools are named "${name}"`, at)
    set.byName.set(name, callable)
    set.definitions.push({ type: 'function', function: { name, description, parameters } })
    if (callable.kind !== 'function') set.builtins.push(callable.tool)
  }
  for (const [i, tool] of raw.entries()) {
    const at = `tools[${i}]`
    switch (tool.type) {
      case 'function': {
        const name = tool.name
        if (typeof name !== 'string' || !NAME.test(name)) throw new ApiError('validation_failed', `${at}.name must be 1-64 letters, digits, _ or -`, `${at}.name`)
        if (tool.parameters !== undefined && tool.parameters !== null && !isObject(tool.parameters))
          throw new ApiError('validation_failed', `${at}.parameters must be a JSON schema object`, `${at}.parameters`)
        const description = typeof tool.description === 'string' ? tool.description : ''
        const parameters = (isObject(tool.parameters) ? tool.parameters : { type: 'object', properties: {} }) as ParametersSchema
        add(name, { kind: 'function' }, description, parameters, at)
        set.shown.push({ type: 'function', name, description: description || null, parameters, strict: tool.strict ?? true })
        break
      }
      case 'file_search': {
        const ids = tool.vector_store_ids
        if (!Array.isArray(ids) || ids.length === 0 || !ids.every((v) => typeof v === 'string'))
          throw new ApiError('validation_failed', `${at}.vector_store_ids must list collection ids`, `${at}.vector_store_ids`)
        if (tool.filters !== undefined && tool.filters !== null)
          throw new ApiError('validation_failed', `${at}.filters is not supported; narrow the search with vector_store_ids`, `${at}.filters`)
        const max = typeof tool.max_num_results === 'number' ? Math.max(1, Math.min(50, Math.floor(tool.max_num_results))) : 10
        const [found] = await deps.engine.resolve([{ type: 'rag_search', collections: ids as string[], top_k: Math.min(max, 20) }], caller).catch((err: unknown) => {
          throw err instanceof ApiError ? new ApiError(err.code, err.message, `${at}.vector_store_ids`) : err
        })
        const search: Tool = { ...found!, name: 'file_search' }
        add('file_search', { kind: 'file_search', tool: search, includeResults: include.includes('file_search_call.results') }, search.description, search.parameters, at)
        set.shown.push({ type: 'file_search', vector_store_ids: ids, max_num_results: max, ranking_options: { ranker: 'auto', score_threshold: 0 }, filters: null })
        break
      }
      case 'code_interpreter': {
        const [found] = await deps.engine.resolve([{ type: 'code_interpreter' }], caller)
        const run: Tool = { ...found!, name: 'code_interpreter' }
        const containerId = typeof tool.container === 'string' ? tool.container : `cntr_${crypto.randomUUID().replaceAll('-', '')}`
        add('code_interpreter', { kind: 'code_interpreter', tool: run, containerId }, run.description, run.parameters, at)
        set.shown.push({ type: 'code_interpreter', container: tool.container ?? { type: 'auto' } })
        break
      }
      case 'mcp': {
        const label = tool.server_label
        if (typeof label !== 'string' || !/^[a-zA-Z0-9_-]{1,40}$/.test(label))
          throw new ApiError('validation_failed', `${at}.server_label must be 1-40 letters, digits, _ or -`, `${at}.server_label`)
        if (tool.server_url !== undefined && typeof tool.server_url !== 'string') throw new ApiError('validation_failed', `${at}.server_url must be a URL`, `${at}.server_url`)
        if (tool.connector_id !== undefined) throw new ApiError('validation_failed', `${at}.connector_id is not supported; register the server or give server_url`, `${at}.connector_id`)
        const allowed = allowedTools(tool.allowed_tools, at)
        const needsApproval = approvalRule(tool.require_approval, at)
        const connection = await deps.mcp.connect(
          caller,
          { server_label: label, ...(typeof tool.server_url === 'string' ? { server_url: tool.server_url } : {}), headers: headersOf(tool, at) },
          AbortSignal.any([signal, AbortSignal.timeout(LIST_TIMEOUT_MS)]),
        )
        const offered = allowed ? connection.tools.filter((t) => allowed.includes(t.name)) : connection.tools
        set.lists.push({
          server_label: label,
          tools: offered.map((t) => ({ name: t.name, description: t.description, input_schema: t.inputSchema, annotations: null })),
          error: null,
        })
        for (const t of offered) {
          const name = modelToolName(label, t.name)
          const runnable: Tool = {
            kind: 'mcp',
            name,
            description: `${t.description || t.name}`.slice(0, 2000) + ` (MCP server ${label}, tool ${t.name})`,
            parameters: { ...t.inputSchema, type: 'object' } as ParametersSchema,
            execute: (args, ctx): Promise<ToolResult> => connection.call(t.name, args, ctx.signal),
          }
          add(name, { kind: 'mcp', tool: runnable, serverLabel: label, name: t.name, approval: needsApproval(t.name) }, runnable.description, runnable.parameters, at)
        }
        const { headers: _h, authorization: _a, ...shown } = tool
        set.shown.push({ ...shown, allowed_tools: allowed, require_approval: tool.require_approval ?? 'always' })
        break
      }
      default:
        throw new ApiError(
          'validation_failed',
          `${at}.type "${String(tool.type)}" is not supported here; the tools are function, file_search, mcp and code_interpreter`,
          `${at}.type`,
        )
    }
  }
  return set
}

/** A request's `tool_choice` for the first model call (later calls choose freely, or a forced tool would loop). */
export function chatToolChoice(choice: unknown, set: ToolSet): unknown {
  if (choice === undefined || choice === null || choice === 'auto') return undefined
  if (choice === 'none' || choice === 'required') return set.definitions.length ? choice : undefined
  if (!isObject(choice)) throw new ApiError('validation_failed', 'tool_choice must be "auto", "none", "required" or a tool', 'tool_choice')
  const named = (name: string) => {
    if (!set.byName.has(name)) throw new ApiError('validation_failed', `tool_choice names "${name}", which is not among the tools`, 'tool_choice')
    return { type: 'function', function: { name } }
  }
  switch (choice.type) {
    case 'function':
      return named(String(choice.name))
    case 'file_search':
    case 'code_interpreter':
      return named(choice.type)
    case 'mcp':
      return typeof choice.name === 'string' ? named(modelToolName(String(choice.server_label), choice.name)) : 'required'
    default:
      throw new ApiError('validation_failed', `tool_choice of type "${String(choice.type)}" is not supported`, 'tool_choice')
  }
}
