import { afterAll, beforeAll, describe, expect, setSystemTime, test } from 'bun:test'
import { createClient, type RedisClientType } from 'redis'
import type { HandlerErrorSink } from './common.ts'
import { MemoryCache, openCache, type CacheStore } from './index.ts'
import { RedisCache } from './redis.ts'
import { dropRedisPrefix, TcpProxy, waitFor } from './testing.ts'

const REDIS_URL = process.env.REDIS_URL ?? ''
/** Every key and channel this run creates lives under it, so runs sharing one Redis never collide and cleanup is one SCAN. */
const RUN_PREFIX = `test:${crypto.randomUUID()}:`
/** Long enough that a test essentially never straddles a window boundary, which would weight counts. */
const HOUR = 3_600_000

let seq = 0
const unique = (label: string): string => `${label}:${++seq}`
const quietSink: HandlerErrorSink = () => {}

interface Backend {
  name: 'memory' | 'redis'
  skip: boolean
  open(prefix: string, onHandlerError?: HandlerErrorSink): Promise<CacheStore>
}

const backends: Backend[] = [
  {
    name: 'memory',
    skip: false,
    open: async (_prefix, onHandlerError = quietSink) => new MemoryCache({ onHandlerError }),
  },
  {
    name: 'redis',
    skip: !process.env.REDIS_URL,
    open: (prefix, onHandlerError = quietSink) => RedisCache.connect(REDIS_URL, RUN_PREFIX + prefix, { onHandlerError }),
  },
]

afterAll(async () => {
  if (REDIS_URL) await dropRedisPrefix(REDIS_URL, RUN_PREFIX)
})

