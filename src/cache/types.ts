/** Outcome of one attempt to take `cost` units from a sliding window. */
export interface WindowResult {
  allowed: boolean
  limit: number
  /** Weighted count in the window after this attempt (unchanged when denied). */
  count: number
  remaining: number
  /**
   * Milliseconds until the current fixed window rolls over: its count then starts to fade as the previous window's.
   * It feeds `X-RateLimit-Reset`; it is not how long a refused caller must wait (that is `retryMs`).
   */
  resetMs: number
  /**
   * Milliseconds until `cost` more units fit, given the window as this call left it, if nothing else arrives: for a
   * refused attempt the wait after which the same attempt passes, for an admitted one the wait before another like
   * it would. 0: it fits now. null: it never will, because `cost` alone exceeds `limit`.
   */
  retryMs: number | null
}

export interface HitWindowOptions {
  /** false: only report whether `cost` would fit, and when; nothing is taken. Default true. */
  take?: boolean | undefined
}

/**
 * The cache, rate-limit and invalidation store. Redis when `REDIS_URL` is set, in-process otherwise.
 * Every key is namespaced by the store's prefix, so several deployments (or test files) can share one Redis.
 */
export interface CacheStore {
  readonly kind: 'memory' | 'redis'
  get(key: string): Promise<string | null>
  /** `ttlMs` omitted: the key does not expire. */
  set(key: string, value: string, ttlMs?: number): Promise<void>
  delete(key: string): Promise<void>
  /** Atomically adds `by` and returns the new value; a new key gets `ttlMs` as its lifetime. */
  increment(key: string, by: number, ttlMs: number): Promise<number>
  /**
   * Sliding-window counter (previous window weighted by overlap + current window).
   * Takes `cost` units only when they fit under `limit`; a denied attempt takes nothing.
   */
  hitWindow(key: string, limit: number, windowMs: number, cost?: number, options?: HitWindowOptions): Promise<WindowResult>
  /** Fan-out to every replica subscribed to `channel` (this one included). */
  publish(channel: string, message: string): Promise<void>
  /** Returns a function that unsubscribes. */
  subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>>
  /** Throws when the backend is unreachable. */
  ping(): Promise<void>
  close(): Promise<void>
}
