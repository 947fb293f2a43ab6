import type { WindowResult } from './types.ts'

/** Where a subscriber's exception goes; a throwing handler must never break delivery to the others. */
export type HandlerErrorSink = (err: unknown, channel: string) => void

export const defaultHandlerErrorSink: HandlerErrorSink = (err, channel) => {
  // A swallowed invalidation bug is worse than a noisy one, and the cache has no logger of its own.
  console.error(`[cache] subscriber for channel "${channel}" threw`, err)
}

export function checkTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`)
}

export function checkIncrement(by: number, ttlMs: number): void {
  // Redis INCRBY only takes integers; the memory store refuses the same inputs so both behave alike.
  if (!Number.isSafeInteger(by)) throw new RangeError(`increment must be a safe integer, got ${by}`)
  checkTtl(ttlMs)
}

export function checkWindow(limit: number, windowMs: number, cost: number): void {
  if (!Number.isFinite(limit) || limit < 0) throw new RangeError(`limit must be a non-negative number, got ${limit}`)
  if (!Number.isFinite(windowMs) || windowMs <= 0) throw new RangeError(`windowMs must be a positive number, got ${windowMs}`)
  // A negative cost would refund units and let one caller lift another's limit.
  if (!Number.isFinite(cost) || cost < 0) throw new RangeError(`cost must be a non-negative number, got ${cost}`)
}

export interface WindowSlot {
  index: number
  /** Milliseconds since the current fixed window started. */
  elapsed: number
  resetMs: number
}

export function windowSlot(now: number, windowMs: number): WindowSlot {
  const index = Math.floor(now / windowMs)
  const elapsed = now - index * windowMs
  return { index, elapsed, resetMs: windowMs - elapsed }
}

/** Both backends keep a window's counter under this key, so a sweep or SCAN can find them alike. */
export function windowKey(key: string, index: number): string {
  return `rl:${key}:${index}`
}

/** Window counters outlive their own window by one, because the next window still weighs them. */
export function windowTtl(windowMs: number): number {
  return Math.ceil(2 * windowMs)
}

/** The weighted count: the previous window's count, fading linearly as this window runs, plus this window's. */
export function windowWeight(prev: number, curr: number, elapsed: number, windowMs: number): number {
  return prev * (1 - elapsed / windowMs) + curr
}

/**
 * The least whole number of milliseconds after which `cost` more units fit, if nothing else arrives; 0 when they
 * fit now, null when they never will (`cost` alone exceeds `limit`). Until the rollover the previous window's share
 * fades; after it this window's count becomes the previous one and fades in turn; two windows on nothing is left.
 * The weighted count never rises while nothing arrives (in floating point too), so a binary search finds the first
 * millisecond that fits, judged with the admission test's own arithmetic (the Lua script's as well): no rounding can
 * turn "wait this long" into one more refusal, and 1 ms less would still be refused.
 */
export function windowRetryMs(
  prev: number,
  curr: number,
  elapsed: number,
  windowMs: number,
  limit: number,
  cost: number,
): number | null {
  if (cost > limit) return null
  const fitsAfter = (wait: number): boolean => {
    const at = elapsed + wait
    const weighted =
      at < windowMs ? windowWeight(prev, curr, at, windowMs) : at < 2 * windowMs ? windowWeight(curr, 0, at - windowMs, windowMs) : 0
    return weighted + cost <= limit
  }
  if (fitsAfter(0)) return 0
  // Refused at `early`, admitted at `late`: two windows on the count is 0, and cost <= limit.
  let early = 0
  let late = Math.max(1, Math.ceil(2 * windowMs - elapsed))
  while (late - early > 1) {
    const mid = Math.floor((early + late) / 2)
    if (fitsAfter(mid)) late = mid
    else early = mid
  }
  return late
}

export function windowResult(allowed: boolean, count: number, limit: number, resetMs: number, retryMs: number | null): WindowResult {
  // Floored because it feeds `X-RateLimit-Remaining`, which must never promise more than fits.
  const remaining = Math.max(0, Math.floor(limit - count))
  return { allowed, limit, count, remaining, resetMs, retryMs }
}
