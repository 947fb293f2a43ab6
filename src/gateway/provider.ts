import { ApiError } from '../http/errors.ts'
import { CircuitBreaker } from './circuit-breaker.ts'
import { linkedSignal } from './linked-signal.ts'
import { readCappedText } from './upstream-body.ts'

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
  /** An answer's body, read no further (UPSTREAM_MAX_RESPONSE_MB). */
  maxResponseBytes: number
  maxRetries: number
  /** Hears the circuit open and close (logged at warn: an operator must see a provider going away). */
  onCircuit?: ((provider: string, state: 'open' | 'closed', reason: string | null) => void) | undefined
}

export interface ProviderHealth {
  name: string
  kind: ProviderKind
  confidential: boolean
  circuit: 'closed' | 'open' | 'half-open'
  consecutive_failures: number
  last_error: string | null
  last_success_at: string | null
  /** Confidential providers: what is known of their attestation (see AttestationSchema); null for the others. */
  attestation: {
    verified_by: 'privatemode-proxy'
    status: 'verified' | 'failing' | 'unknown'
    verified_at: string | null
  } | null
}

/**
 * Answers that prove the upstream started nothing, so the request may be sent again: it is rate limiting (429) or
 * not taking work (503). A 500, 502 or 504 may come after a generation started (and was paid for) upstream.
 */
const RETRYABLE_STATUS = new Set([429, 503])
/** The upstream's own faults, which count toward opening its circuit; a 429 is its capacity, not a fault. */
const FAULT_STATUS = new Set([500, 502, 503, 504])
/** Connection errors that prove the request never reached the upstream. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ConnectionRefused'])
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Whether a TCP connection to the upstream opens within `ms`. Bun's fetch says nothing between sending a request
 * and the first body bytes of its answer (for a stream: the first token), so a request still waiting after the
 * connect timeout asks this instead: a host that accepts connections is generating; one that does not is down.
 */
export function canConnect(baseUrl: string, ms: number): Promise<boolean> {
  const url = new URL(baseUrl)
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80)
  return new Promise((resolve) => {
    let done = false
    const finish = (ok: boolean, socket?: { end(): void }) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket?.end()
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false), ms)
    Bun.connect({
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port,
      socket: { open: (socket) => finish(true, socket), data() {}, error: () => finish(false), connectError: () => finish(false) },
    }).catch(() => finish(false))
  })
}

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

/** An error's own message is short: a body over this is not read for one. */
const ERROR_BODY_BYTES = 64 * 1024

