import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { Logger } from '../log.ts'
import type { SecurityService } from '../security/service.ts'
import { costMicros } from '../gateway/pricing.ts'
import type { Caller, GatewayService } from '../gateway/service.ts'
import { estimateChatPromptTokens } from '../gateway/tokens.ts'
import { chatTurn, type ChatTurn } from '../gateway/chat-turn.ts'
import { ToolEngine } from '../tools/engine.ts'
import type { Tool } from '../tools/types.ts'
import type { RunStatus, Step } from './model.ts'
import type { AgentRow, RunRow } from './service.ts'

/** What a run reports while it goes (server-sent events, or nothing). */
export type RunEvent =
  | { event: 'step'; data: { index: number } }
  | { event: 'tool_call'; data: { id: string; name: string; arguments: string } }
  | { event: 'tool_result'; data: { id: string; name: string; content: string; is_error: boolean } }
  | { event: 'delta'; data: { content: string } }
  | { event: 'done'; data: { run: RunRow } }

/** A chat message as the loop keeps them (history passed in uses the same shape). */
export interface AgentMessage {
  role: 'system' | 'user' | 'assistant' | 'tool'
  content: string | null
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[]
  tool_call_id?: string
}

/** A model call with less room than this under max_cost is not made: the run stops at its cost limit. */
const MIN_ROOM_TOKENS = 16
/** The text of a tool result kept in the stored step (the model got up to the engine's cap). */
const STORED_RESULT_CHARS = 4_000

/**
 * The agent loop: the model is called (through the gateway: the caller's budgets, rate limits and usage apply to
 * every step), its tool calls run server-side (in parallel, each through the tools engine: the caller's grants,
 * audited, a failure goes back to the model as a tool result), results go back to the model, until it answers, or
 * `max_steps`, or `max_cost_usd`, or a budget says no. Every run is stored with its steps and the reason it stopped.
 */
export class AgentRunner {
  constructor(
    readonly deps: {
      sql: Sql
      gateway: GatewayService
      tools: ToolEngine
      log: Logger
      /** Scores each run's input for prompt injection; a flagged one becomes a security event (the run goes on). */
      security?: Pick<SecurityService, 'scoreInjection' | 'userMessageFlagged'>
    },
  ) {}

