import type { VerifiedKey } from '../api-keys/verifier.ts'
import { ApiError } from '../http/errors.ts'
import type { Logger } from '../log.ts'
import type { RateLimiter } from '../rate-limit/limiter.ts'
import { BudgetExceeded, type BudgetService, type Reservation } from '../budgets/service.ts'
import type { ChatCompletionRequest, EmbeddingRequest } from './model.ts'
import { costMicros } from './pricing.ts'
import type { ModelRegistry, ResolvedModel } from './registry.ts'
import { linkedSignal } from './linked-signal.ts'
import type { HeadWait } from './provider.ts'
import { relaySse } from './sse-relay.ts'
import { countTokens, estimateChatPromptTokens, estimateEmbeddingTokens } from './tokens.ts'
import type { UsageEntry, UsageLedger, UsageSource } from './usage.ts'

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
}

const RESERVATION_TTL_MS = 15 * 60_000

interface Usage {
  prompt_tokens?: number
  completion_tokens?: number
}

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
  ) {}

  #allowed(caller: Caller, modelId: string): boolean {
    const allowed = caller.apiKey?.allowed_models ?? []
    return allowed.length === 0 || allowed.includes(modelId)
  }

  async listModels(caller: Caller): Promise<ResolvedModel[]> {
    return (await this.registry.list()).filter((m) => this.#allowed(caller, m.id))
  }

  async model(caller: Caller, id: string): Promise<ResolvedModel> {
    const model = await this.registry.resolve(id)
    if (!model) throw new ApiError('model_not_found', `The model '${id}' does not exist`, 'model')
    if (!this.#allowed(caller, id)) throw new ApiError('model_not_allowed', `This API key may not use the model '${id}'`, 'model')
    return model
  }

  async #reserve(caller: Caller, amount: number): Promise<Reservation> {
    try {
      return await this.budgets.reserve({ userId: caller.userId, apiKeyId: caller.apiKey?.id ?? null }, amount, RESERVATION_TTL_MS)
    } catch (err) {
      if (err instanceof BudgetExceeded)
        throw new ApiError('budget_exceeded', `The budget "${err.budget.name}" does not cover this request; it is spent or reserved`)
      throw err
    }
  }

  async #takeTokens(caller: Caller, tokens: number): Promise<void> {
    const tpm = caller.apiKey?.rate_limit_tokens_per_minute
    if (tpm) await this.limiter.takeTokens(`key:${caller.apiKey?.id}`, tpm, tokens)
  }

  /** Dispatches to the model's provider; a provider failure falls back to the model's configured alternative. */
  async #dispatch(
    caller: Caller,
    model: ResolvedModel,
    fallback: ResolvedModel | null,
    path: string,
    body: Record<string, unknown>,
    signal: AbortSignal,
    head: HeadWait,
  ): Promise<{ res: Response; served: ResolvedModel }> {
    try {
      return { res: await model.provider.request('POST', path, { ...body, model: model.upstreamId }, signal, head), served: model }
    } catch (err) {
      if (!fallback || !(err instanceof ApiError) || err.status < 500 || signal.aborted) throw err
      this.log.warn({ request_id: caller.requestId, model: model.id, fallback: fallback.id, err: err.code }, 'falling back')
      return { res: await fallback.provider.request('POST', path, { ...body, model: fallback.upstreamId }, signal, head), served: fallback }
    }
  }

  async #fallbackFor(caller: Caller, model: ResolvedModel): Promise<ResolvedModel | null> {
    if (!model.fallback || !this.#allowed(caller, model.fallback)) return null
    return this.registry.resolve(model.fallback)
  }

  #record(caller: Caller, reservation: Reservation, e: Omit<UsageEntry, 'id' | 'requestId' | 'source' | 'apiKeyId' | 'userId'>) {
    this.ledger.record(
      { ...e, id: crypto.randomUUID(), requestId: caller.requestId, source: caller.source, apiKeyId: caller.apiKey?.id ?? null, userId: caller.userId },
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

  async chat(caller: Caller, body: ChatCompletionRequest, clientSignal: AbortSignal): Promise<Response> {
    const model = await this.model(caller, body.model)
    const fallback = await this.#fallbackFor(caller, model)
    const promptTokens = estimateChatPromptTokens(body.messages, body.tools)
    const requestedMax = body.max_completion_tokens ?? body.max_tokens ?? null
    const n = body.n ?? 1
    await this.#takeTokens(caller, promptTokens + (requestedMax ?? 0) * n)

    // Worst case: the prompt plus every choice running to its cap, at the dearer of the model and its fallback.
    const outputCap = requestedMax ?? Math.max(model.maxOutputTokens, fallback?.maxOutputTokens ?? 0)
    const worst = Math.max(
      costMicros(model.prices, promptTokens, outputCap * n),
      fallback ? costMicros(fallback.prices, promptTokens, outputCap * n) : 0,
    )
    const reservation = await this.#reserve(caller, worst)
    const upstreamBody: Record<string, unknown> = { ...body }
    // Under a hard budget the upstream may not generate more than was reserved.
    if (reservation.hard && requestedMax === null) upstreamBody.max_tokens = outputCap
    if (body.stream) upstreamBody.stream_options = { ...body.stream_options, include_usage: true }

    // Released when the exchange ends, whichever way: the client's abort and the total timeout apply until then.
    const exchange = linkedSignal(clientSignal, model.provider.totalTimeoutMs, 'The upstream exchange took too long')
    const signal = exchange.signal
    const dispatchedAt = performance.now()
    const base = { endpoint: '/chat/completions', streamed: Boolean(body.stream) }
    let res: Response
    let served: ResolvedModel
    try {
      ;({ res, served } = await this.#dispatch(caller, model, fallback, '/chat/completions', upstreamBody, signal, body.stream ? 'prompt' : 'answer'))
    } catch (err) {
      exchange.release()
      const status = err instanceof ApiError ? err.status : 502
      this.#record(caller, reservation, {
        ...base,
        model: model.id,
        provider: model.provider.name,
        promptTokens: 0,
        completionTokens: 0,
        costMicros: 0,
        latencyMs: Math.round(performance.now() - caller.startedAt),
        ttftMs: null,
        status: clientSignal.aborted ? 499 : status,
        errorCode: err instanceof ApiError ? err.code : 'upstream_error',
        isTee: model.confidential,
      })
      if (signal.aborted && !clientSignal.aborted && !(err instanceof ApiError))
        throw new ApiError('upstream_timeout', `Provider ${model.provider.name} did not finish in time`)
      throw err
    }

    const settle = (usage: Usage | null, completionText: string, ttftMs: number | null, status: number, errorCode: string | null) => {
      const prompt = usage?.prompt_tokens ?? promptTokens
      const completion = usage?.completion_tokens ?? countTokens(completionText)
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

    if (!body.stream) {
      let text: string
      let parsed: { usage?: Usage; model?: string; choices?: { message?: { content?: string | null } }[] }
      try {
        text = await res.text()
        parsed = JSON.parse(text)
      } catch {
        // Whatever was generated is charged at the estimate; the client gets a clean error.
        settle(null, '', null, 502, 'upstream_error')
        if (clientSignal.aborted) throw new ApiError('upstream_error', 'The client went away')
        throw new ApiError('upstream_error', `Provider ${served.provider.name} sent an unreadable response`)
      } finally {
        exchange.release()
      }
      const upstreamMs = performance.now() - dispatchedAt
      settle(parsed.usage ?? null, (parsed.choices ?? []).map((c) => c.message?.content ?? '').join(''), upstreamMs, 200, null)
      if (parsed.model !== undefined && parsed.model !== served.id) text = JSON.stringify({ ...parsed, model: served.id })
      return new Response(text, { status: 200, headers: this.#headers(served, caller, upstreamMs, 'application/json') })
    }

    if (!res.body || !res.headers.get('content-type')?.includes('text/event-stream')) {
      settle(null, '', null, 502, 'upstream_error')
      exchange.release()
      void res.body?.cancel()
      throw new ApiError('upstream_error', `Provider ${served.provider.name} did not answer with a stream`)
    }
    const stream = relaySse(res.body, {
      keepUsageChunk: body.stream_options?.include_usage === true,
      rewriteModel: served.upstreamId === served.id ? null : served.id,
      firstByteTimeoutMs: served.provider.firstByteTimeoutMs,
      startedAt: caller.startedAt,
      abortUpstream: () => exchange.abort(),
      onEnd: (o) => {
        exchange.release()
        settle(
          o.usage,
          o.text,
          o.ttftMs,
          o.end === 'done' ? 200 : o.end === 'client_abort' ? 499 : 502,
          o.end === 'done' ? null : o.end,
        )
      },
    })
    const headers = this.#headers(served, caller, performance.now() - dispatchedAt, 'text/event-stream; charset=utf-8')
    return new Response(stream, { status: 200, headers: { ...headers, 'cache-control': 'no-cache', 'x-accel-buffering': 'no' } })
  }

  async embeddings(caller: Caller, body: EmbeddingRequest, clientSignal: AbortSignal): Promise<Response> {
    const model = await this.model(caller, body.model)
    const fallback = await this.#fallbackFor(caller, model)
    const promptTokens = estimateEmbeddingTokens(body.input)
    await this.#takeTokens(caller, promptTokens)
    const worst = Math.max(costMicros(model.prices, promptTokens, 0), fallback ? costMicros(fallback.prices, promptTokens, 0) : 0)
    const reservation = await this.#reserve(caller, worst)
    const exchange = linkedSignal(clientSignal, model.provider.totalTimeoutMs, 'The upstream exchange took too long')
    const dispatchedAt = performance.now()
    const base = { endpoint: '/embeddings', streamed: false, completionTokens: 0, ttftMs: null }
    const fail = (status: number, code: string, served: ResolvedModel) =>
      this.#record(caller, reservation, {
        ...base,
        model: served.id,
        provider: served.provider.name,
        promptTokens: 0,
        costMicros: 0,
        latencyMs: Math.round(performance.now() - caller.startedAt),
        status,
        errorCode: code,
        isTee: served.confidential,
      })
    let res: Response
    let served: ResolvedModel
    try {
      ;({ res, served } = await this.#dispatch(caller, model, fallback, '/embeddings', { ...body }, exchange.signal, 'answer'))
    } catch (err) {
      exchange.release()
      fail(err instanceof ApiError ? err.status : 502, err instanceof ApiError ? err.code : 'upstream_error', model)
      throw err
    }
    let text: string
    let parsed: { usage?: Usage; model?: string; data?: unknown }
    try {
      text = await res.text()
      parsed = JSON.parse(text)
      if (!Array.isArray(parsed.data)) throw new Error('no data')
    } catch {
      fail(502, 'upstream_error', served)
      throw new ApiError('upstream_error', `Provider ${served.provider.name} sent an unreadable response`)
    } finally {
      exchange.release()
    }
    const upstreamMs = performance.now() - dispatchedAt
    const prompt = parsed.usage?.prompt_tokens ?? promptTokens
    this.#record(caller, reservation, {
      ...base,
      model: served.id,
      provider: served.provider.name,
      promptTokens: prompt,
      costMicros: costMicros(served.prices, prompt, 0),
      latencyMs: Math.round(performance.now() - caller.startedAt),
      status: 200,
      errorCode: null,
      isTee: served.confidential,
    })
    if (parsed.model !== undefined && parsed.model !== served.id) text = JSON.stringify({ ...parsed, model: served.id })
    return new Response(text, { status: 200, headers: this.#headers(served, caller, upstreamMs, 'application/json') })
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