async function readErrorMessage(res: Response): Promise<string | null> {
  try {
    const text = await readCappedText(res, ERROR_BODY_BYTES)
    if (text === null) return null
    const body = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown }
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
  /** The last answered POST: through privatemode-proxy, an encrypted exchange with the attested deployment (a model list is not encrypted). */
  #lastEncrypted: Date | null = null

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
      attestation: this.confidential
        ? {
            verified_by: 'privatemode-proxy',
            // The proxy answers only once it has verified the deployment: its last exchange says how that stands.
            status: this.breaker.state === 'open' ? 'failing' : this.#lastEncrypted ? 'verified' : 'unknown',
            verified_at: this.#lastEncrypted?.toISOString() ?? null,
          }
        : null,
    }
  }

  #headers(): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    if (this.#apiKey) h.authorization = `Bearer ${this.#apiKey}`
    return h
  }

  async listModels(): Promise<string[]> {
    const res = await this.request('GET', '/models', undefined, AbortSignal.timeout(this.#settings.connectTimeoutMs * 2), 'list')
    const text = await this.readAnswer(res)
    type List = { data?: { id?: unknown }[] } | null
    let body: List = null
    try {
      body = JSON.parse(text) as List
    } catch {
      // reported below as an invalid list
    }
    if (!body || !Array.isArray(body.data)) throw new ApiError('upstream_error', `Provider ${this.name} returned an invalid model list`)
    return body.data.map((m) => m.id).filter((id): id is string => typeof id === 'string')
  }

  /**
   * Sends one request and returns the upstream response once it starts (status 2xx). The circuit counts only the
   * upstream's own faults: connection failures, timeouts, 5xx; never the request's own problems (it is serialised
   * before anything is sent, and one that cannot be is a 400) nor a client that went away. A request is sent again
   * only when the answer proves nothing started upstream (connection refused, 429, 503): anything else may have
   * started a generation that is paid for. `signal` is the client's: its abort cancels the upstream request.
   */
  async request(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal, head: HeadWait = 'prompt'): Promise<Response> {
    let payload: string | undefined
    if (body !== undefined) {
      try {
        payload = JSON.stringify(body)
      } catch (err) {
        throw new ApiError('invalid_request', `The request cannot be forwarded: ${(err as Error).message}`)
      }
    }
    if (!this.breaker.allow())
      throw new ApiError('provider_unavailable', `Provider ${this.name} is failing; requests are paused for a moment`, undefined, {
        'retry-after': String(Math.ceil(this.breaker.openMs / 1000)),
      })
    const { maxRetries, connectTimeoutMs, firstByteTimeoutMs } = this.#settings
    // What fetch's promise waits for: a model list's head comes at once; a completion's first bytes come with its
    // first token (streamed) or its whole answer.
    const headMs = head === 'list' ? connectTimeoutMs : firstByteTimeoutMs
    for (let attempt = 0; ; attempt++) {
      // The head timer stops once the head is in, so it never cuts a long stream or body.
      const call = linkedSignal(signal, headMs, `Provider ${this.name} sent nothing within ${headMs} ms`)
      let unreachable = false
      const probe =
        head === 'list'
          ? undefined
          : setTimeout(() => {
              void canConnect(this.baseUrl, connectTimeoutMs).then((ok) => {
                if (ok) return
                unreachable = true
                call.expire(`Provider ${this.name} could not be connected to within ${connectTimeoutMs} ms`)
              })
            }, connectTimeoutMs)
      try {
        const res = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers: this.#headers(),
          ...(payload === undefined ? {} : { body: payload }),
          signal: call.signal,
        })
        call.stopTimer()
        clearTimeout(probe)
        if (res.ok) {
          this.#recordSuccess()
          this.#lastSuccess = new Date()
          if (method === 'POST') this.#lastEncrypted = this.#lastSuccess
          return res
        }
        const message = await readErrorMessage(res)
        call.release()
        if (FAULT_STATUS.has(res.status)) this.#recordFailure(`status ${res.status}`)
        else this.#recordSuccess()
        if (RETRYABLE_STATUS.has(res.status) && attempt < maxRetries && !signal.aborted) {
          await sleep(this.#backoff(attempt, res.headers.get('retry-after')))
          if (!this.breaker.allow()) throw upstreamError(res.status, null, this.name)
          continue
        }
        throw upstreamError(res.status, res.status < 500 ? message : null, this.name)
      } catch (err) {
        call.release()
        clearTimeout(probe)
        if (err instanceof ApiError) throw err
        // The client went away: nothing to say about the upstream. Its circuit is left as it was.
        if (signal.aborted) {
          this.breaker.abandon()
          throw err
        }
        const timedOut = call.timedOut
        const code = (err as { code?: unknown }).code
        const notSent = !timedOut && typeof code === 'string' && NOT_SENT.has(code)
        this.#recordFailure(timedOut ? (unreachable ? 'connect timeout' : 'timeout') : `connection failed (${String(code ?? 'unknown')})`)
        if (notSent && attempt < maxRetries && this.breaker.allow()) {
          await sleep(this.#backoff(attempt, null))
          continue
        }
        if (timedOut)
          throw new ApiError(
            'upstream_timeout',
            unreachable ? `Provider ${this.name} could not be connected to within ${connectTimeoutMs} ms` : `Provider ${this.name} sent nothing within ${headMs} ms`,
          )
        throw new ApiError('provider_unavailable', `Provider ${this.name} cannot be reached`, undefined, { 'retry-after': '1' })
      }
    }
  }

  get firstByteTimeoutMs(): number {
    return this.#settings.firstByteTimeoutMs
  }

  /**
   * A successful answer's body as text, read no further than UPSTREAM_MAX_RESPONSE_MB: an upstream that sends more is
   * at fault (502), and what it sent is not kept.
   */
  async readAnswer(res: Response): Promise<string> {
    const max = this.#settings.maxResponseBytes
    const text = await readCappedText(res, max)
    if (text === null)
      throw new ApiError('upstream_error', `Provider ${this.name} answered with more than ${max / (1024 * 1024)} MB (UPSTREAM_MAX_RESPONSE_MB)`)
    return text
  }

  get totalTimeoutMs(): number {
    return this.#settings.totalTimeoutMs
  }

  #recordFailure(reason: string) {
    const was = this.breaker.state
    this.breaker.failure()
    this.#lastError = `${new Date().toISOString()} ${reason}`
    if (was !== 'open' && this.breaker.state === 'open') this.#settings.onCircuit?.(this.name, 'open', reason)
  }

  #recordSuccess() {
    const was = this.breaker.state
    this.breaker.success()
    if (was !== 'closed') this.#settings.onCircuit?.(this.name, 'closed', null)
  }

  /** 100 ms, 200 ms, 400 ms ... with jitter; an upstream Retry-After is honoured up to 2 s. */
  #backoff(attempt: number, retryAfter: string | null): number {
    const hinted = retryAfter ? Number(retryAfter) * 1000 : NaN
    if (Number.isFinite(hinted) && hinted >= 0) return Math.min(hinted, 2000)
    return 100 * 2 ** attempt * (0.5 + Math.random() / 2)
  }
}

/**
 * What the first response of the upstream waits for, as Bun's fetch sees it: `list` comes at once (model lists:
 * the connect timeout bounds it); `prompt` with a stream's first event and `answer` with a whole non-streamed
 * answer (the first-byte timeout bounds both, and a connection check at the connect timeout tells a slow model from
 * an unreachable one).
 */
export type HeadWait = 'list' | 'prompt' | 'answer'
