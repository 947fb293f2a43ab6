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

export function windowResult(allowed: boolean, count: number, limit: number, resetMs: number): WindowResult {
  // Floored because it feeds `X-RateLimit-Remaining`, which must never promise more than fits.
  const remaining = Math.max(0, Math.floor(limit - count))
  return { allowed, limit, count, remaining, resetMs }
}
