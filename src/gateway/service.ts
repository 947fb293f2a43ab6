import type { VerifiedKey } from '../api-keys/verifier.ts'
import type { AuditLog } from '../audit/service.ts'
import { ApiError } from '../http/errors.ts'
import type { Logger } from '../log.ts'
import type { RateLimiter } from '../rate-limit/limiter.ts'
import { BudgetExceeded, type BudgetService, type Reservation } from '../budgets/service.ts'
import { capChoices, encodeEmbeddings, type EmbeddingAnswer } from './answers.ts'
import type { ChatCompletionRequest, EmbeddingRequest } from './model.ts'
import { costMicros } from './pricing.ts'
import type { ModelRegistry, ResolvedModel } from './registry.ts'
import { linkedSignal } from './linked-signal.ts'
import type { HeadWait } from './provider.ts'
import { relaySse, type StreamOutcome } from './sse-relay.ts'
import { countTokensAsync } from './token-pool.ts'
import { countTokens } from './token-count.ts'

/** Completion text counted in place (well under a millisecond); longer text goes to the counting worker. */
const SYNC_COUNT_CHARS = 16_384
import { estimateChatPromptTokensAsync, estimateEmbeddingTokensAsync } from './tokens.ts'
import type { UsageEntry, UsageLedger, UsageSource } from './usage.ts'
import type { GatewayGuard } from '../security/gateway-guard.ts'
import type { CallerPolicy } from '../security/policy.ts'

/**
 * Who is calling the gateway: an API key on the public API, a signed-in user in the dashboard's playground, or a
 * platform feature acting for a user (document indexing and search are charged to that user).
 */
export interface Caller {
  source: UsageSource
  userId: string
  apiKey: VerifiedKey | null
  requestId: string
  /** performance.now() when the request arrived, for the gateway's own overhead. */
  startedAt: number
  /**
   * A feature that demands confidential models only, in words for the refusal: 'the chatbot "Support"', 'the agent
   * "Researcher"'. The platform's, the user's and the key's own demands are looked up by the gateway itself.
   */
  confidentialOnly?: string | undefined
  /** The API the usage is recorded under when it is not the gateway's own (`/responses` drives chat completions). */
  endpoint?: string
}

const RESERVATION_TTL_MS = 15 * 60_000
/** A 402 whose room is only held by requests in flight: they settle within seconds. */
const HELD_RETRY_AFTER_S = 2

interface Usage {
  prompt_tokens?: number
  completion_tokens?: number
}

/** What a chat request is allowed before it is sent: its models, its cap, and the budget it holds. */
interface ChatPlan {
  model: ResolvedModel
  fallback: ResolvedModel | null
  promptTokens: number
  /** Tokens each choice may generate: the request's max_tokens, clamped to the model's cap (or the default cap). */
  cap: number
  n: number
  reservation: Reservation
}

type Entry = Omit<UsageEntry, 'id' | 'requestId' | 'source' | 'apiKeyId' | 'userId'>

/**
 * The request path of the OpenAI-compatible gateway: model and key checks, token limit, worst-case budget
 * reservation, dispatch (with fallback), relay, then usage and settlement written off the response path.
 */
export class GatewayService {
  constructor(
    readonly registry: ModelRegistry,
    readonly budgets: BudgetService,
    readonly ledger: UsageLedger,
    readonly limiter: RateLimiter,
    readonly log: Logger,
    readonly audit: AuditLog | null = null,
    /** Confidential-only policies and data-loss prevention (src/security); none in tests that build a bare gateway. */
    readonly guard: GatewayGuard | null = null,
  ) {}

