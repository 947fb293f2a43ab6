import { chatTurn, type ChatTurn } from '../gateway/chat-turn.ts'
import type { Caller, GatewayService } from '../gateway/service.ts'
import { ApiError } from '../http/errors.ts'
import type { Logger } from '../log.ts'
import type { ToolEngine } from '../tools/engine.ts'
import { ResponseEvents, type Send } from './events.ts'
import { chatMessages, newId, normalizeItem, type ChatMessage, type Item, type StoredItem } from './items.ts'
import type { CreateResponseInput } from './model.ts'
import type { PromptService } from './prompts.ts'
import type { ResponseRecord, ResponseStore } from './store.ts'
import { modelToolName } from '../tools/kinds/mcp.ts'
import { chatToolChoice, resolveTools, type Callable, type McpSource, type ToolSet } from './tools.ts'

/** Model calls one response may make (each tool round is one): a model that keeps calling tools stops here. */
const MAX_MODEL_CALLS = 16
/** The text of a tool's result kept in a stored item (the model read up to the engine's cap). */
const STORED_RESULT_CHARS = 32_000

interface Usage {
  input: number
  output: number
}

/** Everything a response needs before its first model call: checked and resolved, so refusals are HTTP statuses. */
interface Prepared {
  id: string
  model: string
  record: Omit<ResponseRecord, 'status' | 'usage' | 'error' | 'incomplete_details' | 'completed_at'>
  instructions: string | null
  store: boolean
  preamble: ChatMessage[]
  history: StoredItem[]
  input: StoredItem[]
  tools: ToolSet
  /** Approved (or declined) MCP calls from the previous response, run before the model is called. */
  approvals: { request: Item; approve: true; reason: string | null }[]
  body: CreateResponseInput
}

export interface ResponseDeps {
  gateway: GatewayService
  tools: ToolEngine
  store: ResponseStore
  prompts: PromptService
  mcp: McpSource
  log: Logger
}

/** The response object as OpenAI's API returns it. */
export function presentResponse(r: ResponseRecord, instructions: string | null, output: Item[]): Record<string, unknown> {
  const p = r.params
  return {
    id: r.id,
    object: 'response',
    created_at: Math.floor(r.created_at.getTime() / 1000),
    status: r.status,
    background: false,
    error: r.error,
    incomplete_details: r.incomplete_details,
    instructions,
    max_output_tokens: p.max_output_tokens ?? null,
    max_tool_calls: p.max_tool_calls ?? null,
    model: r.model,
    output,
    parallel_tool_calls: p.parallel_tool_calls ?? true,
    previous_response_id: r.previous_response_id,
    prompt: p.prompt ?? null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: p.store ?? true,
    temperature: p.temperature ?? 1,
    text: p.text ?? { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: p.tool_choice ?? 'auto',
    tools: p.tools ?? [],
    top_p: p.top_p ?? 1,
    truncation: p.truncation ?? 'disabled',
    usage: r.usage,
    user: p.user ?? null,
    metadata: r.metadata,
    conversation: r.conversation_id ? { id: r.conversation_id } : null,
    completed_at: r.completed_at ? Math.floor(r.completed_at.getTime() / 1000) : null,
  }
}

const usageOf = (u: Usage) => ({
  input_tokens: u.input,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: u.output,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: u.input + u.output,
})

/** `text.format` as chat completions' `response_format`. */
function responseFormat(format: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!format || format.type === 'text') return undefined
  if (format.type === 'json_object') return { type: 'json_object' }
  if (format.type === 'json_schema') {
    if (typeof format.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(format.name))
      throw new ApiError('validation_failed', 'text.format.name must be 1-64 letters, digits, _ or -', 'text.format.name')
    if (typeof format.schema !== 'object' || format.schema === null || Array.isArray(format.schema))
      throw new ApiError('validation_failed', 'text.format.schema must be a JSON schema object', 'text.format.schema')
    return {
      type: 'json_schema',
      json_schema: {
        name: format.name,
        schema: format.schema,
        ...(typeof format.strict === 'boolean' ? { strict: format.strict } : {}),
        ...(typeof format.description === 'string' ? { description: format.description } : {}),
      },
    }
  }
  throw new ApiError('validation_failed', `text.format.type "${String(format.type)}" is not supported (text, json_object, json_schema)`, 'text.format.type')
}

