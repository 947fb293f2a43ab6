import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import { countTokens } from '../gateway/tokens.ts'
import type { Caller, GatewayService } from '../gateway/service.ts'
import type { CollectionRow } from '../rag/collections.ts'
import type { SearchService } from '../rag/search.ts'
import { assertNoNul, storable } from '../http/text.ts'
import type { ChatbotSchema, ChatInput, ChatResponse, CreateChatbotInput, Source, UpdateChatbotInput } from './model.ts'
import { invalidVariableName, renderPrompt, VARIABLE_RULE, type TemplateService } from './templates.ts'
import type { ChatbotType } from './model.ts'
import { TurnQueue } from './turns.ts'
import type { InjectionVerdict } from '../security/injection.ts'
import { chatTurn } from '../gateway/chat-turn.ts'
import { ToolEngine } from '../tools/engine.ts'
import type { ToolSpec } from '../tools/types.ts'
import type { PromptService } from '../responses/prompts.ts'

/** What chatbots ask of security: users' messages scored for prompt injection, and flagged ones recorded. */
export interface ChatbotSecurity {
  scoreInjection(text: string): Promise<InjectionVerdict>
  userMessageFlagged(verdict: InjectionVerdict, who: { userId: string | null; apiKeyId: string | null; resource: { type: string; id: string } }, requestId: string): void
}

export interface ChatbotRow {
  id: string
  owner_id: string
  name: string
  type: ChatbotType
  model: string
  system_prompt: string
  prompt_variables: Record<string, string>
  temperature: number
  max_tokens: number
  context_window: number
  memory_length: number
  rag_collections: string[]
  rag_top_k: number
  rag_score_threshold: number | null
  rag_mode: 'lexical' | 'vector' | 'hybrid' | null
  fallback_response: string | null
  must_cite: boolean
  /** Only confidential (TEE) models may answer this chatbot's turns, embeddings of its searches included. */
  confidential_only: boolean
  /** Chunks flagged as prompt injection at ingestion are kept out of the model's context. */
  exclude_flagged_context: boolean
  is_active: boolean
  /** Agent mode's tools (none: one model call per answer). */
  tools: ToolSpec[]
  max_tool_steps: number
  prompt_id: string | null
  created_at: Date
  updated_at: Date
}

export const presentChatbot = (c: ChatbotRow) => ({
  ...c,
  tools: c.tools as (typeof ChatbotSchema.static)['tools'],
  created_at: c.created_at.toISOString(),
  updated_at: c.updated_at.toISOString(),
})

/** Who owns or may reach chatbots: admins (chatbots:admin) all, everyone else their own. */
export interface ChatbotActor {
  userId: string
  isAdmin: boolean
  allowedChatbots?: readonly string[]
}

/** Who is talking, for the conversation's ownership. */
export interface Speaker {
  userId: string | null
  apiKeyId: string | null
  source: 'internal' | 'api' | 'plugin'
}

export interface ChatMessage {
  role: string
  content: string
}

interface Turn {
  /** Lets the conversation's next turn start; called once this turn ended, however it ended. */
  release(): void
  bot: ChatbotRow
  conversationId: string
  message: string
  sources: Source[]
  /** What goes upstream; null when the fallback answers instead. */
  messages: ChatMessage[] | null
  started: number
  /** Who served the answer (from the gateway's headers); null for the fallback answer. */
  served: { provider: string; confidential: boolean } | null
}

/** Tokens of the chat template around each message (role markers), as the gateway estimates them. */
const PER_MESSAGE_TOKENS = 4
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** `storable` through a JSON value's strings and keys (sources a model or a document sent). */
function storableDeep<T>(value: T): T {
  if (typeof value === 'string') return storable(value) as T
  if (Array.isArray(value)) return value.map(storableDeep) as T
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storableDeep(v)])) as T
  return value
}

