import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'

/**
 * Counts key use in memory and writes it in batches, off the request path. A failed flush puts the counts back
 * so nothing is lost; stop() flushes what is left.
 */
export class KeyUsageRecorder {
  readonly #sql: Sql
  readonly #log: Logger
  #pending = new Map<string, number>()
  #timer: ReturnType<typeof setInterval> | null = null

  constructor(sql: Sql, log: Logger, readonly intervalMs = 5000) {
    this.#sql = sql
    this.#log = log
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.intervalMs)
    this.#timer.unref?.()
  }

  touch(keyId: string): void {
    this.#pending.set(keyId, (this.#pending.get(keyId) ?? 0) + 1)
  }

  async flush(): Promise<void> {
    if (this.#pending.size === 0) return
    const batch = this.#pending
    this.#pending = new Map()
    const ids = [...batch.keys()]
    try {
      await this.#sql`
        UPDATE api_keys k SET request_count = k.request_count + u.n, last_used_at = now()
        FROM unnest(${ids}::uuid[], ${[...batch.values()]}::int[]) AS u(id, n)
        WHERE k.id = u.id AND k.id = ANY(${ids}::uuid[])`
    } catch (err) {
      for (const [id, n] of batch) this.#pending.set(id, (this.#pending.get(id) ?? 0) + n)
      this.#log.error({ err }, 'api key usage flush failed; will retry')
    }
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    await this.flush()
  }
}
