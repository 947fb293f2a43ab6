import {
  checkIncrement,
  checkTtl,
  checkWindow,
  defaultHandlerErrorSink,
  windowKey,
  windowResult,
  windowRetryMs,
  windowSlot,
  windowTtl,
  windowWeight,
  type HandlerErrorSink,
} from './common.ts'
import type { CacheStore, HitWindowOptions, WindowResult } from './types.ts'

interface Entry {
  value: string
  /** Epoch ms; absent when the key does not expire. */
  expiresAt?: number
}

interface Subscription {
  handler: (message: string) => void
}

export interface MemoryCacheOptions {
  /** How often expired keys nobody reads again are dropped. */
  sweepIntervalMs?: number | undefined
  onHandlerError?: HandlerErrorSink | undefined
}

const DEFAULT_SWEEP_MS = 30_000

/** Single-process store: right for one replica or tests; counters and pub/sub do not cross processes. */
export class MemoryCache implements CacheStore {
  readonly kind = 'memory' as const
  #entries = new Map<string, Entry>()
  #channels = new Map<string, Set<Subscription>>()
  #onHandlerError: HandlerErrorSink
  #sweeper: ReturnType<typeof setInterval> | undefined
  #closed = false

  constructor(options: MemoryCacheOptions = {}) {
    this.#onHandlerError = options.onHandlerError ?? defaultHandlerErrorSink
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? DEFAULT_SWEEP_MS)
    // The sweep is housekeeping; it must not keep a finished process (or test run) alive.
    this.#sweeper.unref()
  }

  async get(key: string): Promise<string | null> {
    this.#assertOpen()
    return this.#live(key, Date.now())?.value ?? null
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.#assertOpen()
    if (ttlMs === undefined) {
      this.#entries.set(key, { value })
      return
    }
    checkTtl(ttlMs)
    this.#entries.set(key, { value, expiresAt: Date.now() + ttlMs })
  }

  async delete(key: string): Promise<void> {
    this.#assertOpen()
    this.#entries.delete(key)
  }

  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    this.#assertOpen()
    checkIncrement(by, ttlMs)
    const now = Date.now()
    const entry = this.#live(key, now)
    if (!entry) {
      this.#entries.set(key, { value: String(by), expiresAt: now + ttlMs })
      return by
    }
    const current = Number(entry.value)
    // Mirrors Redis, which refuses INCRBY on a value that is not an integer.
    if (!/^-?\d+$/.test(entry.value) || !Number.isSafeInteger(current)) {
      throw new TypeError(`value at "${key}" is not an integer`)
    }
    const next = current + by
    entry.value = String(next)
    return next
  }

  async hitWindow(key: string, limit: number, windowMs: number, cost = 1, options: HitWindowOptions = {}): Promise<WindowResult> {
    this.#assertOpen()
    checkWindow(limit, windowMs, cost)
    const now = Date.now()
    const slot = windowSlot(now, windowMs)
    const currKey = windowKey(key, slot.index)
    const curr = this.#count(currKey, now)
    const prev = this.#count(windowKey(key, slot.index - 1), now)
    const weighted = windowWeight(prev, curr, slot.elapsed, windowMs)
    const retryAfter = (left: number) => windowRetryMs(prev, left, slot.elapsed, windowMs, limit, cost)
    if (weighted + cost > limit) return windowResult(false, weighted, limit, slot.resetMs, retryAfter(curr))
    if (options.take === false) return windowResult(true, weighted, limit, slot.resetMs, 0)
    this.#entries.set(currKey, { value: String(curr + cost), expiresAt: now + windowTtl(windowMs) })
    return windowResult(true, weighted + cost, limit, slot.resetMs, retryAfter(curr + cost))
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#assertOpen()
    const subs = this.#channels.get(channel)
    if (!subs) return
    for (const sub of subs) {
      // One microtask per handler: delivery is async like Redis, and a throw stays with its handler.
      queueMicrotask(() => {
        // Re-checked at delivery so an unsubscribe that lands before the microtask runs is honoured.
        if (!this.#channels.get(channel)?.has(sub)) return
        try {
          sub.handler(message)
        } catch (err) {
          this.#onHandlerError(err, channel)
        }
      })
    }
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    this.#assertOpen()
    // A fresh wrapper per call so subscribing one function twice yields two independent unsubscribes.
    const sub: Subscription = { handler }
    let subs = this.#channels.get(channel)
    if (!subs) {
      subs = new Set()
      this.#channels.set(channel, subs)
    }
    subs.add(sub)
    return async () => {
      const current = this.#channels.get(channel)
      if (!current) return
      current.delete(sub)
      if (current.size === 0) this.#channels.delete(channel)
    }
  }

  async ping(): Promise<void> {
    this.#assertOpen()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#sweeper)
    this.#sweeper = undefined
    this.#entries.clear()
    this.#channels.clear()
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('MemoryCache is closed')
  }

  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key)
    if (!entry) return undefined
    if (entry.expiresAt !== undefined && entry.expiresAt <= now) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  #count(key: string, now: number): number {
    const entry = this.#live(key, now)
    if (!entry) return 0
    const count = Number(entry.value)
    // Mirrors the Lua script erroring on a foreign value: NaN would compare false and allow everything.
    if (!Number.isFinite(count)) throw new TypeError(`value at "${key}" is not a number`)
    return count
  }

  #sweep(): void {
    const now = Date.now()
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.#entries.delete(key)
    }
  }
}