/** Which provider served a gateway answer, and whether in a TEE, as its headers say. */
const servedBy = (res: Response) => ({
  provider: res.headers.get('x-enclava-provider') ?? 'unknown',
  confidential: res.headers.get('x-enclava-confidential') === 'true',
})

function checkVariables(variables: Record<string, string> | undefined): void {
  const name = variables && invalidVariableName(variables)
  if (name !== undefined) throw new ApiError('validation_failed', `Invalid body: 'prompt_variables.${name}' is not a variable name: ${VARIABLE_RULE}`, `prompt_variables.${name}`)
}

/**
 * Chatbots and their conversations. A chat turn: retrieve from the chatbot's collections, answer with the fallback
 * when nothing relevant is found, otherwise send the system prompt, the retrieved context and as much recent history
 * as fits the context window (by real token counts; the new message is never cut) through the gateway, and keep both
 * messages with their sources.
 */
export class ChatbotService {
  readonly #turns = new TurnQueue()

  constructor(
    readonly sql: Sql,
    readonly gateway: GatewayService,
    readonly search: SearchService,
    readonly templates: TemplateService,
    readonly security: ChatbotSecurity | null = null,
    /** Agent mode's tools; without an engine, a chatbot with tools is refused. */
    readonly tools: ToolEngine | null = null,
    /** Prompt templates a chatbot may take its instructions from. */
    readonly prompts: PromptService | null = null,
  ) {}

