import type { Caller } from '../gateway/service.ts'

/**
 * The tools engine's one interface. A tool has a name, a description and JSON-schema parameters (what the model is
 * told), and runs under a caller: every tool reaches only what that caller may reach, is charged to it, and is
 * audited. Kinds (src/tools/kinds/): rag_search, web_fetch, code_interpreter, plugin, mcp.
 */

/** JSON Schema of an object (the tool's arguments), as OpenAI's function tools carry it. */
export type ParametersSchema = { type: 'object'; properties?: Record<string, unknown>; required?: string[]; [key: string]: unknown }

export interface ToolDefinition {
  /** What the model calls it: `^[a-zA-Z0-9_-]{1,64}$`, unique within one agent. */
  name: string
  description: string
  parameters: ParametersSchema
}

/** What the model gets back. `content` is the text it reads; `sources` are shown to people (citations). */
export interface ToolResult {
  content: string
  /** The call failed: the model reads why (content), and may try something else. Never a platform fault. */
  isError?: boolean
  sources?: { title: string; url?: string; document_id?: string; collection_id?: string }[]
}

export interface ToolContext {
  caller: Caller
  /** Aborted when the run is cancelled or its time is up: stop the work. */
  signal: AbortSignal
}

export interface Tool extends ToolDefinition {
  kind: ToolKind
  execute(args: Record<string, unknown>, ctx: ToolContext): Promise<ToolResult>
}

/** `chatbot`: ask_chatbot, which Enclava's own MCP endpoint offers (src/mcp/enclava-server.ts); no agent spec names it. */
export type ToolKind = 'rag_search' | 'web_fetch' | 'code_interpreter' | 'plugin' | 'mcp' | 'chatbot'

/** A tool as an agent's configuration names it; one spec may stand for several tools (an MCP server's). */
export type ToolSpec =
  | { type: 'rag_search'; collections?: string[] | undefined; top_k?: number | undefined }
  | { type: 'web_fetch'; hosts: string[]; max_bytes?: number | undefined }
  | { type: 'code_interpreter' }
  | { type: 'plugin'; plugin: string; tool: string }
  | { type: 'mcp'; server_id: string; allowed_tools?: string[] | undefined }

/** Turns one kind of spec into tools for a caller, refusing (403/404) what the caller may not use. */
export interface ToolProvider<S extends ToolSpec = ToolSpec> {
  kind: S['type']
  tools(spec: S, caller: Caller): Promise<Tool[]>
}
