import { ApiError } from '../http/errors.ts'
import { CircuitBreaker } from './circuit-breaker.ts'
import { linkedSignal } from './linked-signal.ts'

export type ProviderKind = 'privatemode' | 'openai-compatible'

export interface ProviderSettings {
  name: string
  kind: ProviderKind
  /** Base URL ending in /v1. */
  baseUrl: string
  apiKey?: string | undefined
  /** Until the response headers arrive (connection + upstream queueing). */
  connectTimeoutMs: number
  /** Until the first body byte (for streams: the first event). */
  firstByteTimeoutMs: number
  /** The whole exchange. */
  totalTimeoutMs: number
  maxRetries: number
}

export interface ProviderHealth {
  name: string
  kind: ProviderKind
  confidential: boolean
  circuit: 'closed' | 'open' | 'half-open'
  consecutive_failures: number
  last_error: string | null
  last_success_at: string | null
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504])
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Turns an upstream status into our error; the upstream's own message is kept only for client errors. */
export function upstreamError(status: number, upstreamMessage: string | null, provider: string): ApiError {
  const detail = upstreamMessage ? `: ${upstreamMessage.slice(0, 500)}` : ''
  if (status === 400 || status === 422) return new ApiError('invalid_request', `The upstream rejected the request${detail}`)
  if (status === 404) return new ApiError('model_not_found', `The upstream does not know this model${detail}`)
  if (status === 429) return new ApiError('rate_limit_exceeded', `Provider ${provider} is rate limiting; retry shortly`, undefined, { 'retry-after': '1' })
  if (status === 401 || status === 403)
    return new ApiError('upstream_error', `Provider ${provider} refused Enclava's credentials; an administrator must fix the provider settings`)
  if (status === 504) return new ApiError('upstream_timeout', `Provider ${provider} timed out`)
  return new ApiError('upstream_error', `Provider ${provider} failed with status ${status}`)
}

async function readErrorMessage(res: Response): Promise<string | null> {
  try {
    const body = (await res.json()) as { error?: { message?: unknown } | string; message?: unknown }
    const m = typeof body.error === 'string' ? body.error : (body.error?.message ?? body.message)
    return typeof m === 'string' ? m : null
  } catch {
    return null
  }
}

/**
 * One upstream speaking the OpenAI protocol. privatemode-proxy is such an upstream that additionally does remote
 * attestation and end-to-end encryption to the TEE, so its requests are served confidentially.
 * The API key lives in a private field: nothing outside can read it, and it is never put into an error.
 */
export class Provider {
  readonly name: string
  readonly kind: ProviderKind
  readonly baseUrl: string
  readonly breaker = new CircuitBreaker()
  readonly #apiKey: string | undefined
  readonly #settings: ProviderSettings
  #lastError: string | null = null
  #lastSuccess: Date | null = null

  constructor(settings: ProviderSettings) {
    this.name = settings.name
    this.kind = settings.kind
    this.baseUrl = settings.baseUrl.replace(/\/+$/, '')
    this.#apiKey = settings.apiKey
    this.#settings = settings
  }

  get confidential(): boolean {
    return this.kind === 'privatemode'
  }

  health(): ProviderHealth {
    return {
      name: this.name,
      kind: this.kind,
      confidential: this.confidential,
      circuit: this.breaker.state,
      consecutive_failures: this.breaker.consecutiveFailures,
      last_error: this.#lastError,
      last_success_at: this.#lastSuccess?.toISOString() ?? null,
    }
  }

  #headers(): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    if (this.#apiKey) h.authorization = `Bearer ${this.#apiKey}`
    return h
  }

  async listModels(): Promise<string[]> {
    const res = await this.request('GET', '/models', undefined, AbortSignal.timeout(this.#settings.connectTimeoutMs))
    const body = (await res.json().catch(() => null)) as { data?: { id?: unknown }[] } | null
    if (!body || !Array.isArray(body.data)) throw new ApiError('upstream_error', `Provider ${this.name} returned an invalid model list`)
    return body.data.map((m) => m.id).filter((id): id is string => typeof id === 'string')
  }

  /**
   * Sends one request and returns the upstream response once its headers are in (status 2xx). Connection errors
   * and 429/5xx are retried with exponential backoff while nothing has reached the client; other statuses become
   * OpenAI-shape errors. `signal` is the client's: its abort cancels the upstream request.
   */
  async request(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal, head: HeadWait = 'prompt'): Promise<Response> {
    if (!this.breaker.allow())
      throw new ApiError('provider_unavailable', `Provider ${this.name} is failing; requests are paused for a moment`, undefined, {
        'retry-after': String(Math.ceil(this.breaker.openMs / 1000)),
      })
    const { maxRetries } = this.#settings
    const headMs = head === 'prompt' ? this.#settings.connectTimeoutMs : this.#settings.firstByteTimeoutMs
    for (let attempt = 0; ; attempt++) {
      // The head timer stops once the head is in, so it never cuts a long stream or body.
      const call = linkedSignal(signal, headMs, 'The upstream did not answer in time')
      try {
        const res = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers: this.#headers(),
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: call.signal,
        })
        call.stopTimer()
        if (res.ok) {
          this.breaker.success()
          this.#lastSuccess = new Date()
          return res
        }
        const message = await readErrorMessage(res)
        call.release()
        if (RETRYABLE_STATUS.has(res.status)) {
          this.#recordFailure(`status ${res.status}`)
          if (attempt < maxRetries && !signal.aborted) {
            await sleep(this.#backoff(attempt, res.headers.get('retry-after')))
            continue
          }
        } else {
          this.breaker.success()
        }
        throw upstreamError(res.status, res.status < 500 ? message : null, this.name)
      } catch (err) {
        call.release()
        if (err instanceof ApiError) throw err
        if (signal.aborted) throw err
        const timedOut = call.timedOut
        this.#recordFailure(timedOut ? 'timeout' : 'connection failed')
        if (attempt < maxRetries) {
          await sleep(this.#backoff(attempt, null))
          continue
        }
        throw timedOut
          ? new ApiError('upstream_timeout', `Provider ${this.name} did not answer within ${headMs} ms`)
          : new ApiError('provider_unavailable', `Provider ${this.name} cannot be reached`)
      }
    }
  }

  get firstByteTimeoutMs(): number {
    return this.#settings.firstByteTimeoutMs
  }

  get totalTimeoutMs(): number {
    return this.#settings.totalTimeoutMs
  }

  #recordFailure(reason: string) {
    this.breaker.failure()
    this.#lastError = `${new Date().toISOString()} ${reason}`
  }

  /** 100 ms, 200 ms, 400 ms ... with jitter; an upstream Retry-After is honoured up to 2 s. */
  #backoff(attempt: number, retryAfter: string | null): number {
    const hinted = retryAfter ? Number(retryAfter) * 1000 : NaN
    if (Number.isFinite(hinted) && hinted >= 0) return Math.min(hinted, 2000)
    return 100 * 2 ** attempt * (0.5 + Math.random() / 2)
  }
}

/**
 * When the upstream's response head comes: `prompt` at once (streams, model lists), so the connect timeout bounds
 * the wait; `answer` only with the whole answer (non-streamed completions, embeddings), so the first-byte timeout does.
 */
export type HeadWait = 'prompt' | 'answer'