  /** A template named by a chatbot must be its owner's and render with the chatbot's variables, when it is saved. */
  async #checkPrompt(ownerId: string, promptId: string | null | undefined, variables: Record<string, string>): Promise<void> {
    if (!promptId) return
    if (!this.prompts) throw new ApiError('validation_failed', 'Prompt templates are not available on this platform', 'prompt_id')
    await this.#render(ownerId, promptId, variables)
  }

  async #render(ownerId: string, promptId: string, variables: Record<string, string>) {
    try {
      return await this.prompts!.render(ownerId, { id: promptId, variables })
    } catch (err) {
      // The template's own message names the variable; here it is the chatbot's field that must change.
      if (err instanceof ApiError && err.param?.startsWith('prompt.variables')) throw new ApiError(err.code, err.message, err.param.replace('prompt.variables', 'prompt_variables'))
      if (err instanceof ApiError && err.param === 'prompt.id') throw new ApiError(err.code, err.message, 'prompt_id')
      throw err
    }
  }

  /** A chatbot's tools must be usable by its owner when it is saved, not fail its first visitor. */
  async #checkTools(ownerId: string, specs: readonly ToolSpec[] | undefined, name: string, confidentialOnly: boolean): Promise<void> {
    if (!specs?.length) return
    if (!this.tools) throw new ApiError('validation_failed', 'Tools are not available on this platform', 'tools')
    const who: Caller = { source: 'chatbot', userId: ownerId, apiKey: null, requestId: `chatbot-check:${crypto.randomUUID()}`, startedAt: performance.now() }
    if (confidentialOnly) who.confidentialOnly = `the chatbot "${name}"`
    await this.tools.resolve(specs, who)
  }

  #visible(actor: ChatbotActor) {
    const sql = this.sql
    const owner = actor.isAdmin ? sql`TRUE` : sql`owner_id = ${actor.userId}`
    const restricted = actor.allowedChatbots?.length ? sql`id = ANY(${actor.allowedChatbots}::uuid[])` : sql`TRUE`
    return sql`${owner} AND ${restricted}`
  }

  async list(actor: ChatbotActor): Promise<ChatbotRow[]> {
    return [...(await this.sql<ChatbotRow[]>`SELECT * FROM chatbots WHERE ${this.#visible(actor)} ORDER BY created_at DESC`)]
  }

  /** Another user's chatbot is reported as missing, so ids cannot be probed. */
  async get(actor: ChatbotActor, id: string): Promise<ChatbotRow> {
    const [row] = await this.sql<ChatbotRow[]>`SELECT * FROM chatbots WHERE id = ${id} AND ${this.#visible(actor)}`
    if (!row) throw new ApiError('not_found', `Chatbot ${id} not found`)
    return row
  }

  async #checkCollections(actor: ChatbotActor, ids: readonly string[] | undefined): Promise<void> {
    if (!ids?.length) return
    const rows = await this.sql<{ id: string }[]>`
      SELECT id FROM rag_collections WHERE id = ANY(${ids}::uuid[]) AND (${actor.isAdmin} OR owner_id = ${actor.userId})`
    const missing = ids.filter((id) => !rows.some((r) => r.id === id))
    if (missing.length) throw new ApiError('not_found', `Collection ${missing[0]} not found`, 'rag_collections')
  }

  async create(actor: ChatbotActor, input: CreateChatbotInput): Promise<ChatbotRow> {
    checkVariables(input.prompt_variables)
    await this.#checkCollections(actor, input.rag_collections)
    await this.#checkTools(actor.userId, input.tools, input.name, input.confidential_only ?? false)
    await this.#checkPrompt(actor.userId, input.prompt_id, input.prompt_variables ?? {})
    const type = input.type ?? 'assistant'
    const [row] = await this.sql<ChatbotRow[]>`
      INSERT INTO chatbots ${this.sql({
        owner_id: actor.userId,
        ...input,
        type,
        system_prompt: input.system_prompt ?? (await this.templates.defaultFor(type)),
        prompt_variables: this.sql.json(input.prompt_variables ?? {}),
        tools: this.sql.json((input.tools ?? []) as never),
      } as never)}
      RETURNING *`
    return row!
  }

  async update(actor: ChatbotActor, id: string, patch: UpdateChatbotInput): Promise<ChatbotRow> {
    checkVariables(patch.prompt_variables)
    const current = await this.get(actor, id)
    await this.#checkCollections(actor, patch.rag_collections)
    await this.#checkTools(current.owner_id, patch.tools, patch.name ?? current.name, patch.confidential_only ?? current.confidential_only)
    if (patch.prompt_id !== undefined || (patch.prompt_variables && current.prompt_id))
      await this.#checkPrompt(current.owner_id, patch.prompt_id === undefined ? current.prompt_id : patch.prompt_id, patch.prompt_variables ?? current.prompt_variables)
    const fields: Record<string, unknown> = { ...patch }
    if (patch.prompt_variables) fields.prompt_variables = this.sql.json(patch.prompt_variables)
    if (patch.tools) fields.tools = this.sql.json(patch.tools as never)
    const [row] = await this.sql<ChatbotRow[]>`UPDATE chatbots SET ${this.sql(fields)}, updated_at = now() WHERE id = ${id} RETURNING *`
    return row!
  }

  async delete(actor: ChatbotActor, id: string): Promise<void> {
    await this.get(actor, id)
    await this.sql`DELETE FROM chatbots WHERE id = ${id}`
  }

  /**
   * The conversation, if this speaker may continue it (its own, on this chatbot); otherwise a 404. A new one is
   * created when no id is given.
   */
  async #conversation(bot: ChatbotRow, id: string | undefined, speaker: Speaker, firstMessage: string): Promise<string> {
    if (id) {
      const [conv] = await this.sql<{ id: string }[]>`
        SELECT id FROM chatbot_conversations
        WHERE id = ${id} AND chatbot_id = ${bot.id} AND user_id IS NOT DISTINCT FROM ${speaker.userId}
          AND api_key_id IS NOT DISTINCT FROM ${speaker.apiKeyId}`
      if (!conv) throw new ApiError('not_found', `Conversation ${id} not found`, 'conversation_id')
      return conv.id
    }
    const [conv] = await this.sql<{ id: string }[]>`
      INSERT INTO chatbot_conversations (chatbot_id, user_id, api_key_id, source, title)
      VALUES (${bot.id}, ${speaker.userId}, ${speaker.apiKeyId}, ${speaker.source}, ${firstMessage.slice(0, 80)})
      RETURNING id`
    return conv!.id
  }

  /**
   * The chatbot's context for a message. With exclude_flagged_context, chunks flagged as prompt injection are left
   * out (they are instructions aimed at the model), and the rest of the results keep their order.
   */
  async #retrieve(bot: ChatbotRow, query: string, caller: Caller): Promise<(Source & { text: string })[]> {
    if (bot.rag_collections.length === 0) return []
    const collections = await this.sql<CollectionRow[]>`SELECT * FROM rag_collections WHERE id = ANY(${bot.rag_collections}::uuid[])`
    const hits = (
      await Promise.all(
        collections.map((c) =>
          this.search.searchCollection(
            c,
            {
              query,
              top_k: bot.rag_top_k,
              ...(bot.rag_mode && (bot.rag_mode === 'lexical' || c.embedding_model) ? { mode: bot.rag_mode } : {}),
              ...(bot.rag_score_threshold !== null ? { score_threshold: bot.rag_score_threshold } : {}),
            },
            caller,
          ),
        ),
      )
    ).flatMap((r) => r.results)
    return hits
      .filter((r) => !(bot.exclude_flagged_context && r.injection?.flagged))
      .sort((a, b) => b.score - a.score)
      .slice(0, bot.rag_top_k)
      .map((r, i) => ({
        index: i + 1,
        document_id: r.document_id,
        document_name: r.document_name,
        collection_id: r.collection_id,
        chunk_id: r.chunk_id,
        score: r.score,
        snippet: r.snippet,
        metadata: r.metadata,
        text: r.text,
      }))
  }

  /**
   * What a turn is given, checked before anything is stored or charged: every caller (routes, plugins) gets the
   * same 400s. PostgreSQL cannot store U+0000 and casts the conversation id to uuid.
   */
  #checkInput(input: ChatInput, history: ChatMessage[] | undefined): void {
    if (input.conversation_id !== undefined && !UUID.test(input.conversation_id))
      throw new ApiError('validation_failed', "Invalid body: 'conversation_id' must be a conversation id (a UUID)", 'conversation_id')
    assertNoNul(input.message, 'body', 'message')
    // The history is the request's messages minus those of other roles: its indexes are not the request's.
    for (const m of history ?? []) assertNoNul(m.content, 'body', 'messages')
  }

  /**
   * Everything before the model is asked: the conversation (its turn: see TurnQueue), retrieval, the fallback
   * decision, and the messages to send. `history` (OpenAI-style calls, which carry their own) replaces the stored
   * conversation's history. The caller must `release()` the returned turn.
   */
  async #prepare(bot: ChatbotRow, input: ChatInput, caller: Caller, speaker: Speaker, signal: AbortSignal, history?: ChatMessage[]): Promise<Turn> {
    // Usage is attributed to the chatbot through its request ids.
    caller.requestId = `chatbot:${bot.id}:${caller.requestId}`
    // The gateway holds every call of this turn (the search's embeddings too) to the chatbot's demand.
    if (bot.confidential_only) caller.confidentialOnly ??= `the chatbot "${bot.name}"`
    this.#checkInput(input, history)
    if (!bot.is_active) throw new ApiError('invalid_request', `The chatbot "${bot.name}" is not active`)
    const verdict = await this.security?.scoreInjection(input.message)
    if (verdict?.flagged)
      this.security?.userMessageFlagged(verdict, { userId: speaker.userId, apiKeyId: speaker.apiKeyId, resource: { type: 'chatbot', id: bot.id } }, caller.requestId)
    const started = performance.now()
    // Checked before waiting, so that nobody queues behind a conversation that is not theirs, and again once it is
    // this turn's go (the conversation may have been deleted meanwhile).
    if (input.conversation_id) await this.#conversation(bot, input.conversation_id, speaker, input.message)
    const release = input.conversation_id ? await this.#turns.acquire(input.conversation_id, signal) : () => {}
    try {
      const conversationId = await this.#conversation(bot, input.conversation_id, speaker, input.message)
      const retrieved = await this.#retrieve(bot, input.message, caller)
      const sources: Source[] = retrieved.map(({ text: _text, ...s }) => s)
      const turn: Turn = { release, bot, conversationId, message: input.message, sources, messages: null, started, served: null }
      if (bot.rag_collections.length > 0 && retrieved.length === 0 && bot.fallback_response) return turn
      const template = bot.prompt_id ? await this.#render(bot.owner_id, bot.prompt_id, bot.prompt_variables) : null
      let system = template ? template.instructions : renderPrompt(bot.system_prompt, bot.prompt_variables)
      if (retrieved.length > 0) {
        system +=
          '\n\nAnswer using the numbered context below. If it does not contain the answer, say so.' +
          (bot.must_cite ? ' Cite the context you use with its number in square brackets, e.g. [1].' : '') +
          '\n\nContext:\n' +
          retrieved.map((r) => `[${r.index}] (${r.document_name}) ${r.text}`).join('\n\n')
      }
      turn.messages = await this.#fit(conversationId, bot, system, input.message, history, (template?.messages ?? []) as ChatMessage[])
      return turn
    } catch (err) {
      release()
      throw err
    }
  }

  /**
   * Keeps both messages of the turn and shapes the answer. The conversation row is locked while they are appended,
   * so turns answered at once on several replicas keep their two messages together; a conversation deleted while
   * the model answered is a 409 (the model's usage has been charged by then, as for any answered request).
   */
  async #finish(turn: Turn, modelAnswer: string, usage: { prompt_tokens: number; completion_tokens: number } | null): Promise<ChatResponse> {
    const fallback = turn.messages === null
    const answer = storable(modelAnswer)
    const sources = storableDeep(turn.sources)
    await this.sql.begin(async (tx) => {
      const [conv] = await tx`SELECT id FROM chatbot_conversations WHERE id = ${turn.conversationId} FOR UPDATE`
      if (!conv)
        throw new ApiError(
          'conflict',
          `Conversation ${turn.conversationId} was deleted while its answer was being written; the answer was not kept`,
          'conversation_id',
        )
      await tx`INSERT INTO chatbot_messages (conversation_id, role, content) VALUES (${turn.conversationId}, 'user', ${turn.message})`
      await tx`
        INSERT INTO chatbot_messages (conversation_id, role, content, sources, prompt_tokens, completion_tokens, model, latency_ms)
        VALUES (${turn.conversationId}, 'assistant', ${answer}, ${tx.json(sources as never)}, ${usage?.prompt_tokens ?? null},
          ${usage?.completion_tokens ?? null}, ${fallback ? null : turn.bot.model}, ${Math.round(performance.now() - turn.started)})`
      await tx`UPDATE chatbot_conversations SET updated_at = now() WHERE id = ${turn.conversationId}`
    })
    const cited = [...new Set([...answer.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1])))]
    return {
      response: answer,
      conversation_id: turn.conversationId,
      sources: turn.sources,
      citations: turn.bot.must_cite ? cited.flatMap((n) => turn.sources.filter((src) => src.index === n)) : [],
      fallback,
      usage,
      served: turn.served,
    }
  }

  #request(turn: Turn, stream: boolean) {
    const { bot } = turn
    return { model: bot.model, messages: turn.messages, temperature: bot.temperature, max_tokens: bot.max_tokens, stream } as never
  }

  /** One turn of a conversation. */
  async chat(bot: ChatbotRow, input: ChatInput, caller: Caller, speaker: Speaker, signal: AbortSignal, history?: ChatMessage[]): Promise<ChatResponse> {
    const turn = await this.#prepare(bot, input, caller, speaker, signal, history)
    try {
      if (turn.messages === null) return await this.#finish(turn, bot.fallback_response!, null)
      if (bot.tools.length) {
        const { answer, usage } = await this.#answer(turn, caller, signal, { onStart: () => {}, onDelta: () => {} })
        return await this.#finish(turn, answer, usage)
      }
      const res = await this.gateway.chat(caller, this.#request(turn, false), signal)
      turn.served = servedBy(res)
      const body = (await res.json()) as { choices?: { message?: { content?: string | null } }[]; usage?: { prompt_tokens: number; completion_tokens: number } }
      const usage = body.usage ? { prompt_tokens: body.usage.prompt_tokens, completion_tokens: body.usage.completion_tokens } : null
      return await this.#finish(turn, body.choices?.[0]?.message?.content ?? '', usage)
    } finally {
      turn.release()
    }
  }

  /**
   * One turn, streamed: `onStart` once the model accepted the request (everything that can refuse the turn, the
   * gateway's limits and budgets included, has by then, so a refusal can still be an HTTP status), `onDelta` with
   * the answer as the model produces it; resolves with the whole turn once the stream ended (and was saved). The
   * fallback arrives as a single delta.
   */
  async chatStream(
    bot: ChatbotRow,
    input: ChatInput,
    caller: Caller,
    speaker: Speaker,
    signal: AbortSignal,
    handlers: { onStart(turn: { conversationId: string; sources: Source[] }): void; onDelta(text: string): void },
    history?: ChatMessage[],
  ): Promise<ChatResponse> {
    const turn = await this.#prepare(bot, input, caller, speaker, signal, history)
    try {
      if (turn.messages === null) {
        handlers.onStart({ conversationId: turn.conversationId, sources: turn.sources })
        handlers.onDelta(bot.fallback_response!)
        return await this.#finish(turn, bot.fallback_response!, null)
      }
      const { answer, usage } = await this.#answer(turn, caller, signal, handlers)
      return await this.#finish(turn, answer, usage)
    } finally {
      turn.release()
    }
  }

  /**
   * The model's answer, streamed through the gateway: one call, or in agent mode a loop in which the model's tool
   * calls run under the chatbot owner's grants (through the tools engine: checked, bounded, audited; a failure is a
   * result the model reads) until it answers or `max_tool_steps` calls were made (the last one is offered no tools,
   * so it answers). `onStart` once the first call was accepted; `onDelta` with every piece of text the user sees.
   */
  async #answer(
    turn: Turn,
    caller: Caller,
    signal: AbortSignal,
    handlers: { onStart(turn: { conversationId: string; sources: Source[] }): void; onDelta(text: string): void },
  ): Promise<{ answer: string; usage: ChatResponse['usage'] }> {
    const { bot } = turn
    const tools = bot.tools.length ? await this.tools!.resolve(bot.tools, caller) : []
    const messages: object[] = [...turn.messages!]
    const usage = { prompt_tokens: 0, completion_tokens: 0 }
    let answer = ''
    const steps = tools.length ? bot.max_tool_steps : 1
    for (let step = 0; step < steps; step++) {
      const offered = tools.length && step < steps - 1
      const t = await chatTurn(
        this.gateway,
        caller,
        {
          model: bot.model,
          messages: messages as never,
          temperature: bot.temperature,
          max_tokens: bot.max_tokens,
          ...(offered ? { tools: ToolEngine.definitions(tools) } : {}),
        },
        signal,
        {
          onOpen: (res) => {
            if (turn.served) return
            turn.served = servedBy(res)
            handlers.onStart({ conversationId: turn.conversationId, sources: turn.sources })
          },
          onText: (piece) => {
            // Text before a tool call and the answer after it are one reply to the user, as it was streamed.
            answer += piece
            handlers.onDelta(piece)
          },
        },
      )
      usage.prompt_tokens += t.promptTokens
      usage.completion_tokens += t.completionTokens
      if (!offered || t.toolCalls.length === 0) break
      messages.push({ role: 'assistant', content: t.text || null, tool_calls: t.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) })
      const results = await Promise.all(t.toolCalls.map((c) => this.tools!.call(tools, c.name, c.arguments, { caller, signal })))
      t.toolCalls.forEach((c, i) => messages.push({ role: 'tool', tool_call_id: c.id, content: results[i]!.result.content }))
    }
    return { answer, usage: usage.prompt_tokens || usage.completion_tokens ? usage : null }
  }

  /**
   * System prompt + as many of the last `memory_length` messages as fit + the new message, within the context
   * window minus the answer's max_tokens. History goes oldest first; the new message is never shortened: if it does
   * not fit with the system prompt alone, the request is refused.
   */
  async #fit(conversationId: string, bot: ChatbotRow, system: string, message: string, given?: ChatMessage[], preamble: ChatMessage[] = []): Promise<ChatMessage[]> {
    const budget = bot.context_window - bot.max_tokens
    const fixed =
      countTokens(system) + countTokens(message) + 2 * PER_MESSAGE_TOKENS + 3 + preamble.reduce((n, m) => n + countTokens(m.content) + PER_MESSAGE_TOKENS, 0)
    if (fixed > budget)
      throw new ApiError(
        'invalid_request',
        `The message and the chatbot's instructions need ${fixed} tokens; the context window leaves ${budget} after the answer's ${bot.max_tokens}`,
        'message',
      )
    const history = given
      ? given.slice(-bot.memory_length || given.length)
      : bot.memory_length
        ? (
            await this.sql<ChatMessage[]>`
              SELECT role, content FROM chatbot_messages WHERE conversation_id = ${conversationId} ORDER BY id DESC LIMIT ${bot.memory_length}`
          ).reverse()
        : []
    let used = fixed
    let from = history.length
    while (from > 0) {
      const cost = countTokens(history[from - 1]!.content) + PER_MESSAGE_TOKENS
      if (used + cost > budget) break
      used += cost
      from--
    }
    return [{ role: 'system', content: system }, ...preamble, ...history.slice(from), { role: 'user', content: message }]
  }

  async conversations(bot: ChatbotRow, speaker: Speaker | null): Promise<{ id: string; title: string; source: string; created_at: Date; updated_at: Date }[]> {
    return [
      ...(await this.sql<{ id: string; title: string; source: string; created_at: Date; updated_at: Date }[]>`
        SELECT id, title, source, created_at, updated_at FROM chatbot_conversations
        WHERE chatbot_id = ${bot.id} AND (${speaker === null} OR user_id IS NOT DISTINCT FROM ${speaker?.userId ?? null})
        ORDER BY updated_at DESC LIMIT 200`),
    ]
  }

  async messages(bot: ChatbotRow, conversationId: string) {
    const [conv] = await this.sql`SELECT id FROM chatbot_conversations WHERE id = ${conversationId} AND chatbot_id = ${bot.id}`
    if (!conv) throw new ApiError('not_found', `Conversation ${conversationId} not found`)
    return this.sql`
      SELECT id, role, content, sources, prompt_tokens, completion_tokens, model, latency_ms, created_at
      FROM chatbot_messages WHERE conversation_id = ${conversationId} ORDER BY id`
  }

  /** A turn answering meanwhile ends with a 409 instead of keeping its messages (see #finish). */
  async deleteConversation(bot: ChatbotRow, conversationId: string): Promise<void> {
    const [conv] = await this.sql`DELETE FROM chatbot_conversations WHERE id = ${conversationId} AND chatbot_id = ${bot.id} RETURNING id`
    if (!conv) throw new ApiError('not_found', `Conversation ${conversationId} not found`)
  }
}
