import { ClientOfflineError, createClient, type RedisClientType } from 'redis'
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
  type HandlerErrorSink,
} from './common.ts'
import { HIT_WINDOW, INCREMENT, runScript, type ScriptReply } from './redis-scripts.ts'
import type { CacheStore, HitWindowOptions, WindowResult } from './types.ts'

export interface RedisCacheOptions {
  onHandlerError?: HandlerErrorSink | undefined
}

/** Failed attempts tolerated before the first successful connect; afterwards the client retries forever. */
const INITIAL_CONNECT_RETRIES = 5
const BACKOFF_BASE_MS = 50
const BACKOFF_CAP_MS = 2_000
/** A half-open socket never errors on its own; a health check must not wait on it indefinitely. */
const PING_TIMEOUT_MS = 2_000

export class RedisCache implements CacheStore {
  readonly kind = 'redis' as const
  #client: RedisClientType
  #url: string
  #prefix: string
  #onHandlerError: HandlerErrorSink
  #subscriber: Promise<RedisClientType> | undefined
  #closed = false

  private constructor(client: RedisClientType, url: string, prefix: string, onHandlerError: HandlerErrorSink) {
    this.#client = client
    this.#url = url
    this.#prefix = prefix
    this.#onHandlerError = onHandlerError
  }

  /** Rejects when Redis stays unreachable through the first few attempts, so a bad `REDIS_URL` fails boot instead of hanging it. */
  static async connect(url: string, prefix: string, options: RedisCacheOptions = {}): Promise<RedisCache> {
    const client = await connectClient(url)
    return new RedisCache(client, url, prefix, options.onHandlerError ?? defaultHandlerErrorSink)
  }

  async get(key: string): Promise<string | null> {
    return this.#client.get(this.#key(key))
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    if (ttlMs === undefined) {
      await this.#client.set(this.#key(key), value)
      return
    }
    checkTtl(ttlMs)
    await this.#client.set(this.#key(key), value, { expiration: { type: 'PX', value: Math.ceil(ttlMs) } })
  }

  async delete(key: string): Promise<void> {
    await this.#client.del(this.#key(key))
  }

  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    checkIncrement(by, ttlMs)
    const reply = await runScript(this.#client, INCREMENT, [this.#key(key)], [String(by), String(Math.ceil(ttlMs))])
    if (typeof reply !== 'number') throw new TypeError(`unexpected increment reply: ${String(reply)}`)
    return reply
  }

  async hitWindow(key: string, limit: number, windowMs: number, cost = 1, options: HitWindowOptions = {}): Promise<WindowResult> {
    checkWindow(limit, windowMs, cost)
    // The window index comes from this replica's clock so the script can declare both keys up front;
    // replica clock skew only shifts weight between adjacent windows by a few ms.
    const slot = windowSlot(Date.now(), windowMs)
    const keys = [this.#key(windowKey(key, slot.index)), this.#key(windowKey(key, slot.index - 1))]
    const take = options.take === false ? 0 : 1
    const args = [limit, cost, slot.elapsed, windowMs, windowTtl(windowMs), take].map(String)
    const { allowed, count, prev, curr } = parseWindowReply(await runScript(this.#client, HIT_WINDOW, keys, args))
    return windowResult(allowed, count, limit, slot.resetMs, windowRetryMs(prev, curr, slot.elapsed, windowMs, limit, cost))
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#client.publish(this.#key(channel), message)
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    if (this.#closed) throw new Error('RedisCache is closed')
    const subscriber = await this.#subscriberClient()
    // SUBSCRIBE bypasses the disabled offline queue and would otherwise wait out the whole outage.
    if (!subscriber.isReady) throw new ClientOfflineError()
    const fullChannel = this.#key(channel)
    const listener = (message: string): void => {
      // node-redis calls listeners from its reply parser; a throw there would corrupt the connection.
      try {
        handler(message)
      } catch (err) {
        this.#onHandlerError(err, channel)
      }
    }
    await subscriber.subscribe(fullChannel, listener)
    let active = true
    return async () => {
      if (!active || !subscriber.isOpen) return
      active = false
      // node-redis detaches the listener synchronously; the server-side UNSUBSCRIBE is only bookkeeping,
      // and while offline it would wait for the reconnect, which never resubscribes a listener-less channel anyway.
      const done = subscriber.unsubscribe(fullChannel, listener)
      if (subscriber.isReady) await done
      else done.catch(() => {})
    }
  }

  async ping(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer PING within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS)
    })
    try {
      await Promise.race([this.#client.ping(), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const subscriber = this.#subscriber
    this.#subscriber = undefined
    await Promise.all([
      closeClient(this.#client),
      subscriber?.then(closeClient, () => {}),
    ])
  }

  #key(key: string): string {
    return this.#prefix + key
  }

  /** Lazy: replicas that never subscribe should not hold a second connection. */
  #subscriberClient(): Promise<RedisClientType> {
    if (this.#subscriber) return this.#subscriber
    const pending = connectClient(this.#url)
    this.#subscriber = pending
    // Forget a failed attempt so the next subscribe retries instead of replaying the old rejection.
    pending.catch(() => {
      if (this.#subscriber === pending) this.#subscriber = undefined
    })
    return pending
  }
}

/**
 * A fresh client per connection rather than `duplicate()`: each needs its own first-connect retry budget,
 * which lives in the reconnect strategy's closure.
 */
async function connectClient(url: string): Promise<RedisClientType> {
  let everReady = false
  const client: RedisClientType = createClient({
    url,
    // Commands fail fast while disconnected instead of piling up until Redis returns.
    disableOfflineQueue: true,
    socket: {
      reconnectStrategy: (retries, cause) => {
        if (!everReady && retries >= INITIAL_CONNECT_RETRIES) return cause
        const backoff = Math.min(BACKOFF_BASE_MS * 2 ** retries, BACKOFF_CAP_MS)
        // Jitter keeps a fleet of replicas from reconnecting in lockstep after a Redis restart.
        return backoff + Math.floor(Math.random() * BACKOFF_BASE_MS)
      },
    },
  })
  client.on('ready', () => {
    everReady = true
  })
  // Without a listener an 'error' event would crash the process; health is reported through ping().
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (err) {
    client.destroy()
    // The URL stays out of the message: it may carry a password.
    throw new Error('could not connect to Redis', { cause: err })
  }
  return client
}

async function closeClient(client: RedisClientType): Promise<void> {
  // close() throws on a client that already gave up; destroy() is the idempotent way out.
  if (client.isOpen) await client.close()
  else client.destroy()
}

function parseWindowReply(reply: ScriptReply): { allowed: boolean; count: number; prev: number; curr: number } {
  if (Array.isArray(reply) && reply.length === 4) {
    const [allowed, ...rest] = reply
    const [count = Number.NaN, prev = Number.NaN, curr = Number.NaN] = rest.map((n) => (typeof n === 'string' ? Number(n) : Number.NaN))
    if ((allowed === 0 || allowed === 1) && [count, prev, curr].every(Number.isFinite)) return { allowed: allowed === 1, count, prev, curr }
  }
  throw new TypeError(`unexpected hitWindow reply: ${JSON.stringify(reply)}`)
}
