import type { CacheStore } from '../cache/types.ts'
import type { Logger } from '../log.ts'

/** How often every replica re-reads administrative state anyway, in case a change's message was lost. */
export const RELOAD_MS = 5_000

export interface LiveStateOptions {
  cache: CacheStore
  log: Logger
  /** The pub/sub channel a change is announced on (namespaced by the cache's prefix). */
  channel: string
  /** Reads the state from the database into memory. */
  reload: () => Promise<void>
  /** What it is, for log lines. */
  what: string
  reloadMs?: number
}

/**
 * State administrators change at run time (settings, modules, roles), held in memory on every replica: read at start,
 * read again whenever some replica announces a change over the cache's pub/sub (within milliseconds, Redis or the
 * in-process cache), and every few seconds in case an announcement was lost (Redis restarting, say).
 *
 * @example
 * const live = new LiveState({ cache, log, channel: 'modules:changed', reload: () => modules.load(), what: 'modules' })
 * await live.start()
 * await live.changed() // after writing a change
 */
export class LiveState {
  readonly #o: Required<LiveStateOptions>
  #timer: ReturnType<typeof setInterval> | undefined
  #unsubscribe: (() => Promise<void>) | null = null
  #loading: Promise<void> | null = null
  #again = false

  constructor(options: LiveStateOptions) {
    this.#o = { reloadMs: RELOAD_MS, ...options }
  }

  /** Reloads once at a time; a request during a reload triggers one more after it (it may have missed the write). */
  reload(): Promise<void> {
    if (this.#loading) {
      this.#again = true
      return this.#loading
    }
    this.#loading = this.#o
      .reload()
      .finally(() => {
        this.#loading = null
        if (this.#again) {
          this.#again = false
          void this.reload().catch(() => {})
        }
      })
    return this.#loading
  }

  async start(): Promise<void> {
    await this.#o.reload()
    this.#unsubscribe = await this.#o.cache.subscribe(this.#o.channel, () => {
      this.reload().catch((err) => this.#o.log.warn({ err: (err as Error).message }, `${this.#o.what} reload failed`))
    })
    this.#timer = setInterval(() => {
      this.reload().catch((err) => this.#o.log.warn({ err: (err as Error).message }, `${this.#o.what} reload failed`))
    }, this.#o.reloadMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#unsubscribe?.()
    this.#unsubscribe = null
    await this.#loading?.catch(() => {})
  }

  /**
   * After a change was written: this replica reloads at once, the others when they hear of it. A broadcast that
   * fails (cache down) is logged; the others then catch up within `reloadMs`. Returns whether it was broadcast.
   */
  async changed(): Promise<boolean> {
    await this.reload()
    try {
      await this.#o.cache.publish(this.#o.channel, 'changed')
      return true
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, `${this.#o.what} change not broadcast; replicas reload within ${this.#o.reloadMs / 1000} s`)
      return false
    }
  }
}
