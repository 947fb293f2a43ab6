import { ApiError } from '../http/errors.ts'

/**
 * Items, the Responses API's unit of conversation state, and the chat messages they stand for. Upstreams that
 * speak only chat completions (privatemode, vLLM) are driven by Enclava, so each stored item keeps, next to what the
 * client sees, the messages it adds to the model's context: replaying a history is concatenating them.
 */

export type Item = { id: string; type: string; [key: string]: unknown }

/** A chat message as the upstream gets it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool'
  content: string | null | { type: string; [key: string]: unknown }[]
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[]
  tool_call_id?: string
}

/** An item and its share of the model's context (none for, e.g., a tool list or a pending approval). */
export interface StoredItem {
  item: Item
  messages: ChatMessage[]
}

/** OpenAI-style ids: a prefix naming the kind and 48 random hex digits. */
export const newId = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll('-', '')}${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`

const PREFIX: Record<string, string> = {
  message: 'msg',
  function_call: 'fc',
  function_call_output: 'fco',
  mcp_approval_response: 'mcpa',
  file_search_call: 'fs',
  mcp_call: 'mcp',
  code_interpreter_call: 'ci',
}
const ROLES = new Set(['user', 'system', 'developer', 'assistant'])
const MAX_TEXT = 4_000_000

type Raw = Record<string, unknown>
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v)

function str(value: unknown, where: string, opts: { optional?: boolean; max?: number } = {}): string {
  if (value === undefined || value === null) {
    if (opts.optional) return ''
    throw new ApiError('validation_failed', `${where} is required`, where)
  }
  if (typeof value !== 'string') throw new ApiError('validation_failed', `${where} must be a string`, where)
  if (value.length > (opts.max ?? MAX_TEXT)) throw new ApiError('validation_failed', `${where} is longer than ${opts.max ?? MAX_TEXT} characters`, where)
  return value
}

/** A call's id as the client sent it, or the item id when it has none. */
const callId = (raw: Raw, where: string, fallback: string) => (raw.call_id === undefined ? fallback : str(raw.call_id, `${where}.call_id`, { max: 128 }))

/** The text of a content array or string (the parts a model reads as text). */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content.map((p) => (isObject(p) && typeof p.text === 'string' ? p.text : isObject(p) && typeof p.refusal === 'string' ? p.refusal : '')).join('')
}

/** A message's content parts, checked: text in, text out, images by URL. */
function messageParts(content: unknown, role: string, where: string): { parts: Raw[]; chat: ChatMessage['content'] } {
  if (typeof content === 'string') {
    const type = role === 'assistant' ? 'output_text' : 'input_text'
    return { parts: [type === 'output_text' ? { type, text: str(content, where), annotations: [] } : { type, text: str(content, where) }], chat: content }
  }
  if (!Array.isArray(content)) throw new ApiError('validation_failed', `${where} must be a string or an array of content parts`, where)
  if (content.length > 256) throw new ApiError('validation_failed', `${where} has more than 256 parts`, where)
  const parts: Raw[] = []
  const chat: { type: string; [key: string]: unknown }[] = []
  content.forEach((p, j) => {
    const at = `${where}[${j}]`
    if (!isObject(p)) throw new ApiError('validation_failed', `${at} must be an object`, at)
    switch (p.type) {
      case 'input_text':
      case 'output_text':
      case 'text': {
        const text = str(p.text, `${at}.text`)
        const type = p.type === 'text' ? (role === 'assistant' ? 'output_text' : 'input_text') : p.type
        parts.push(type === 'output_text' ? { type, text, annotations: Array.isArray(p.annotations) ? p.annotations : [] } : { type, text })
        chat.push({ type: 'text', text })
        break
      }
      case 'refusal': {
        const refusal = str(p.refusal, `${at}.refusal`)
        parts.push({ type: 'refusal', refusal })
        chat.push({ type: 'text', text: refusal })
        break
      }
      case 'input_image': {
        if (p.file_id !== undefined && p.file_id !== null)
          throw new ApiError('validation_failed', `${at}: images by file_id are not supported; pass image_url (an https URL or a data: URL)`, `${at}.file_id`)
        const url = str(p.image_url, `${at}.image_url`)
        if (!/^(https?:|data:image\/)/.test(url)) throw new ApiError('validation_failed', `${at}.image_url must be an http(s) URL or a data:image URL`, `${at}.image_url`)
        const detail = typeof p.detail === 'string' ? p.detail : 'auto'
        parts.push({ type: 'input_image', image_url: url, detail })
        chat.push({ type: 'image_url', image_url: { url, detail } })
        break
      }
      case 'input_file':
        throw new ApiError('validation_failed', `${at}: input_file is not supported; upload the file to a collection and use the file_search tool`, `${at}.type`)
      default:
        throw new ApiError('validation_failed', `${at}.type "${String(p.type)}" is not a supported content part (input_text, output_text, refusal, input_image)`, `${at}.type`)
    }
  })
  // Text-only content goes as a plain string: every chat upstream reads that.
  const textOnly = chat.every((c) => c.type === 'text')
  return { parts, chat: textOnly ? chat.map((c) => c.text as string).join('') : chat }
}

const toolCallMessage = (id: string, name: string, args: string): ChatMessage => ({
  role: 'assistant',
  content: null,
  tool_calls: [{ id, type: 'function', function: { name, arguments: args } }],
})
const toolResultMessage = (id: string, content: string): ChatMessage => ({ role: 'tool', tool_call_id: id, content })

/**
 * One item as a client sends it (input, conversation items), checked and given an id, with its messages. Items
 * Enclava produced earlier (passed back by value, as `input: [...previous.output, next]` does) are accepted too.
 * `item_reference` and `mcp_approval_response` are resolved by the caller of this function (they need the store).
 */
export function normalizeItem(raw: unknown, where: string): StoredItem {
  if (!isObject(raw)) throw new ApiError('validation_failed', `${where} must be an object`, where)
  const type = raw.type === undefined && raw.role !== undefined ? 'message' : raw.type
  if (typeof type !== 'string') throw new ApiError('validation_failed', `${where}.type is required`, `${where}.type`)
  const id = typeof raw.id === 'string' && raw.id.length > 0 && raw.id.length <= 64 ? raw.id : newId(PREFIX[type] ?? 'item')
  switch (type) {
    case 'message': {
      const role = raw.role
      if (typeof role !== 'string' || !ROLES.has(role)) throw new ApiError('validation_failed', `${where}.role must be user, system, developer or assistant`, `${where}.role`)
      const { parts, chat } = messageParts(raw.content, role, `${where}.content`)
      const item: Item = { id, type: 'message', role, content: parts, status: 'completed' }
      // developer is the Responses API's system role; chat upstreams (vLLM, privatemode) know only system.
      return { item, messages: [{ role: role === 'developer' ? 'system' : (role as ChatMessage['role']), content: chat }] }
    }
    case 'function_call': {
      const name = str(raw.name, `${where}.name`, { max: 128 })
      const args = str(raw.arguments, `${where}.arguments`, { optional: true })
      const call = callId(raw, where, id)
      return { item: { id, type, call_id: call, name, arguments: args, status: 'completed' }, messages: [toolCallMessage(call, name, args)] }
    }
    case 'function_call_output': {
      const call = str(raw.call_id, `${where}.call_id`, { max: 128 })
      const output = typeof raw.output === 'string' ? raw.output : Array.isArray(raw.output) ? raw.output : str(raw.output, `${where}.output`)
      const text = typeof output === 'string' ? output : textOf(output)
      return { item: { id, type, call_id: call, output, status: 'completed' }, messages: [toolResultMessage(call, text)] }
    }
    case 'mcp_call': {
      const name = str(raw.name, `${where}.name`, { max: 128 })
      const args = str(raw.arguments, `${where}.arguments`, { optional: true })
      const output = str(raw.output, `${where}.output`, { optional: true })
      const error = raw.error === undefined || raw.error === null ? null : str(raw.error, `${where}.error`)
      const item: Item = { id, type, server_label: str(raw.server_label, `${where}.server_label`, { max: 128 }), name, arguments: args, output, error }
      return { item, messages: [toolCallMessage(id, name, args), toolResultMessage(id, error ?? output)] }
    }
    case 'file_search_call': {
      const queries = Array.isArray(raw.queries) ? raw.queries.filter((q): q is string => typeof q === 'string') : []
      const results = Array.isArray(raw.results) ? raw.results.filter(isObject) : null
      const text = results?.length ? results.map((r, k) => `[${k + 1}] ${String(r.filename ?? '')}\n${String(r.text ?? '')}`).join('\n\n') : '(the results of this search were not kept)'
      return {
        item: { id, type, status: 'completed', queries, results },
        messages: [toolCallMessage(id, 'file_search', JSON.stringify({ query: queries.join(' ') })), toolResultMessage(id, text)],
      }
    }
    case 'code_interpreter_call': {
      const code = str(raw.code, `${where}.code`, { optional: true })
      const outputs = Array.isArray(raw.outputs) ? raw.outputs.filter(isObject) : null
      const logs = (outputs ?? []).map((o) => (typeof o.logs === 'string' ? o.logs : '')).join('\n')
      return {
        item: { id, type, status: 'completed', code, container_id: typeof raw.container_id === 'string' ? raw.container_id : null, outputs },
        messages: [toolCallMessage(id, 'code_interpreter', JSON.stringify({ code })), toolResultMessage(id, logs)],
      }
    }
    // Context that needs no message: what tools a server had, a call that waited for approval, a model's reasoning.
    case 'mcp_list_tools':
    case 'mcp_approval_request':
    case 'reasoning':
      return { item: { ...raw, id, type }, messages: [] }
    default:
      throw new ApiError(
        'validation_failed',
        `${where}.type "${type}" is not supported (message, function_call, function_call_output, item_reference, mcp_approval_response, or an item a response returned)`,
        `${where}.type`,
      )
  }
}

/**
 * The messages of a history in the shape chat upstreams require: consecutive assistant messages merged (a turn's
 * text and each of its tool calls are stored as separate items), so every assistant message with tool calls is
 * followed by their results.
 */
export function chatMessages(items: readonly StoredItem[], preamble: ChatMessage[] = []): ChatMessage[] {
  const out: ChatMessage[] = [...preamble]
  for (const { messages } of items)
    for (const m of messages) {
      const last = out.at(-1)
      if (m.role === 'assistant' && last?.role === 'assistant' && !(typeof last.content !== 'string' && last.content !== null)) {
        const text = [last.content, m.content].filter((c): c is string => typeof c === 'string' && c.length > 0).join('\n')
        out[out.length - 1] = {
          role: 'assistant',
          content: text || null,
          ...(last.tool_calls || m.tool_calls ? { tool_calls: [...(last.tool_calls ?? []), ...(m.tool_calls ?? [])] } : {}),
        }
      } else out.push(m)
    }
  return out
}
