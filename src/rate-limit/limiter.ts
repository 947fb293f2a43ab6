import type { CacheStore, WindowResult } from '../cache/types.ts'
import { ApiError } from '../http/errors.ts'
import type { Logger } from '../log.ts'

export interface RateLimits {
  perMinute: number
  perHour?: number | null | undefined
  perDay?: number | null | undefined
}

const WINDOWS = [
  ['minute', 60_000],
  ['hour', 3_600_000],
  ['day', 86_400_000],
] as const

interface Window {
  name: (typeof WINDOWS)[number][0]
  ms: number
  limit: number
}

/**
 * `Retry-After` is whole seconds; rounding up keeps the promise that waiting that long is enough. A refusal's wait is
 * at least 1 ms, so this is never 0.
 */
const seconds = (ms: number): string => String(Math.ceil(ms / 1000))

/**
 * Sliding-window request limits per subject (an API key, a user), shared by every replica through the cache store.
 * Fails open: when the cache is unreachable requests pass (and it is logged), since budgets, kept in PostgreSQL,
 * still guard the money.
 *
 * Headers (the minute window, on every response that got as far as the limiter):
 * - `X-RateLimit-Limit`: requests allowed per minute.
 * - `X-RateLimit-Remaining`: how many more would pass right now.
 * - `X-RateLimit-Reset`: seconds until the current fixed minute rolls over, after which the requests counted in it
 *   start to fade out of the sliding window (they are gone a minute later). It is not a promise that the full limit
 *   is back then; a refused caller should wait `Retry-After`.
 * - `Retry-After` (on a 429 only): whole seconds after which the same request passes, if nothing else is sent in
 *   between. It covers every window (minute, hour, day). Absent when the request can never pass.
 */
export class RateLimiter {
  readonly #cache: CacheStore
  readonly #log: Logger
  constructor(cache: CacheStore, log: Logger) {
    this.#cache = cache
    this.#log = log
  }

  /** Takes one request (or `cost` units) from each window; throws a 429 ApiError carrying the headers when over. */
  async take(subject: string, limits: RateLimits, headers: Record<string, string | number>, cost = 1): Promise<void> {
    const windows: Window[] = []
    for (const [name, ms] of WINDOWS) {
      const limit = name === 'minute' ? limits.perMinute : name === 'hour' ? limits.perHour : limits.perDay
      if (limit) windows.push({ name, ms, limit })
    }
    // Windows already passed counted this attempt too; a retry must also fit in them.
    let waitMs = 0
    for (const [i, window] of windows.entries()) {
      let result: WindowResult
      try {
        result = await this.#cache.hitWindow(`rl:${subject}:${window.name}`, window.limit, window.ms, cost)
      } catch (err) {
        this.#log.error({ err: (err as Error).message, subject }, 'rate limiter unavailable; failing open')
        return
      }
      if (window.name === 'minute') {
        headers['x-ratelimit-limit'] = String(window.limit)
        headers['x-ratelimit-remaining'] = String(Math.max(0, Math.floor(result.remaining)))
        headers['x-ratelimit-reset'] = seconds(result.resetMs)
      }
      if (result.allowed) {
        waitMs = Math.max(waitMs, result.retryMs ?? 0)
        continue
      }
      const sent = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]))
      if (result.retryMs === null)
        throw new ApiError('rate_limit_exceeded', neverFits(cost, window), undefined, sent)
      const full = [window]
      waitMs = Math.max(waitMs, result.retryMs)
      // The windows after this one were not reached; the request must fit in them as well once the wait is over.
      for (const later of windows.slice(i + 1)) {
        const peek = await this.#peek(subject, later, cost)
        if (!peek || peek.allowed) continue
        if (peek.retryMs === null) throw new ApiError('rate_limit_exceeded', neverFits(cost, later), undefined, sent)
        full.push(later)
        waitMs = Math.max(waitMs, peek.retryMs)
      }
      const reached = full.map((w) => `${w.limit} requests per ${w.name}`).join(' and ')
      throw new ApiError('rate_limit_exceeded', `Rate limit of ${reached} reached; retry in ${seconds(waitMs)} s`, undefined, {
        ...sent,
        'retry-after': seconds(waitMs),
      })
    }
  }

  /** Tokens per minute: admits a request whose estimated tokens still fit in the window. */
  async takeTokens(subject: string, perMinute: number, tokens: number): Promise<void> {
    let result
    try {
      result = await this.#cache.hitWindow(`tpm:${subject}`, perMinute, 60_000, tokens)
    } catch (err) {
      this.#log.error({ err: (err as Error).message, subject }, 'token limiter unavailable; failing open')
      return
    }
    if (result.allowed) return
    // As OpenAI does for a request larger than the limit: still 429, but without a Retry-After nobody could honour.
    if (result.retryMs === null)
      throw new ApiError(
        'rate_limit_exceeded',
        `This request needs ${tokens} tokens, more than the limit of ${perMinute} tokens per minute, so it can never pass; ` +
          'lower max_tokens or n, or shorten the prompt',
      )
    const retry = seconds(result.retryMs)
    throw new ApiError('rate_limit_exceeded', `Token limit of ${perMinute} tokens per minute reached; retry in ${retry} s`, undefined, {
      'retry-after': retry,
    })
  }

  /** Whether `cost` would fit in a window, taking nothing; null when the cache cannot say (the refusal stands anyway). */
  async #peek(subject: string, window: Window, cost: number): Promise<WindowResult | null> {
    try {
      return await this.#cache.hitWindow(`rl:${subject}:${window.name}`, window.limit, window.ms, cost, { take: false })
    } catch (err) {
      this.#log.error({ err: (err as Error).message, subject }, 'rate limiter unavailable while working out Retry-After')
      return null
    }
  }
}

function neverFits(cost: number, window: Window): string {
  return `This request counts as ${cost}, more than the limit of ${window.limit} requests per ${window.name}, so it can never pass`
}