  #allowed(caller: Caller, modelId: string): boolean {
    const allowed = caller.apiKey?.allowed_models ?? []
    return allowed.length === 0 || allowed.includes(modelId)
  }

  /** What the caller is held to; nothing without a guard. */
  #policy(caller: Caller): Promise<CallerPolicy> | CallerPolicy {
    return this.guard?.policy(caller) ?? OPEN_POLICY
  }

  /** The models the caller may use: under a confidential-only policy, the confidential ones alone. */
  async listModels(caller: Caller): Promise<ResolvedModel[]> {
    const policy = await this.#policy(caller)
    return (await this.registry.list()).filter((m) => this.#allowed(caller, m.id) && (m.confidential || policy.confidentialOnlyBy === null))
  }

  /**
   * A model the caller may use, or the refusal: 404, 403 model_not_allowed, 403 confidentiality_required. Every path
   * that calls a model (chat, embeddings, and through them chatbots, RAG, plugins and agents) comes through here.
   */
  async model(caller: Caller, id: string): Promise<ResolvedModel> {
    const model = await this.registry.resolve(id)
    if (!model) throw new ApiError('model_not_found', `The model '${id}' does not exist`, 'model')
    if (!this.#allowed(caller, id)) throw new ApiError('model_not_allowed', `This API key may not use the model '${id}'`, 'model')
    this.guard?.require(caller, model, await this.#policy(caller))
    return model
  }

  /** Holds the worst case; a refusal says whether the room is spent or only held by requests in flight. */
  async #reserve(caller: Caller, amount: number): Promise<Reservation> {
    try {
      return await this.budgets.reserve({ userId: caller.userId, apiKeyId: caller.apiKey?.id ?? null }, amount, RESERVATION_TTL_MS)
    } catch (err) {
      if (!(err instanceof BudgetExceeded)) throw err
      const { name, limit_micros, spent_micros } = err.budget
      if (BigInt(spent_micros) + BigInt(amount) > BigInt(limit_micros))
        throw new ApiError('budget_exceeded', `The budget "${name}" does not cover this request: its room is spent`)
      throw new ApiError(
        'budget_exceeded',
        `The budget "${name}" does not cover this request now: its room is held by requests in flight; retry shortly`,
        undefined,
        { 'retry-after': String(HELD_RETRY_AFTER_S) },
      )
    }
  }

  async #takeTokens(caller: Caller, tokens: number): Promise<void> {
    const tpm = caller.apiKey?.rate_limit_tokens_per_minute
    if (tpm) await this.limiter.takeTokens(`key:${caller.apiKey?.id}`, tpm, tokens)
  }

  /**
   * The model's fallback, if this caller may use it. A confidential model never falls back to one that is not,
   * unless its settings say so explicitly (`fallback_leaves_tee`, off by default): that would send the prompt out
   * of the TEE behind the caller's back.
   */
  async #fallbackFor(caller: Caller, model: ResolvedModel): Promise<ResolvedModel | null> {
    if (!model.fallback || !this.#allowed(caller, model.fallback)) return null
    const fallback = await this.registry.resolve(model.fallback)
    if (fallback && model.confidential && !fallback.confidential && !model.fallbackLeavesTee) return null
    // A confidential-only policy forbids it whatever the model's settings say.
    if (fallback && !fallback.confidential && (await this.#policy(caller)).confidentialOnlyBy !== null) return null
    return fallback
  }

  /** Dispatches to the model's provider; a provider failure falls back to the model's configured alternative. */
  async #dispatch(
    caller: Caller,
    plan: { model: ResolvedModel; fallback: ResolvedModel | null },
    path: string,
    body: (served: ResolvedModel) => Promise<Record<string, unknown>>,
    signal: AbortSignal,
    head: HeadWait,
  ): Promise<{ res: Response; served: ResolvedModel }> {
    const { model, fallback } = plan
    try {
      return { res: await model.provider.request('POST', path, { ...(await body(model)), model: model.upstreamId }, signal, head), served: model }
    } catch (err) {
      if (!fallback || !(err instanceof ApiError) || err.status < 500 || signal.aborted) throw err
      this.log.warn({ request_id: caller.requestId, model: model.id, fallback: fallback.id, err: err.code }, 'falling back')
      const res = await fallback.provider.request('POST', path, { ...(await body(fallback)), model: fallback.upstreamId }, signal, head)
      if (model.confidential && !fallback.confidential) await this.#auditLeftTee(caller, model, fallback, err)
      return { res, served: fallback }
    }
  }

  async #auditLeftTee(caller: Caller, model: ResolvedModel, fallback: ResolvedModel, cause: ApiError): Promise<void> {
    this.log.warn({ request_id: caller.requestId, model: model.id, fallback: fallback.id }, 'a confidential request was served outside the TEE by its fallback')
    await this.audit
      ?.record(
        {
          action: 'gateway.fallback_left_tee',
          outcome: 'success',
          actor: { userId: caller.userId, apiKeyId: caller.apiKey?.id ?? null, label: caller.apiKey ? `key ${caller.apiKey.name}` : null },
          resource: { type: 'model', id: model.id },
          details: { fallback: fallback.id, fallback_provider: fallback.provider.name, cause: cause.code },
        },
        { requestId: caller.requestId, ip: null, userAgent: null },
      )
      .catch((err) => this.log.error({ err: (err as Error).message }, 'fallback audit not written'))
  }

  /**
   * Records usage, charging the budgets what was reserved at most under a hard budget: an upstream that generated
   * past the cap it was given costs the platform, never the budget's limit. The excess is on the record and audited.
   */
  #record(caller: Caller, reservation: Reservation, e: Entry) {
    let charged = e.costMicros
    if (reservation.hard && e.costMicros > reservation.amountMicros) {
      charged = reservation.amountMicros
      this.log.warn({ request_id: caller.requestId, model: e.model, cost_micros: e.costMicros, reserved_micros: reservation.amountMicros }, 'upstream overran the reserved cost')
      void this.audit
        ?.record(
          {
            action: 'budget.upstream_overrun',
            outcome: 'success',
            actor: { userId: caller.userId, apiKeyId: caller.apiKey?.id ?? null },
            resource: { type: 'model', id: e.model },
            details: {
              provider: e.provider,
              completion_tokens: e.completionTokens,
              cost_micros: e.costMicros,
              charged_micros: charged,
              excess_micros: e.costMicros - charged,
            },
          },
          { requestId: caller.requestId, ip: null, userAgent: null },
        )
        .catch((err) => this.log.error({ err: (err as Error).message }, 'overrun audit not written'))
    }
    this.ledger.record(
      {
        ...e,
        ...(charged !== e.costMicros ? { chargedMicros: charged } : {}),
        id: crypto.randomUUID(),
        requestId: caller.requestId,
        source: caller.source,
        apiKeyId: caller.apiKey?.id ?? null,
        userId: caller.userId,
      },
      reservation,
    )
  }

  #headers(served: ResolvedModel, caller: Caller, upstreamMs: number, contentType: string): Record<string, string> {
    const overhead = performance.now() - caller.startedAt - upstreamMs
    return {
      'content-type': contentType,
      'x-enclava-confidential': String(served.confidential),
      'x-enclava-provider': served.provider.name,
      'server-timing': `gateway;dur=${overhead.toFixed(2)};desc="Enclava overhead", upstream;dur=${upstreamMs.toFixed(2)}`,
    }
  }

  /**
   * Checks, counts and reserves before anything is sent. The output cap is always imposed: a request's max_tokens
   * is clamped to the model's cap, and a model without one gets DEFAULT_MAX_OUTPUT_TOKENS, so the worst case (the
   * prompt plus every choice at its cap, at the dearer of the model and its fallback) is what can really happen.
   */
  async #planChat(caller: Caller, body: ChatCompletionRequest, outgoing: (served: ResolvedModel) => Promise<ChatCompletionRequest>): Promise<ChatPlan> {
    const model = await this.model(caller, body.model)
    // A request data-loss prevention refuses is refused before anything is held or counted.
    await outgoing(model)
    const fallback = await this.#fallbackFor(caller, model)
    const promptTokens = await estimateChatPromptTokensAsync(body.messages, body.tools)
    const requested = body.max_completion_tokens ?? body.max_tokens ?? null
    const cap = Math.min(requested ?? model.maxOutputTokens, model.maxOutputTokens)
    const n = body.n ?? 1
    await this.#takeTokens(caller, promptTokens + cap * n)
    const worst = Math.max(
      costMicros(model.prices, promptTokens, cap * n),
      fallback ? costMicros(fallback.prices, promptTokens, Math.min(cap, fallback.maxOutputTokens) * n) : 0,
    )
    return { model, fallback, promptTokens, cap, n, reservation: await this.#reserve(caller, worst) }
  }

  /** The body sent to `served`: the cap in whichever field the client used, usage asked for on streams. */
  #chatBody(body: ChatCompletionRequest, plan: ChatPlan, served: ResolvedModel): Record<string, unknown> {
    const out: Record<string, unknown> = { ...body }
    const cap = Math.min(plan.cap, served.maxOutputTokens)
    if (body.max_completion_tokens != null) out.max_completion_tokens = cap
    else out.max_tokens = cap
    if (body.stream) out.stream_options = { ...body.stream_options, include_usage: true }
    return out
  }

  async chat(caller: Caller, body: ChatCompletionRequest, clientSignal: AbortSignal): Promise<Response> {
    const policy = await this.#policy(caller)
    const outgoing = this.guard ? this.guard.outgoing(caller, policy, 'chat', body) : async () => body
    const plan = await this.#planChat(caller, body, outgoing)
    const { model, reservation } = plan
    // Released when the exchange ends, whichever way: the client's abort and the total timeout apply until then.
    const exchange = linkedSignal(clientSignal, model.provider.totalTimeoutMs, 'The upstream exchange took too long')
    const dispatchedAt = performance.now()
    const base = { endpoint: caller.endpoint ?? '/chat/completions', streamed: Boolean(body.stream) }
    let res: Response
    let served: ResolvedModel
    try {
      ;({ res, served } = await this.#dispatch(caller, plan, '/chat/completions', async (m) => this.#chatBody(await outgoing(m), plan, m), exchange.signal, body.stream ? 'prompt' : 'answer'))
    } catch (err) {
      exchange.release()
      const { status, code } = failureOf(err, clientSignal)
      if (!clientSignal.aborted) this.log.warn({ request_id: caller.requestId, model: model.id, provider: model.provider.name, status, code }, 'upstream request failed')
      this.#record(caller, reservation, {
        ...base,
        model: model.id,
        provider: model.provider.name,
        promptTokens: 0,
        completionTokens: 0,
        costMicros: 0,
        latencyMs: Math.round(performance.now() - caller.startedAt),
        ttftMs: null,
        status,
        errorCode: code,
        isTee: model.confidential,
      })
      if (exchange.signal.aborted && !clientSignal.aborted && !(err instanceof ApiError))
        throw new ApiError('upstream_timeout', `Provider ${model.provider.name} did not finish in time`)
      throw err
    }
    // Synchronous whenever it can be (the upstream sent usage, or the text is short), so the record is journaled
    // before the answer ends: an answer the client has is one the ledger has, even if the process dies next.
    const settle = (usage: Usage | null, completionText: string, ttftMs: number | null, status: number, errorCode: string | null): Promise<void> | void => {
      const known = usage?.completion_tokens ?? (completionText.length <= SYNC_COUNT_CHARS ? countTokens(completionText) : null)
      if (known === null) return countTokensAsync(completionText).then((n) => record(usage, n, ttftMs, status, errorCode))
      record(usage, known, ttftMs, status, errorCode)
    }
    const record = (usage: Usage | null, completion: number, ttftMs: number | null, status: number, errorCode: string | null) => {
      const prompt = usage?.prompt_tokens ?? plan.promptTokens
      this.#record(caller, reservation, {
        ...base,
        model: served.id,
        provider: served.provider.name,
        promptTokens: prompt,
        completionTokens: completion,
        costMicros: costMicros(served.prices, prompt, completion),
        latencyMs: Math.round(performance.now() - caller.startedAt),
        ttftMs: ttftMs === null ? null : Math.round(ttftMs),
        status,
        errorCode,
        isTee: served.confidential,
      })
    }
    const settleLogged = (...args: Parameters<typeof settle>) =>
      void Promise.resolve(settle(...args)).catch((err) => this.log.error({ request_id: caller.requestId, err: (err as Error).message }, 'usage not recorded'))
    if (!body.stream) return this.#chatAnswer(caller, plan, served, res, exchange, clientSignal, dispatchedAt, settleLogged)
    return this.#chatStream(caller, body, plan, served, res, exchange, clientSignal, dispatchedAt, settleLogged)
  }

  async #chatAnswer(
    caller: Caller,
    plan: ChatPlan,
    served: ResolvedModel,
    res: Response,
    exchange: ReturnType<typeof linkedSignal>,
    clientSignal: AbortSignal,
    dispatchedAt: number,
    settle: (usage: Usage | null, text: string, ttftMs: number | null, status: number, code: string | null) => void,
  ): Promise<Response> {
    let parsed: Record<string, unknown>
    try {
      const value: unknown = JSON.parse(await served.provider.readAnswer(res))
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object')
      parsed = value as Record<string, unknown>
    } catch (err) {
      // Whatever was generated is charged at the estimate; the client gets a clean error.
      const { status, code } = failureOf(err, clientSignal)
      settle(null, '', null, status, code)
      if (clientSignal.aborted) throw new ApiError('upstream_error', 'The client went away')
      this.log.warn({ request_id: caller.requestId, provider: served.provider.name }, 'upstream sent an unreadable answer')
      // One over UPSTREAM_MAX_RESPONSE_MB says so; anything else could not be parsed.
      throw err instanceof ApiError ? err : new ApiError('upstream_error', `Provider ${served.provider.name} sent an unreadable response`)
    } finally {
      exchange.release()
    }
    const upstreamMs = performance.now() - dispatchedAt
    // The upstream was told the cap; one that ignores it is cut here, so the answer never holds more than was paid for.
    const { text } = capChoices(parsed, plan.reservation.hard ? Math.min(plan.cap, served.maxOutputTokens) : null)
    settle((parsed.usage as Usage | undefined) ?? null, text, upstreamMs, 200, null)
    if (parsed.model !== undefined && parsed.model !== served.id) parsed.model = served.id
    return new Response(JSON.stringify(parsed), { status: 200, headers: this.#headers(served, caller, upstreamMs, 'application/json') })
  }

  async #chatStream(
    caller: Caller,
    body: ChatCompletionRequest,
    plan: ChatPlan,
    served: ResolvedModel,
    res: Response,
    exchange: ReturnType<typeof linkedSignal>,
    clientSignal: AbortSignal,
    dispatchedAt: number,
    settle: (usage: Usage | null, text: string, ttftMs: number | null, status: number, code: string | null) => void,
  ): Promise<Response> {
    if (!res.body || !res.headers.get('content-type')?.includes('text/event-stream')) {
      settle(null, '', null, 502, 'upstream_error')
      exchange.release()
      void res.body?.cancel()
      throw new ApiError('upstream_error', `Provider ${served.provider.name} did not answer with a stream`)
    }
    const first = Promise.withResolvers<number>()
    const stream = relaySse(res.body, {
      keepUsageChunk: body.stream_options?.include_usage === true,
      rewriteModel: served.upstreamId === served.id ? null : served.id,
      firstByteTimeoutMs: served.provider.firstByteTimeoutMs,
      startedAt: caller.startedAt,
      requestId: caller.requestId,
      // Under a hard budget the relay stops at the cap, whatever the upstream does with it.
      cap: plan.reservation.hard ? { tokensPerChoice: Math.min(plan.cap, served.maxOutputTokens), choices: plan.n } : null,
      promptTokens: plan.promptTokens,
      abortUpstream: () => exchange.abort(),
      onEnd: (o: StreamOutcome) => {
        exchange.release()
        if (o.end !== 'done' && o.end !== 'capped' && o.end !== 'client_abort')
          this.log.warn({ request_id: caller.requestId, provider: served.provider.name, end: o.end }, 'upstream stream failed')
        // A capped stream: the usage is what was relayed (the upstream's own count, if it sent one, covers more).
        const usage = o.end === 'capped' ? null : o.usage
        settle(usage, o.text, o.ttftMs, o.end === 'done' || o.end === 'capped' ? 200 : o.end === 'client_abort' ? 499 : 502, o.end === 'done' || o.end === 'capped' ? null : o.end)
      },
      onFirstOutput: first.resolve,
    })
    // The head leaves with the first event, so its Server-Timing covers the time Enclava took to relay it (it covered
    // only the time to the upstream's head): the upstream's share ends with its first bytes. A client gone meanwhile
    // cancels the relay here, which records it as the client's abort; nothing would read the stream otherwise.
    const gone = () => void stream.cancel().catch(() => {})
    clientSignal.addEventListener('abort', gone, { once: true })
    if (clientSignal.aborted) gone()
    let upstreamAt: number
    try {
      upstreamAt = await first.promise
    } finally {
      clientSignal.removeEventListener('abort', gone)
    }
    const headers = this.#headers(served, caller, upstreamAt - dispatchedAt, 'text/event-stream; charset=utf-8')
    return new Response(stream, { status: 200, headers: { ...headers, 'cache-control': 'no-cache', 'x-accel-buffering': 'no' } })
  }

  async embeddings(caller: Caller, body: EmbeddingRequest, clientSignal: AbortSignal): Promise<Response> {
    const model = await this.model(caller, body.model)
    const policy = await this.#policy(caller)
    const outgoing = this.guard ? this.guard.outgoing(caller, policy, 'embeddings', body) : async () => body
    await outgoing(model)
    const fallback = await this.#fallbackFor(caller, model)
    const promptTokens = await estimateEmbeddingTokensAsync(body.input)
    await this.#takeTokens(caller, promptTokens)
    const worst = Math.max(costMicros(model.prices, promptTokens, 0), fallback ? costMicros(fallback.prices, promptTokens, 0) : 0)
    const reservation = await this.#reserve(caller, worst)
    const exchange = linkedSignal(clientSignal, model.provider.totalTimeoutMs, 'The upstream exchange took too long')
    const dispatchedAt = performance.now()
    const base = { endpoint: '/embeddings', streamed: false, completionTokens: 0, ttftMs: null }
    const record = (status: number, code: string | null, served: ResolvedModel, prompt: number) =>
      this.#record(caller, reservation, {
        ...base,
        model: served.id,
        provider: served.provider.name,
        promptTokens: prompt,
        costMicros: costMicros(served.prices, prompt, 0),
        latencyMs: Math.round(performance.now() - caller.startedAt),
        status,
        errorCode: code,
        isTee: served.confidential,
      })
    // Floats from the upstream, whatever the client asked: the gateway encodes base64 and shortens vectors itself.
    const upstreamBody = async (m: ResolvedModel) => {
      const { encoding_format: _format, ...rest } = await outgoing(m)
      return m.truncatableDimensions ? withoutDimensions(rest) : rest
    }
    let res: Response
    let served: ResolvedModel
    try {
      ;({ res, served } = await this.#dispatch(caller, { model, fallback }, '/embeddings', upstreamBody, exchange.signal, 'answer'))
    } catch (err) {
      exchange.release()
      const { status, code } = failureOf(err, clientSignal)
      if (!clientSignal.aborted) this.log.warn({ request_id: caller.requestId, model: model.id, code }, 'upstream request failed')
      record(status, code, model, 0)
      throw err
    }
    let parsed: EmbeddingAnswer
    try {
      const value: unknown = JSON.parse(await served.provider.readAnswer(res))
      if (typeof value !== 'object' || value === null || !Array.isArray((value as EmbeddingAnswer).data)) throw new Error('no data')
      parsed = value as EmbeddingAnswer
    } catch (err) {
      const { status, code } = failureOf(err, clientSignal)
      record(status, code, served, promptTokens)
      throw err instanceof ApiError ? err : new ApiError('upstream_error', `Provider ${served.provider.name} sent an unreadable response`)
    } finally {
      exchange.release()
    }
    const upstreamMs = performance.now() - dispatchedAt
    const prompt = parsed.usage?.prompt_tokens ?? promptTokens
    // Paid for either way: a refusal of what the client asked (dimensions the model cannot give) is still charged.
    record(200, null, served, prompt)
    const answer = encodeEmbeddings(parsed, { format: body.encoding_format ?? 'float', dimensions: body.dimensions ?? null, truncatable: served.truncatableDimensions, model: served.id })
    if (answer.model !== undefined && answer.model !== served.id) answer.model = served.id
    return new Response(JSON.stringify(answer), { status: 200, headers: this.#headers(served, caller, upstreamMs, 'application/json') })
  }

  /** Embeddings as vectors for platform features, through the same limits, budgets and accounting as the API. */
  async embed(caller: Caller, model: string, input: string[], signal: AbortSignal): Promise<Float32Array[]> {
    const res = await this.embeddings(caller, { model, input, encoding_format: 'float' }, signal)
    const parsed = (await res.json()) as { data: { index: number; embedding: number[] }[] }
    const out: Float32Array[] = new Array(input.length)
    for (const d of parsed.data) {
      if (!Array.isArray(d.embedding)) throw new ApiError('upstream_error', 'The embeddings provider sent no vector')
      out[d.index] = Float32Array.from(d.embedding)
    }
    if (out.some((v) => v === undefined) || out.length !== input.length)
      throw new ApiError('upstream_error', `The embeddings provider returned ${parsed.data.length} vectors for ${input.length} inputs`)
    return out
  }
}

/** No guard (a bare gateway in tests): nothing demanded, nothing redacted. */
const OPEN_POLICY: CallerPolicy = { confidentialOnlyBy: null, dlpMode: 'off' }

function withoutDimensions(body: Record<string, unknown>): Record<string, unknown> {
  const { dimensions: _dimensions, ...rest } = body
  return rest
}

/**
 * How a failed upstream exchange is recorded: a client that went away is its own abort (499), whatever the call or
 * the read then threw; otherwise the gateway's error, or the upstream's fault.
 */
function failureOf(err: unknown, clientSignal: AbortSignal): { status: number; code: string } {
  if (clientSignal.aborted) return { status: 499, code: 'client_abort' }
  return err instanceof ApiError ? { status: err.status, code: err.code } : { status: 502, code: 'upstream_error' }
}
