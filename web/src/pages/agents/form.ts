/**
 * The agent form's state and its conversion. Inputs are kept as typed text and converted on save: a half-typed
 * number is reported next to its field instead of being coerced. Ranges are left to the server, whose 400 names the
 * field (`error.param`: `max_steps`, `tools.1.hosts`, …) so its message lands beside that field.
 */
import { ApiError } from '../../api.ts'
import type { Agent, ToolSpec, ToolType } from './types.ts'

/** One tool being edited; flat, so switching or adding a kind never loses the shape of the store. */
export interface ToolDraft {
  /** Stable across edits, for keyed rendering and element ids. */
  key: number
  type: ToolType
  collections: string[]
  top_k: string
  /** One host per line, or separated by commas. */
  hosts: string
  /** Set through the API only (the form has no field for it); kept as it is. */
  max_bytes: number | null
  server_id: string
  /** Tool names, separated by commas or lines; empty: every tool the server allows. */
  allowed_tools: string
  plugin: string
  tool: string
}

export interface AgentFormState {
  name: string
  model: string
  instructions: string
  tools: ToolDraft[]
  max_steps: string
  max_cost_usd: string
  temperature: string
  confidential_only: boolean
}

export type FieldKey = 'name' | 'model' | 'instructions' | 'tools' | 'max_steps' | 'max_cost_usd' | 'temperature'
export interface FormErrors {
  fields: Partial<Record<FieldKey, string>>
  /** By the tool's position in the list. */
  tools: Record<number, string>
}
export const noErrors = (): FormErrors => ({ fields: {}, tools: {} })
export const hasErrors = (e: FormErrors) => Object.keys(e.fields).length > 0 || Object.keys(e.tools).length > 0

let nextKey = 0
export function newTool(type: ToolType, from: Partial<ToolDraft> = {}): ToolDraft {
  return { key: ++nextKey, type, collections: [], top_k: '', hosts: '', max_bytes: null, server_id: '', allowed_tools: '', plugin: '', tool: '', ...from }
}

/** A saved tool spec as the editor's draft. */
export function toDraft(spec: ToolSpec): ToolDraft {
  switch (spec.type) {
    case 'rag_search':
      return newTool('rag_search', { collections: [...(spec.collections ?? [])], top_k: spec.top_k === undefined ? '' : String(spec.top_k) })
    case 'web_fetch':
      return newTool('web_fetch', { hosts: spec.hosts.join('\n'), max_bytes: spec.max_bytes ?? null })
    case 'mcp':
      return newTool('mcp', { server_id: spec.server_id, allowed_tools: (spec.allowed_tools ?? []).join(', ') })
    case 'plugin':
      return newTool('plugin', { plugin: spec.plugin, tool: spec.tool })
    default:
      return newTool(spec.type)
  }
}

export const fromAgent = (a: Agent | null): AgentFormState => ({
  name: a?.name ?? '',
  model: a?.model ?? '',
  instructions: a?.instructions ?? '',
  tools: (a?.tools ?? []).map(toDraft),
  max_steps: String(a?.max_steps ?? 8),
  max_cost_usd: a?.max_cost_usd == null ? '' : String(a.max_cost_usd),
  temperature: a?.temperature == null ? '' : String(a.temperature),
  confidential_only: a?.confidential_only ?? false,
})

const list = (text: string) => [...new Set(text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean))]