for (const backend of backends) {
  describe.skipIf(backend.skip)(`CacheStore contract: ${backend.name}`, () => {
    let store: CacheStore
    const handlerErrors: unknown[] = []

    beforeAll(async () => {
      store = await backend.open('contract:', (err) => handlerErrors.push(err))
    })
    afterAll(async () => {
      await store.close()
    })

    test('reports its kind', () => {
      expect(store.kind).toBe(backend.name)
    })

    test('get / set / delete', async () => {
      const key = unique('kv')
      expect(await store.get(key)).toBeNull()
      await store.set(key, 'one')
      expect(await store.get(key)).toBe('one')
      await store.set(key, 'two')
      expect(await store.get(key)).toBe('two')
      await store.delete(key)
      expect(await store.get(key)).toBeNull()
      await store.delete(key)
    })

    test('keys with a ttl expire; keys without one do not', async () => {
      const shortLived = unique('ttl')
      const permanent = unique('ttl')
      await store.set(shortLived, 'v', 80)
      await store.set(permanent, 'v')
      expect(await store.get(shortLived)).toBe('v')
      await Bun.sleep(200)
      expect(await store.get(shortLived)).toBeNull()
      expect(await store.get(permanent)).toBe('v')
    })

    test('set without a ttl clears an earlier ttl', async () => {
      const key = unique('ttl')
      await store.set(key, 'a', 80)
      await store.set(key, 'b')
      await Bun.sleep(200)
      expect(await store.get(key)).toBe('b')
    })

    test('rejects a non-positive ttl', async () => {
      await expect(store.set(unique('ttl'), 'v', 0)).rejects.toBeInstanceOf(RangeError)
      await expect(store.increment(unique('ttl'), 1, -5)).rejects.toBeInstanceOf(RangeError)
    })

    test('increment adds and returns the new value', async () => {
      const key = unique('inc')
      expect(await store.increment(key, 5, HOUR)).toBe(5)
      expect(await store.increment(key, 2, HOUR)).toBe(7)
      expect(await store.increment(key, -10, HOUR)).toBe(-3)
      expect(await store.get(key)).toBe('-3')
    })

    test('200 concurrent increments land exactly once each', async () => {
      const key = unique('inc')
      const results = await Promise.all(Array.from({ length: 200 }, () => store.increment(key, 1, HOUR)))
      expect(await store.get(key)).toBe('200')
      // Every intermediate value was handed out exactly once: no two callers saw the same count.
      expect(new Set(results).size).toBe(200)
    })

    test('increment gives a new key its ttl and does not extend it later', async () => {
      const key = unique('inc')
      await store.increment(key, 1, 200)
      await Bun.sleep(120)
      expect(await store.increment(key, 1, 200)).toBe(2)
      await Bun.sleep(150)
      expect(await store.get(key)).toBeNull()
      expect(await store.increment(key, 1, 200)).toBe(1)
    })

    test('increment refuses fractional steps and non-integer values', async () => {
      const key = unique('inc')
      await expect(store.increment(key, 1.5, HOUR)).rejects.toBeInstanceOf(RangeError)
      await store.set(key, 'not a number')
      await expect(store.increment(key, 1, HOUR)).rejects.toThrow()
      expect(await store.get(key)).toBe('not a number')
    })

    test('hitWindow allows up to the limit with costs, then denies', async () => {
      const key = unique('rl')
      expect(await store.hitWindow(key, 5, HOUR, 2)).toMatchObject({ allowed: true, limit: 5, count: 2, remaining: 3 })
      expect(await store.hitWindow(key, 5, HOUR, 3)).toMatchObject({ allowed: true, limit: 5, count: 5, remaining: 0 })
      expect(await store.hitWindow(key, 5, HOUR)).toMatchObject({ allowed: false, limit: 5, count: 5, remaining: 0 })
      // A zero cost peeks without taking anything.
      expect(await store.hitWindow(key, 5, HOUR, 0)).toMatchObject({ allowed: true, count: 5 })
    })

    test('a denied hit takes nothing', async () => {
      const key = unique('rl')
      expect((await store.hitWindow(key, 5, HOUR, 4)).allowed).toBe(true)
      expect(await store.hitWindow(key, 5, HOUR, 2)).toMatchObject({ allowed: false, count: 4, remaining: 1 })
      expect(await store.hitWindow(key, 5, HOUR, 1)).toMatchObject({ allowed: true, count: 5, remaining: 0 })
    })

    test('a cost above the limit is denied even on a fresh key', async () => {
      const result = await store.hitWindow(unique('rl'), 3, HOUR, 4)
      expect(result).toMatchObject({ allowed: false, count: 0, remaining: 3, limit: 3 })
    })

    test('resetMs counts down to the end of the current fixed window', async () => {
      const windowMs = 10_000
      const expected = windowMs - (Date.now() % windowMs)
      const { resetMs } = await store.hitWindow(unique('rl'), 1, windowMs)
      expect(resetMs).toBeGreaterThan(0)
      expect(resetMs).toBeLessThanOrEqual(windowMs)
      expect(Math.abs(resetMs - expected)).toBeLessThan(1_000)
    })

    test('the previous window still weighs on the next one, then fades', async () => {
      const key = unique('rl')
      const windowMs = 300
      // Start at a window boundary so the fill and the checks land in known windows.
      await Bun.sleep((await store.hitWindow(key, 10, windowMs, 0)).resetMs + 5)
      expect((await store.hitWindow(key, 10, windowMs, 10)).allowed).toBe(true)
      await Bun.sleep((await store.hitWindow(key, 10, windowMs, 0)).resetMs + 20)
      // Early in the next window most of the previous 10 still count, so 5 more do not fit.
      const carried = await store.hitWindow(key, 10, windowMs, 5)
      expect(carried.allowed).toBe(false)
      expect(carried.count).toBeGreaterThan(5)
      expect(carried.count).toBeLessThan(10)
      await Bun.sleep(2 * windowMs + 20)
      expect(await store.hitWindow(key, 10, windowMs, 10)).toMatchObject({ allowed: true, count: 10 })
    })

    test('retryMs is the least wait after which the same hit passes, to the millisecond', async () => {
      const windowMs = 60_000
      // In the future and on a window boundary, so each case's windows are known and hold nothing else.
      const t0 = Date.UTC(2031, 0, 1)
      // A seeded generator: any failure reproduces. Fractional costs exercise the float arithmetic both stores share.
      let seed = 0x2f6b3a1d
      const random = () => {
        seed = (seed + 0x6d2b79f5) | 0
        let r = Math.imul(seed ^ (seed >>> 15), 1 | seed)
        r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
        return ((r ^ (r >>> 14)) >>> 0) / 4294967296
      }
      try {
        for (let i = 0; i < 40; i++) {
          const key = unique('retry')
          const limit = 1 + Math.floor(random() * 1_000)
          const prev = random() < 0.2 ? 0 : Math.floor(random() * limit * 100) / 100
          const elapsed = Math.floor(random() * windowMs)
          if (prev > 0) {
            setSystemTime(t0 + Math.floor(random() * windowMs))
            expect((await store.hitWindow(key, limit, windowMs, prev)).allowed).toBe(true)
          }
          const now = t0 + windowMs + elapsed
          setSystemTime(now)
          const room = limit - prev * (1 - elapsed / windowMs)
          const curr = random() < 0.2 ? 0 : Math.floor(random() * room * 100) / 100
          if (curr > 0) expect((await store.hitWindow(key, limit, windowMs, curr)).allowed).toBe(true)
          const left = room - curr
          // Nearly nothing counted: no cost up to the limit is refused.
          if (limit - left < 0.01) continue
          const cost = Math.min(limit, left + 0.01 + Math.floor(random() * (limit - left) * 100) / 100)
          const refused = await store.hitWindow(key, limit, windowMs, cost)
          const where = { i, limit, prev, elapsed, curr, cost }
          expect({ ...where, allowed: refused.allowed }).toEqual({ ...where, allowed: false })
          const wait = refused.retryMs ?? Number.NaN
          expect(wait).toBeGreaterThan(0)
          setSystemTime(now + wait - 1)
          expect({ ...where, wait, early: (await store.hitWindow(key, limit, windowMs, cost)).allowed }).toEqual({ ...where, wait, early: false })
          setSystemTime(now + wait)
          expect({ ...where, wait, onTime: (await store.hitWindow(key, limit, windowMs, cost)).allowed }).toEqual({ ...where, wait, onTime: true })
        }
      } finally {
        setSystemTime()
      }
    })

    test('retryMs: 0 when it fits, the wait for another like it after a hit, null when the cost exceeds the limit', async () => {
      const windowMs = 60_000
      const t0 = Date.UTC(2031, 0, 1)
      try {
        setSystemTime(t0 + 15_000)
        const key = unique('retry')
        expect((await store.hitWindow(key, 4, windowMs, 2)).retryMs).toBe(0)
        // 4 of 4 now; 2 more fit once 4 × (1 − e/60 s) ≤ 2 after the rollover, at e = 30 s: 45 s + 30 s.
        expect(await store.hitWindow(key, 4, windowMs, 2)).toMatchObject({ allowed: true, remaining: 0, retryMs: 75_000 })
        expect(await store.hitWindow(key, 4, windowMs, 2)).toMatchObject({ allowed: false, retryMs: 75_000 })
        expect(await store.hitWindow(key, 4, windowMs, 5)).toMatchObject({ allowed: false, retryMs: null })
        expect(await store.hitWindow(unique('retry'), 4, windowMs, 5)).toMatchObject({ allowed: false, retryMs: null })
      } finally {
        setSystemTime()
      }
    })

    test('take: false answers whether the cost fits, and when, without taking it', async () => {
      const key = unique('rl')
      expect(await store.hitWindow(key, 5, HOUR, 3, { take: false })).toMatchObject({ allowed: true, count: 0, remaining: 5, retryMs: 0 })
      expect(await store.hitWindow(key, 5, HOUR, 3)).toMatchObject({ allowed: true, count: 3 })
      const look = await store.hitWindow(key, 5, HOUR, 3, { take: false })
      expect(look).toMatchObject({ allowed: false, count: 3, remaining: 2 })
      expect(look.retryMs).toBeGreaterThan(0)
      expect(await store.hitWindow(key, 5, HOUR, 2, { take: false })).toMatchObject({ allowed: true, count: 3 })
      expect(await store.hitWindow(key, 5, HOUR, 2)).toMatchObject({ allowed: true, count: 5 })
    })

    test('hitWindow rejects nonsensical arguments', async () => {
      await expect(store.hitWindow(unique('rl'), 5, HOUR, -1)).rejects.toBeInstanceOf(RangeError)
      await expect(store.hitWindow(unique('rl'), 5, 0)).rejects.toBeInstanceOf(RangeError)
    })

    test('publish reaches every subscriber of the channel, asynchronously', async () => {
      const channel = unique('ch')
      const first: string[] = []
      const second: string[] = []
      const stopFirst = await store.subscribe(channel, (m) => first.push(m))
      const stopSecond = await store.subscribe(channel, (m) => second.push(m))
      const published = store.publish(channel, 'hello')
      expect(first).toEqual([])
      await published
      await waitFor(() => first.length === 1 && second.length === 1)
      expect(first).toEqual(['hello'])
      expect(second).toEqual(['hello'])
      await stopFirst()
      await stopSecond()
    })

    test('other channels are not delivered', async () => {
      const channel = unique('ch')
      const got: string[] = []
      const stop = await store.subscribe(channel, (m) => got.push(m))
      await store.publish(unique('ch'), 'elsewhere')
      await store.publish(channel, 'mine')
      await waitFor(() => got.length > 0)
      expect(got).toEqual(['mine'])
      await stop()
    })

    test('unsubscribe stops delivery', async () => {
      const channel = unique('ch')
      const gone: string[] = []
      const staying: string[] = []
      const stopGone = await store.subscribe(channel, (m) => gone.push(m))
      const stopStaying = await store.subscribe(channel, (m) => staying.push(m))
      await stopGone()
      await stopGone()
      await store.publish(channel, 'after')
      // Delivery is ordered per channel, so once the remaining subscriber has it the other never will.
      await waitFor(() => staying.length === 1)
      expect(gone).toEqual([])
      await stopStaying()
    })

    test('a throwing handler does not stop the others', async () => {
      const channel = unique('ch')
      const got: string[] = []
      const before = handlerErrors.length
      const stopBad = await store.subscribe(channel, () => {
        throw new Error('boom')
      })
      const stopGood = await store.subscribe(channel, (m) => got.push(m))
      await store.publish(channel, 'one')
      await store.publish(channel, 'two')
      await waitFor(() => got.length === 2)
      expect(got).toEqual(['one', 'two'])
      expect(handlerErrors.length - before).toBe(2)
      await stopBad()
      await stopGood()
    })

    test('ping succeeds while open and fails after close', async () => {
      const own = await backend.open('closing:')
      await own.ping()
      await own.close()
      await own.close()
      await expect(own.ping()).rejects.toThrow()
    })
  })
}