const argsOf = (raw: string): Record<string, unknown> => {
  try {
    const v = JSON.parse(raw) as unknown
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

const callMessages = (callId: string, name: string, args: string, result: string): ChatMessage[] => [
  { role: 'assistant', content: null, tool_calls: [{ id: callId, type: 'function', function: { name, arguments: args } }] },
  { role: 'tool', tool_call_id: callId, content: result },
]

/**
 * The Responses API's state machine over chat-completion upstreams. A response is a loop of model calls through
 * the gateway (each with the caller's budgets, rate limits and a usage record under `/responses`): the model's text
 * becomes a message item; calls of the client's `function` tools end the response with function_call items (the
 * client answers with function_call_output items next time); calls of the tools Enclava runs (file_search, mcp,
 * code_interpreter) run through the tools engine, become items with their results, and the model is called again.
 * An MCP call that needs approval ends the response with an approval request; the next response, given the
 * approval, runs it first.
 */
export class ResponseEngine {
  constructor(readonly deps: ResponseDeps) {}

  async create(caller: Caller, body: CreateResponseInput, signal: AbortSignal, send: Send | null): Promise<Record<string, unknown>> {
    const prepared = await this.#prepare(caller, body, signal)
    return this.#run(caller, prepared, signal, new ResponseEvents(send))
  }

  async #prepare(caller: Caller, body: CreateResponseInput, signal: AbortSignal): Promise<Prepared> {
    if (body.background) throw new ApiError('validation_failed', 'background responses are not supported; use stream: true for long responses', 'background')
    if (body.previous_response_id && body.conversation)
      throw new ApiError('validation_failed', 'previous_response_id and conversation cannot be used together', 'conversation')
    const store = body.store ?? true
    const conversationId = typeof body.conversation === 'string' ? body.conversation : (body.conversation?.id ?? null)
    if (conversationId && !store) throw new ApiError('validation_failed', 'A response in a conversation is stored: store must not be false', 'store')
    const { store: responses, prompts } = this.deps
    const prompt = body.prompt ? await prompts.render(caller.userId, body.prompt) : null
    const model = body.model
    if (!model) throw new ApiError('validation_failed', 'model is required', 'model')
    await this.deps.gateway.model(caller, model)

    const history = body.previous_response_id
      ? (await responses.chain(caller.userId, body.previous_response_id)).items
      : conversationId
        ? await responses.history(caller.userId, conversationId)
        : []
    const raw: Record<string, unknown>[] = body.input === undefined ? [] : typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : body.input
    const input: StoredItem[] = []
    const approvals: Prepared['approvals'] = []
    for (const [i, item] of raw.entries()) {
      const where = `input[${i}]`
      if (item.type === 'item_reference') {
        const found = typeof item.id === 'string' ? await responses.findItem(caller.userId, item.id) : null
        if (!found) throw new ApiError('not_found', `${where}: no stored item with id '${String(item.id)}'`, `${where}.id`)
        input.push(found)
      } else if (item.type === 'mcp_approval_response') {
        const requestId = item.approval_request_id
        const request = history.find((h) => h.item.type === 'mcp_approval_request' && h.item.id === requestId)?.item
        if (!request) throw new ApiError('validation_failed', `${where}: no approval request '${String(requestId)}' in the previous response`, `${where}.approval_request_id`)
        if (typeof item.approve !== 'boolean') throw new ApiError('validation_failed', `${where}.approve must be true or false`, `${where}.approve`)
        const reason = typeof item.reason === 'string' ? item.reason.slice(0, 1000) : null
        const response = { id: newId('mcpa'), type: 'mcp_approval_response', approval_request_id: requestId, approve: item.approve, reason }
        if (item.approve) approvals.push({ request, approve: true, reason })
        // Declined: the model reads that it was, and the exchange stays in the history with the answer.
        const declined = `The user declined this call${reason ? `: ${reason}` : ''}.`
        const name = modelToolName(String(request.server_label), String(request.name))
        input.push({ item: response, messages: item.approve ? [] : callMessages(request.id, name, String(request.arguments ?? ''), declined) })
      } else input.push(normalizeItem(item, where))
    }
    if (input.length === 0 && history.length === 0 && !prompt?.messages.length) throw new ApiError('validation_failed', 'input is required', 'input')

    const tools = await resolveTools((body.tools ?? []) as Record<string, unknown>[], body.include ?? [], caller, { engine: this.deps.tools, mcp: this.deps.mcp }, signal)
    for (const a of approvals) {
      const callable = [...tools.byName.values()].find((c) => c.kind === 'mcp' && c.serverLabel === a.request.server_label && c.name === a.request.name)
      if (!callable) throw new ApiError('validation_failed', `The mcp tool for server "${String(a.request.server_label)}" must be given again to run an approved call`, 'tools')
    }
    const instructions = [prompt?.instructions, body.instructions].filter((s): s is string => Boolean(s)).join('\n\n') || null
    const preamble: ChatMessage[] = [...(instructions ? [{ role: 'system' as const, content: instructions }] : []), ...(prompt?.messages ?? [])]
    const id = newId('resp')
    const textFormat = body.text?.format
    responseFormat(textFormat)
    return {
      id,
      model,
      store,
      instructions,
      preamble,
      history,
      input,
      tools,
      approvals,
      body,
      record: {
        id,
        user_id: caller.userId,
        api_key_id: caller.apiKey?.id ?? null,
        model,
        previous_response_id: body.previous_response_id ?? null,
        conversation_id: conversationId,
        params: {
          temperature: body.temperature ?? null,
          top_p: body.top_p ?? null,
          max_output_tokens: body.max_output_tokens ?? null,
          max_tool_calls: body.max_tool_calls ?? null,
          tool_choice: body.tool_choice ?? 'auto',
          tools: tools.shown,
          parallel_tool_calls: body.parallel_tool_calls ?? true,
          text: { format: textFormat ?? { type: 'text' }, verbosity: body.text?.verbosity ?? 'medium' },
          prompt: prompt?.reference ?? null,
          truncation: body.truncation ?? 'disabled',
          store,
          user: body.user ?? null,
        },
        instructions: null,
        metadata: body.metadata ?? {},
        created_at: new Date(),
      },
    }
  }

  async #run(caller: Caller, p: Prepared, signal: AbortSignal, events: ResponseEvents): Promise<Record<string, unknown>> {
    const output: StoredItem[] = []
    const usage: Usage = { input: 0, output: 0 }
    // The context the model sees this time: the stored history, then what this response adds as it goes, and the
    // exchanges of calls that produce no item (a tool the model made up), which are not kept.
    const transcript: StoredItem[] = [...p.history, ...p.input]
    const snapshot = (status: string, extra: Partial<ResponseRecord> = {}) =>
      presentResponse({ ...p.record, status: status as ResponseRecord['status'], usage: null, error: null, incomplete_details: null, completed_at: null, ...extra }, p.instructions, events.output)
    let status: ResponseRecord['status'] = 'completed'
    let incomplete: { reason: string } | null = null
    let error: { code: string; message: string } | null = null
    let failure: unknown = null
    let builtinCalls = 0
    try {
      for (const a of p.approvals) {
        const stored = await this.#approved(caller, p, a, signal, events)
        output.push(stored)
        transcript.push(stored)
      }
      const format = responseFormat(p.body.text?.format)
      const maxOutput = p.body.max_output_tokens ?? null
      for (let call = 0; ; call++) {
        if (call >= MAX_MODEL_CALLS) {
          status = 'incomplete'
          incomplete = { reason: 'max_tool_calls' }
          break
        }
        const room = maxOutput === null ? null : maxOutput - usage.output
        if (room !== null && room < 1) {
          status = 'incomplete'
          incomplete = { reason: 'max_output_tokens' }
          break
        }
        const message = events.message(newId('msg'))
        const choice = call === 0 ? chatToolChoice(p.body.tool_choice, p.tools) : undefined
        const turn: ChatTurn = await chatTurn(
          this.deps.gateway,
          caller,
          {
            model: p.model,
            messages: chatMessages(transcript, p.preamble) as never,
            ...(p.tools.definitions.length ? { tools: p.tools.definitions } : {}),
            ...(choice !== undefined ? { tool_choice: choice as never } : {}),
            ...(p.tools.definitions.length && p.body.parallel_tool_calls === false ? { parallel_tool_calls: false } : {}),
            ...(format ? { response_format: format as never } : {}),
            ...(p.body.temperature != null ? { temperature: p.body.temperature } : {}),
            ...(p.body.top_p != null ? { top_p: p.body.top_p } : {}),
            ...(room !== null ? { max_tokens: room } : {}),
          },
          signal,
          {
            onOpen: () => {
              if (events.opened) return
              events.open(() => snapshot('in_progress'))
              for (const list of p.tools.lists) {
                const item: StoredItem = { item: { id: newId('mcpl'), type: 'mcp_list_tools', ...list }, messages: [] }
                events.listTools(item.item)
                output.push(item)
              }
            },
            onText: (delta) => message.delta(delta),
          },
        )
        usage.input += turn.promptTokens
        usage.output += turn.completionTokens
        const text = message.done()
        if (text) {
          const stored = { item: text, messages: [{ role: 'assistant' as const, content: turn.text }] }
          output.push(stored)
          transcript.push(stored)
        }
        if (turn.finishReason === 'length' || turn.finishReason === 'content_filter') {
          status = 'incomplete'
          incomplete = { reason: turn.finishReason === 'length' ? 'max_output_tokens' : 'content_filter' }
          break
        }
        if (turn.toolCalls.length === 0) break
        const stop = await this.#toolCalls(caller, p, turn.toolCalls, signal, events, output, transcript, () => ++builtinCalls)
        if (stop === 'limit') {
          status = 'incomplete'
          incomplete = { reason: 'max_tool_calls' }
          break
        }
        if (stop) break
      }
    } catch (err) {
      failure = err
      status = signal.aborted ? 'cancelled' : 'failed'
      error = err instanceof ApiError ? { code: err.code, message: err.message } : { code: 'server_error', message: 'The response failed; quote the request id when reporting it' }
      if (!(err instanceof ApiError) && !signal.aborted) this.deps.log.error({ err, response: p.id, request_id: caller.requestId }, 'response failed')
    }
    const record: ResponseRecord = {
      ...p.record,
      // A response that did not finish is kept for the record, but it does not continue its conversation.
      conversation_id: status === 'failed' || status === 'cancelled' ? null : p.record.conversation_id,
      status,
      usage: usageOf(usage),
      error,
      incomplete_details: incomplete,
      completed_at: status === 'completed' ? new Date() : null,
      instructions: this.deps.store.sealInstructions(p.id, p.instructions),
    }
    if (p.store && (events.opened || !failure)) {
      await this.deps.store.save(record, p.input, output).catch((err: unknown) => {
        if (err instanceof ApiError) throw err
        this.deps.log.error({ err, response: p.id }, 'response not stored')
        throw new ApiError('service_unavailable', 'The response could not be stored; it was not kept')
      })
    }
    // Until the first model call was accepted nothing was sent: the refusal is the HTTP answer.
    if (failure && !events.opened) throw failure
    const shown = presentResponse({ ...record, conversation_id: p.record.conversation_id }, p.instructions, events.output)
    events.finish(status === 'completed' ? 'response.completed' : status === 'incomplete' ? 'response.incomplete' : 'response.failed', shown)
    if (failure && !events.send) throw failure
    return shown
  }

  /**
   * The model's tool calls of one turn: the client's own become function_call items (and end the response), calls
   * that need approval become approval requests (and end it), the rest run here, in parallel. Returns whether the
   * response ends now ('limit': max_tool_calls reached).
   */
  async #toolCalls(
    caller: Caller,
    p: Prepared,
    calls: ChatTurn['toolCalls'],
    signal: AbortSignal,
    events: ResponseEvents,
    output: StoredItem[],
    transcript: StoredItem[],
    count: () => number,
  ): Promise<boolean | 'limit'> {
    let ends = false
    const runs: Promise<StoredItem | null>[] = []
    for (const c of calls) {
      const callable = p.tools.byName.get(c.name)
      if (callable?.kind === 'function') {
        const item = { id: newId('fc'), type: 'function_call', call_id: c.id, name: c.name, arguments: c.arguments, status: 'completed' }
        events.functionCall(item)
        const stored = { item, messages: [{ role: 'assistant' as const, content: null, tool_calls: [{ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } }] }] }
        output.push(stored)
        transcript.push(stored)
        ends = true
        continue
      }
      if (callable?.kind === 'mcp' && callable.approval) {
        const item = { id: newId('mcpr'), type: 'mcp_approval_request', server_label: callable.serverLabel, name: callable.name, arguments: c.arguments }
        events.whole(item)
        output.push({ item, messages: [] })
        ends = true
        continue
      }
      const limit = p.body.max_tool_calls
      if (limit != null && count() > limit) return 'limit'
      runs.push(this.#builtin(caller, p, c, callable ?? null, signal, events))
    }
    for (const stored of await Promise.all(runs)) {
      if (!stored) continue
      transcript.push(stored)
      if (stored.item.type !== 'unknown_tool') output.push(stored)
    }
    return ends
  }

  /** One call of a tool Enclava runs, through the tools engine (checked, time-bounded, capped, audited). */
  async #builtin(caller: Caller, p: Prepared, c: ChatTurn['toolCalls'][number], callable: Callable | null, signal: AbortSignal, events: ResponseEvents): Promise<StoredItem> {
    const run = () => this.deps.tools.call(p.tools.builtins, c.name, c.arguments, { caller, signal }).then((r) => r.result)
    if (!callable || callable.kind === 'function') {
      // A tool the model made up: it reads that it does not exist; the exchange is context, not an item.
      const result = await run()
      return { item: { id: newId('x'), type: 'unknown_tool' }, messages: callMessages(c.id, c.name, c.arguments, result.content) }
    }
    const args = argsOf(c.arguments)
    if (callable.kind === 'file_search') {
      const started = { id: newId('fs'), type: 'file_search_call', status: 'in_progress', queries: [String(args.query ?? '')], results: null }
      const finish = events.toolCall('file_search_call', started)
      const result = await run()
      const results = callable.includeResults ? (result.sources ?? []).map((s) => ({ file_id: s.document_id ?? null, filename: s.title, attributes: { collection_id: s.collection_id ?? null }, score: null, text: null })) : null
      const item = { ...started, status: result.isError ? 'failed' : 'completed', results }
      finish(item)
      return { item, messages: callMessages(c.id, c.name, c.arguments, result.content.slice(0, STORED_RESULT_CHARS)) }
    }
    if (callable.kind === 'code_interpreter') {
      const started = { id: newId('ci'), type: 'code_interpreter_call', status: 'in_progress', code: String(args.code ?? ''), container_id: callable.containerId, outputs: null }
      const finish = events.toolCall('code_interpreter_call', started)
      const result = await run()
      const item = { ...started, status: result.isError ? 'failed' : 'completed', outputs: [{ type: 'logs', logs: result.content }] }
      finish(item)
      return { item, messages: callMessages(c.id, c.name, c.arguments, result.content.slice(0, STORED_RESULT_CHARS)) }
    }
    const started = { id: newId('mcp'), type: 'mcp_call', server_label: callable.serverLabel, name: callable.name, arguments: c.arguments, status: 'in_progress' }
    const finish = events.toolCall('mcp_call', started)
    const result = await run()
    const item = { ...started, status: result.isError ? 'failed' : 'completed', output: result.isError ? null : result.content, error: result.isError ? result.content : null, approval_request_id: null }
    finish(item)
    return { item, messages: callMessages(c.id, c.name, c.arguments, result.content.slice(0, STORED_RESULT_CHARS)) }
  }

  /** A call approved in the previous response, run now: an mcp_call item answering the approval request. */
  async #approved(caller: Caller, p: Prepared, a: Prepared['approvals'][number], signal: AbortSignal, events: ResponseEvents): Promise<StoredItem> {
    const modelName = modelToolName(String(a.request.server_label), String(a.request.name))
    const args = String(a.request.arguments ?? '')
    const callId = a.request.id
    const started = { id: newId('mcp'), type: 'mcp_call', server_label: a.request.server_label, name: a.request.name, arguments: args, status: 'in_progress' }
    const finish = events.toolCall('mcp_call', started)
    const { result } = await this.deps.tools.call(p.tools.builtins, modelName, args, { caller, signal })
    const item = { ...started, status: result.isError ? 'failed' : 'completed', output: result.isError ? null : result.content, error: result.isError ? result.content : null, approval_request_id: callId }
    finish(item)
    return { item, messages: callMessages(callId, modelName, args, result.content.slice(0, STORED_RESULT_CHARS)) }
  }
}