/** A draft as the API takes it, or what is missing. Only fields the kind has are sent (the schema refuses others). */
export function toSpec(d: ToolDraft): ToolSpec | string {
  switch (d.type) {
    case 'rag_search': {
      const topK = d.top_k.trim()
      if (topK && !Number.isInteger(Number(topK))) return 'Top k must be a whole number, or empty for the default (5).'
      return { type: 'rag_search', ...(d.collections.length ? { collections: d.collections } : {}), ...(topK ? { top_k: Number(topK) } : {}) }
    }
    case 'web_fetch': {
      const hosts = list(d.hosts)
      if (!hosts.length) return 'List at least one host it may reach, e.g. docs.example.com.'
      return { type: 'web_fetch', hosts, ...(d.max_bytes !== null ? { max_bytes: d.max_bytes } : {}) }
    }
    case 'mcp': {
      if (!d.server_id) return 'Choose an MCP server.'
      const allowed = list(d.allowed_tools)
      return { type: 'mcp', server_id: d.server_id, ...(allowed.length ? { allowed_tools: allowed } : {}) }
    }
    case 'plugin':
      if (!d.plugin.trim() || !d.tool.trim()) return 'Name both the plugin and its tool.'
      return { type: 'plugin', plugin: d.plugin.trim(), tool: d.tool.trim() }
    default:
      return { type: 'code_interpreter' }
  }
}

/** Empty is null (no limit); anything else must be a number. */
function optionalNumber(text: string, label: string): number | null | { error: string } {
  if (!text.trim()) return null
  const n = Number(text.trim())
  return Number.isFinite(n) ? n : { error: `${label} must be a number, or empty.` }
}

/** The drafts as the API takes them, and what is missing in each by its position (an agent's or a chatbot's tools). */
export function toSpecs(drafts: readonly ToolDraft[]): { tools: ToolSpec[]; errors: Record<number, string> } {
  const tools: ToolSpec[] = []
  const errors: Record<number, string> = {}
  drafts.forEach((d, i) => {
    const spec = toSpec(d)
    if (typeof spec === 'string') errors[i] = spec
    else tools.push(spec)
  })
  return { tools, errors }
}

/** The whole body the form stands for, or the errors that stop a save. */
export function toBody(f: AgentFormState): { body: Record<string, unknown>; errors: FormErrors } {
  const errors = noErrors()
  const { tools, errors: toolErrors } = toSpecs(f.tools)
  errors.tools = toolErrors
  if (!f.name.trim()) errors.fields.name = 'Give the agent a name.'
  if (!f.model) errors.fields.model = 'Choose a model.'
  const steps = Number(f.max_steps.trim())
  if (!f.max_steps.trim() || !Number.isInteger(steps)) errors.fields.max_steps = 'Max steps must be a whole number.'
  const cost = optionalNumber(f.max_cost_usd, 'The cost limit')
  if (cost !== null && typeof cost === 'object') errors.fields.max_cost_usd = cost.error
  const temperature = optionalNumber(f.temperature, 'Temperature')
  if (temperature !== null && typeof temperature === 'object') errors.fields.temperature = temperature.error
  const body = { name: f.name.trim(), model: f.model, instructions: f.instructions, tools, max_steps: steps, max_cost_usd: cost, temperature, confidential_only: f.confidential_only }
  return { body, errors }
}

/**
 * The fields that differ from the saved agent; everything for a new one. The saved agent goes through the same
 * conversion as the form, so what the database hands back in another shape (key order, omitted defaults) is equal.
 */
export function changed(body: Record<string, unknown>, saved: Agent | null): Record<string, unknown> {
  if (!saved) return body
  const before = toBody(fromAgent(saved)).body
  return Object.fromEntries(Object.entries(body).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(before[k])))
}

const FIELDS: readonly FieldKey[] = ['name', 'model', 'instructions', 'tools', 'max_steps', 'max_cost_usd', 'temperature']

/** A refusal that names a field (`max_steps`, `tools.2.hosts.0`) as errors beside it; null when it names none. */
export function errorsFromApi(err: unknown): FormErrors | null {
  if (!(err instanceof ApiError) || !err.param) return null
  const [field, index] = err.param.split('.')
  if (!FIELDS.includes(field as FieldKey)) return null
  const errors = noErrors()
  if (field === 'tools' && index !== undefined && /^\d+$/.test(index)) errors.tools[Number(index)] = err.message
  else errors.fields[field as FieldKey] = err.message
  return errors
}