describe.skipIf(!process.env.REDIS_URL)('RedisCache across replicas', () => {
  const opened: CacheStore[] = []
  const open = async (prefix: string): Promise<CacheStore> => {
    const store = await RedisCache.connect(REDIS_URL, RUN_PREFIX + prefix, { onHandlerError: quietSink })
    opened.push(store)
    return store
  }
  // Created in the hook so a skipped suite builds no client at all.
  let raw: RedisClientType

  beforeAll(async () => {
    raw = createClient({ url: REDIS_URL })
    await raw.connect()
  })

  afterAll(async () => {
    await Promise.all(opened.map((store) => store.close()))
    await raw.close()
  })

  test('keys live under the prefix, window counters carry a bounded ttl', async () => {
    const store = await open('layout:')
    await store.set('plain', 'v')
    expect(await raw.get(`${RUN_PREFIX}layout:plain`)).toBe('v')
    const windowMs = 60_000
    const index = Math.floor(Date.now() / windowMs)
    await store.hitWindow('client', 10, windowMs)
    const ttl = await raw.pTTL(`${RUN_PREFIX}layout:rl:client:${index}`)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(2 * windowMs)
  })

  test('replicas with the same prefix share state and see each other’s publishes', async () => {
    const a = await open('shared:')
    const b = await open('shared:')
    const seenByA: string[] = []
    const seenByB: string[] = []
    const stopA = await a.subscribe('invalidate', (m) => seenByA.push(m))
    const stopB = await b.subscribe('invalidate', (m) => seenByB.push(m))
    await b.publish('invalidate', 'user:42')
    await waitFor(() => seenByA.length === 1 && seenByB.length === 1)
    expect(seenByA).toEqual(['user:42'])

    await a.set('k', 'from-a')
    expect(await b.get('k')).toBe('from-a')
    await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).increment('hits', 1, HOUR)))
    expect(await a.get('hits')).toBe('100')
    expect((await a.hitWindow('limit', 3, HOUR, 2)).allowed).toBe(true)
    expect(await b.hitWindow('limit', 3, HOUR, 2)).toMatchObject({ allowed: false, count: 2 })
    await stopA()
    await stopB()
  })

  test('different prefixes are isolated', async () => {
    const a = await open('tenant-a:')
    const b = await open('tenant-b:')
    const seenByB: string[] = []
    const stop = await b.subscribe('invalidate', (m) => seenByB.push(m))
    await a.publish('invalidate', 'from-a')
    await b.publish('invalidate', 'sentinel')
    await waitFor(() => seenByB.length > 0)
    expect(seenByB).toEqual(['sentinel'])
    await a.set('k', 'a')
    expect(await b.get('k')).toBeNull()
    await a.increment('n', 1, HOUR)
    expect(await b.increment('n', 1, HOUR)).toBe(1)
    await stop()
  })

  test('an outage makes commands fail fast, and the store recovers with its subscriptions', async () => {
    const target = new URL(REDIS_URL)
    const proxy = new TcpProxy(target.hostname, Number(target.port || 6379))
    await proxy.start()
    const proxied = new URL(REDIS_URL)
    proxied.hostname = '127.0.0.1'
    proxied.port = String(proxy.port)
    const store = await RedisCache.connect(proxied.toString(), `${RUN_PREFIX}outage:`, { onHandlerError: quietSink })
    opened.push(store)
    const got: string[] = []
    await store.subscribe('ch', (m) => got.push(m))
    await store.ping()

    await proxy.stop()
    await expect(store.ping()).rejects.toThrow()
    await expect(store.get('k')).rejects.toThrow()
    await expect(store.publish('ch', 'lost')).rejects.toThrow()

    await proxy.start()
    await waitFor(() => store.ping().then(() => true, () => false), 8_000, 50)
    await store.set('k', 'back')
    expect(await store.get('k')).toBe('back')
    // The subscriber reconnects on its own schedule, so keep publishing until its resubscription lands.
    await waitFor(async () => {
      await store.publish('ch', 'after').catch(() => {})
      return got.includes('after')
    }, 8_000, 100)
    await proxy.stop()
  }, 20_000)
})

describe('openCache', () => {
  test('uses memory without a Redis URL', async () => {
    const store = await openCache({ redisUrl: undefined, prefix: 'x:' })
    expect(store.kind).toBe('memory')
    await store.close()
  })

  test('fails instead of hanging when Redis is unreachable', async () => {
    // Port 1 is privileged and unused, so the connection is refused at once.
    await expect(openCache({ redisUrl: 'redis://127.0.0.1:1', prefix: 'x:' })).rejects.toThrow('could not connect to Redis')
  })

  test.skipIf(!process.env.REDIS_URL)('uses Redis with a Redis URL', async () => {
    const store = await openCache({ redisUrl: REDIS_URL, prefix: `${RUN_PREFIX}open:` })
    expect(store.kind).toBe('redis')
    await store.ping()
    await store.close()
  })
})
