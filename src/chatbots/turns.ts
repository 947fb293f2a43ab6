import { ApiError } from '../http/errors.ts'

/**
 * One turn at a time per conversation on this replica, first come first served: a turn reads the history, asks the
 * model and appends its two messages before the next turn of that conversation starts, so the next one's history
 * holds it and the messages are stored in the order the turns arrived.
 *
 * Held in memory, not in the database: a turn lasts as long as the model takes (seconds, minutes for a long stream),
 * and a row or advisory lock held that long pins a pooled connection per waiting conversation (the embedded
 * database has one connection: it would deadlock against the gateway's own queries). Across replicas the append
 * itself locks the conversation row (ChatbotService), so each turn's two messages stay together; two replicas
 * answering one conversation at the very same moment may each miss the other's turn in their history.
 *
 * @example
 * const release = await turns.acquire(conversationId, request.signal)
 * try { ... } finally { release() }
 */
export class TurnQueue {
  readonly #tails = new Map<string, Promise<void>>()

  /** Resolves with `release` once the earlier turns of `key` released theirs; throws if `signal` aborts first. */
  async acquire(key: string, signal: AbortSignal): Promise<() => void> {
    const before = this.#tails.get(key)
    let finish = () => {}
    const mine = new Promise<void>((resolve) => (finish = resolve))
    const tail = before ? before.then(() => mine) : mine
    this.#tails.set(key, tail)
    const release = () => {
      finish()
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }
    if (before) {
      try {
        await untilAborted(before, signal)
      } catch (err) {
        // Giving up the place in the queue: whoever waits behind goes straight after the turn before.
        release()
        throw err
      }
    }
    return release
  }

  /** Conversations with a turn running or waiting (for tests and metrics). */
  get size(): number {
    return this.#tails.size
  }
}

function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new ApiError('upstream_error', 'The client went away'))
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new ApiError('upstream_error', 'The client went away'))
    signal.addEventListener('abort', onAbort, { once: true })
    void promise.then(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    })
  })
}