  async run(
    agent: AgentRow,
    input: string,
    caller: Caller,
    opts: { conversationId?: string | undefined; history?: AgentMessage[]; signal: AbortSignal; emit?: (e: RunEvent) => void },
  ): Promise<RunRow> {
    const emit = opts.emit ?? (() => {})
    // Every model call of the run (and its tools' embeddings) is held to the agent's demand, as to the caller's own.
    if (agent.confidential_only) caller.confidentialOnly ??= `the agent "${agent.name}"`
    const model = await this.deps.gateway.model(caller, agent.model)
    const tools = await this.deps.tools.resolve(agent.tools, caller)
    const history = opts.history ?? (opts.conversationId ? await this.#history(agent, caller, opts.conversationId) : [])
    const runId = crypto.randomUUID()
    const verdict = await this.deps.security?.scoreInjection(input)
    if (verdict?.flagged)
      this.deps.security!.userMessageFlagged(verdict, { userId: caller.userId, apiKeyId: caller.apiKey?.id ?? null, resource: { type: 'agent', id: agent.id } }, caller.requestId)
    const conversationId = opts.conversationId ?? runId
    await this.deps.sql`
      INSERT INTO agent_runs (id, agent_id, conversation_id, user_id, api_key_id, source, status, input)
      VALUES (${runId}, ${agent.id}, ${conversationId}, ${caller.userId}, ${caller.apiKey?.id ?? null}, ${caller.source}, 'running', ${input})`
    const messages: AgentMessage[] = [...(agent.instructions ? [{ role: 'system' as const, content: agent.instructions }] : []), ...history, { role: 'user', content: input }]
    const steps: Step[] = []
    const usage = { prompt: 0, completion: 0, cost: 0 }
    const maxCost = agent.max_cost_micros === null ? null : Number(agent.max_cost_micros)
    let status: RunStatus = 'max_steps'
    let output: string | null = null
    let error: string | null = null
    try {
      for (let index = 0; index < agent.max_steps; index++) {
        // Room left under max_cost decides how much this call may generate; too little, and the run stops here.
        let maxTokens: number | undefined
        if (maxCost !== null) {
          const promptCost = costMicros(model.prices, estimateChatPromptTokens(messages as never, tools.length ? ToolEngine.definitions(tools) : undefined), 0)
          const perToken = model.prices.output / 1e6
          const room = perToken > 0 ? Math.floor((maxCost - usage.cost - promptCost) / perToken) : model.maxOutputTokens
          if (room < MIN_ROOM_TOKENS) {
            status = 'max_cost'
            break
          }
          maxTokens = Math.min(room, model.maxOutputTokens)
        }
        emit({ event: 'step', data: { index } })
        const turn = await this.#callModel(agent, messages, tools, caller, opts.signal, maxTokens, emit)
        const cost = costMicros(model.prices, turn.promptTokens, turn.completionTokens)
        usage.prompt += turn.promptTokens
        usage.completion += turn.completionTokens
        usage.cost += cost
        steps.push({ type: 'model', index, finish_reason: turn.finishReason, prompt_tokens: turn.promptTokens, completion_tokens: turn.completionTokens, cost_micros: cost })
        if (turn.toolCalls.length === 0) {
          status = 'completed'
          output = turn.text
          break
        }
        messages.push({
          role: 'assistant',
          content: turn.text || null,
          tool_calls: turn.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
        })
        for (const c of turn.toolCalls) emit({ event: 'tool_call', data: c })
        const results = await Promise.all(turn.toolCalls.map((c) => this.deps.tools.call(tools, c.name, c.arguments, { caller, signal: opts.signal })))
        turn.toolCalls.forEach((c, i) => {
          const { result, record } = results[i]!
          messages.push({ role: 'tool', tool_call_id: c.id, content: result.content })
          emit({ event: 'tool_result', data: { id: c.id, name: c.name, content: result.content, is_error: result.isError === true } })
          steps.push({
            type: 'tool_call',
            index,
            id: c.id,
            name: c.name,
            arguments: c.arguments.slice(0, STORED_RESULT_CHARS),
            result: result.content.slice(0, STORED_RESULT_CHARS),
            is_error: result.isError === true,
            duration_ms: record.durationMs,
          })
        })
        if (maxCost !== null && usage.cost >= maxCost) {
          status = 'max_cost'
          break
        }
      }
    } catch (err) {
      if (opts.signal.aborted) status = 'cancelled'
      else if (err instanceof ApiError && err.code === 'budget_exceeded') status = 'budget_exceeded'
      else status = 'error'
      error = err instanceof ApiError ? err.message : 'The run failed'
      if (!(err instanceof ApiError) && !opts.signal.aborted) this.deps.log.error({ err, run: runId }, 'agent run failed')
    }
    const [row] = await this.deps.sql<RunRow[]>`
      UPDATE agent_runs SET status = ${status}, output = ${output}, steps = ${this.deps.sql.json(steps as never)},
        prompt_tokens = ${usage.prompt}, completion_tokens = ${usage.completion}, cost_micros = ${usage.cost}, error = ${error},
        finished_at = now()
      WHERE id = ${runId} RETURNING *`
    emit({ event: 'done', data: { run: row! } })
    return row!
  }

  /** The earlier turns of a conversation of this agent and caller, as messages; an unknown one is a 404. */
  async #history(agent: AgentRow, caller: Caller, conversationId: string): Promise<AgentMessage[]> {
    const rows = await this.deps.sql<{ input: string; output: string | null }[]>`
      SELECT input, output FROM agent_runs
      WHERE agent_id = ${agent.id} AND user_id = ${caller.userId} AND (conversation_id = ${conversationId} OR id = ${conversationId})
      ORDER BY created_at`
    if (rows.length === 0) throw new ApiError('not_found', `Conversation ${conversationId} not found for this agent`, 'conversation_id')
    return rows.flatMap((r) => [
      { role: 'user' as const, content: r.input },
      ...(r.output === null ? [] : [{ role: 'assistant' as const, content: r.output }]),
    ])
  }

  /** One model call through the gateway, its text passed on as it comes. */
  async #callModel(
    agent: AgentRow,
    messages: AgentMessage[],
    tools: Tool[],
    caller: Caller,
    signal: AbortSignal,
    maxTokens: number | undefined,
    emit: (e: RunEvent) => void,
  ): Promise<ChatTurn> {
    const body = {
      model: agent.model,
      messages: messages as never,
      ...(tools.length ? { tools: ToolEngine.definitions(tools) } : {}),
      ...(agent.temperature !== null ? { temperature: agent.temperature } : {}),
      ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
    }
    return chatTurn(this.deps.gateway, caller, body, signal, { onText: (content) => emit({ event: 'delta', data: { content } }) })
  }
}
