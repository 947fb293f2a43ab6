/** Shapes of the agents API: the server's own schemas (src/agents/model.ts), imported as types only. */
import type { AgentSchema, RunSchema, StepSchema, ToolSpecSchema } from '../../../../src/agents/model.ts'

export type Agent = typeof AgentSchema.static
export type Run = typeof RunSchema.static
export type Step = typeof StepSchema.static
export type ToolSpec = typeof ToolSpecSchema.static
export type ToolType = ToolSpec['type']
export type RunStatus = Run['status']

export const AGENTS = '/api-internal/v1/agents'

export const TOOL_TYPES: readonly { type: ToolType; label: string; hint: string }[] = [
  { type: 'rag_search', label: 'Document search', hint: 'Searches your document collections (all of them, or the ones ticked).' },
  { type: 'web_fetch', label: 'Web fetch', hint: 'Reads web pages, only on the hosts listed.' },
  { type: 'code_interpreter', label: 'Code interpreter', hint: 'Runs JavaScript in an isolated sandbox: no network, no files.' },
  { type: 'mcp', label: 'MCP server', hint: 'The tools of one of the MCP servers you may use.' },
  { type: 'plugin', label: 'Plugin tool', hint: 'A tool a plugin declares and an administrator granted to agents.' },
]

export const toolLabel = (type: ToolType) => TOOL_TYPES.find((t) => t.type === type)?.label ?? type

/** Why a run ended, in words; `error` adds the run's own message. */
export const STATUS_TEXT: Record<RunStatus, string> = {
  running: 'Running',
  completed: 'Completed: the model answered',
  max_steps: 'Stopped: it reached its maximum number of steps',
  max_cost: 'Stopped: the next step could have cost more than its cost limit',
  budget_exceeded: 'Stopped: a budget is used up',
  error: 'Failed',
  cancelled: 'Cancelled',
}

export const statusBadge = (s: RunStatus) => (s === 'completed' ? 'ok' : s === 'error' || s === 'budget_exceeded' ? 'bad' : 'warn')
