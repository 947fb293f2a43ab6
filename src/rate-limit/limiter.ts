import type { CacheStore } from '../cache/types.ts'
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

/**
 * Sliding-window request limits per subject (an API key, a user), shared by every replica through the cache
 * store. The minute window's state goes out as X-RateLimit-* headers on every response. Fails open: when the
 * cache is unreachable requests pass (and it is logged), since budgets, kept in PostgreSQL, still guard the money.
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
    for (const [name, ms] of WINDOWS) {
      const limit = name === 'minute' ? limits.perMinute : name === 'hour' ? limits.perHour : limits.perDay
      if (!limit) continue
      let result
      try {
        result = await this.#cache.hitWindow(`rl:${subject}:${name}`, limit, ms, cost)
      } catch (err) {
        this.#log.error({ err: (err as Error).message, subject }, 'rate limiter unavailable; failing open')
        return
      }
      const reset = String(Math.ceil(result.resetMs / 1000))
      if (name === 'minute') {
        headers['x-ratelimit-limit'] = String(limit)
        headers['x-ratelimit-remaining'] = String(Math.max(0, Math.floor(result.remaining)))
        headers['x-ratelimit-reset'] = reset
      }
      if (!result.allowed)
        throw new ApiError('rate_limit_exceeded', `Rate limit of ${limit} requests per ${name} reached; retry in ${reset} s`, undefined, {
          ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])),
          'retry-after': reset,
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
    if (!result.allowed) {
      const reset = String(Math.ceil(result.resetMs / 1000))
      throw new ApiError('rate_limit_exceeded', `Token limit of ${perMinute} tokens per minute reached; retry in ${reset} s`, undefined, {
        'retry-after': reset,
      })
    }
  }
}
