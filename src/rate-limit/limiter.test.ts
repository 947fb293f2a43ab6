/**
 * Retry-After on both cache backends: waiting exactly the header's seconds is enough, and one second less is not.
 * The clock is bun:test's `setSystemTime`; the Redis store takes the window index and elapsed time from this process's
 * `Date.now()` too, so the same table runs against a real Redis when REDIS_URL is set.
 */
import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from 'bun:test'
import { dropRedisPrefix } from '../cache/testing.ts'
import { MemoryCache, type CacheStore } from '../cache/index.ts'
import { RedisCache } from '../cache/redis.ts'
import { ApiError } from '../http/errors.ts'
import { createLogger } from '../log.ts'
import { RateLimiter, type RateLimits } from './limiter.ts'

const REDIS_URL = process.env.REDIS_URL ?? ''
const RUN_PREFIX = `test:${crypto.randomUUID()}:`
const MINUTE = 60_000
const HOUR = 3_600_000
/** Midnight, so minute and hour windows start together; in the future, so no real key shares its windows. */
const T0 = Date.UTC(2031, 0, 1)

const at = (ms: number) => setSystemTime(new Date(T0 + ms))
afterEach(() => setSystemTime())

let seq = 0
const subject = (label: string) => `${label}:${++seq}`

interface Outcome {
  status: number
  retryAfter: string | undefined
  message: string
}

async function outcome(attempt: Promise<void>): Promise<Outcome> {
  try {
    await attempt
    return { status: 200, retryAfter: undefined, message: '' }
  } catch (err) {
    if (!(err instanceof ApiError)) throw err
    return { status: err.status, retryAfter: err.headers?.['retry-after'], message: err.message }
  }
}

/** Refused now, with the expected Retry-After; refused one second short of it (told to wait 1 s more); admitted at it. */
async function expectExactRetry(attempt: () => Promise<void>, refusedAt: number, seconds: number): Promise<void> {
  at(refusedAt)
  const refused = await outcome(attempt())
  expect(refused).toMatchObject({ status: 429, retryAfter: String(seconds) })
  expect(refused.message).toContain(`retry in ${seconds} s`)
  at(refusedAt + (seconds - 1) * 1000)
  expect(await outcome(attempt())).toMatchObject({ status: 429, retryAfter: '1' })
  at(refusedAt + seconds * 1000)
  expect((await outcome(attempt())).status).toBe(200)
}

const backends: { name: string; skip: boolean; open: () => Promise<CacheStore> }[] = [
  { name: 'memory', skip: false, open: async () => new MemoryCache() },
  { name: 'redis', skip: !REDIS_URL, open: () => RedisCache.connect(REDIS_URL, RUN_PREFIX) },
]

afterAll(async () => {
  if (REDIS_URL) await dropRedisPrefix(REDIS_URL, RUN_PREFIX)
})

for (const backend of backends) {
  describe.skipIf(backend.skip)(`Retry-After: ${backend.name}`, () => {
    let store: CacheStore
    let limiter: RateLimiter
    const take = (who: string, limits: RateLimits, cost = 1) => limiter.take(who, limits, {}, cost)
    /** `n` requests at `ms`, all of which must pass. */
    const fill = async (who: string, limits: RateLimits, ms: number, n: number, cost = 1) => {
      at(ms)
      for (let i = 0; i < n; i++) expect((await outcome(take(who, limits, cost))).status).toBe(200)
    }

    beforeAll(async () => {
      store = await backend.open()
      limiter = new RateLimiter(store, createLogger('silent'))
    })
    afterAll(() => store.close())

    // Each row: the limit per minute, the traffic, the moment of the refusal, and the wait worked out by hand from
    // weighted = prev × (1 − e/60 s) + curr, a request passing when weighted + 1 ≤ limit.
    const table: { name: string; limit: number; traffic: (who: string, limits: RateLimits) => Promise<void>; refusedAt: number; seconds: number }[] = [
      {
        // curr 10 at 20.3 s; after the rollover it fades as prev: 10 × (1 − e/60) ≤ 9 at e = 6 s. 39.7 s + 6 s.
        name: 'only current-window traffic',
        limit: 10,
        traffic: (who, limits) => fill(who, limits, 10_250, 10),
        refusedAt: 20_300,
        seconds: 46,
      },
      {
        // prev 10, curr 0, 1.3 s into the next window: 10 × (1 − e/60) ≤ 9 at e = 6 s, 4.7 s away.
        name: 'only previous-window traffic',
        limit: 10,
        traffic: (who, limits) => fill(who, limits, 30_000, 10),
        refusedAt: MINUTE + 1_300,
        seconds: 5,
      },
      {
        // prev 10, then 5 more 30 s into the next window; at 30.4 s: 10 × (1 − e/60) + 5 ≤ 9 at e = 36 s, 5.6 s away.
        name: 'traffic in both windows',
        limit: 10,
        traffic: async (who, limits) => {
          await fill(who, limits, 30_000, 10)
          await fill(who, limits, MINUTE + 30_000, 5)
        },
        refusedAt: MINUTE + 30_400,
        seconds: 6,
      },
      {
        // prev 10 weighs 1/6 at 59 s, so 9 more fit (9.17) and a tenth does not; it fits at the rollover, 1 s away,
        // where the 9 become the previous window at full weight: 9 + 1 ≤ 10.
        name: 'traffic in both windows, passing at the rollover',
        limit: 10,
        traffic: async (who, limits) => {
          await fill(who, limits, 0, 10)
          await fill(who, limits, MINUTE + 59_000, 9)
        },
        refusedAt: MINUTE + 59_000,
        seconds: 1,
      },
      {
        // 5 of 5 (the fifth passes with nothing left); at 12.345 s: 5 × (1 − e/60) ≤ 4 at e = 12 s. 47.655 s + 12 s.
        name: 'the limit reached exactly',
        limit: 5,
        traffic: (who, limits) => fill(who, limits, 12_345, 5),
        refusedAt: 12_345,
        seconds: 60,
      },
    ]

    for (const { name, limit, traffic, refusedAt, seconds } of table) {
      test(`${name}: ${seconds} s`, async () => {
        const limits = { perMinute: limit }
        const who = subject('rl')
        await traffic(who, limits)
        await expectExactRetry(() => take(who, limits), refusedAt, seconds)
      })
    }

    test('the refusal keeps X-RateLimit-Reset: the seconds to the minute rollover, not the wait', async () => {
      const who = subject('rl')
      await fill(who, { perMinute: 10 }, 10_250, 10)
      at(20_300)
      const headers: Record<string, string | number> = {}
      const err = await limiter.take(who, { perMinute: 10 }, headers).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ApiError)
      expect((err as ApiError).headers).toMatchObject({
        'x-ratelimit-limit': '10',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': '40',
        'retry-after': '46',
      })
      expect(headers['x-ratelimit-reset']).toBe('40')
    })

    describe('tokens per minute (cost > 1)', () => {
      const tokens = (who: string, n: number) => limiter.takeTokens(who, 150, n)

      test('a request larger than what is left waits until it fits', async () => {
        const who = subject('tpm')
        at(10_250)
        expect((await outcome(tokens(who, 100))).status).toBe(200)
        // curr 100 of 150; 100 more fit once 100 × (1 − e/60) ≤ 50, at e = 30 s: 49.75 s + 30 s = 79.75 s.
        await expectExactRetry(() => tokens(who, 100), 10_250, 80)
      })

      test('a request of exactly the limit waits until the window holds nothing', async () => {
        const who = subject('tpm')
        at(10_250)
        expect((await outcome(tokens(who, 150))).status).toBe(200)
        // Room for 150 only when the count is 0: two rollovers away, 49.75 s + 60 s.
        await expectExactRetry(() => tokens(who, 150), 10_250, 110)
      })

      test('a request larger than the limit can never pass, and gets no Retry-After', async () => {
        const who = subject('tpm')
        at(10_000)
        const refused = await outcome(tokens(who, 151))
        expect(refused).toMatchObject({ status: 429, retryAfter: undefined })
        expect(refused.message).toContain('can never pass')
        expect(refused.message).toContain('151 tokens')
      })
    })

    describe('hour and day windows', () => {
      test('a refusal by the hour window gives the hour window’s wait', async () => {
        const who = subject('rl')
        const limits = { perMinute: 100, perHour: 3 }
        await fill(who, limits, 600_000, 3)
        // curr 3 of 3 at 10 min: 1 fits once 3 × (1 − e/60 min) ≤ 2, at e = 20 min: 50 min + 20 min.
        await expectExactRetry(() => take(who, limits), 600_000, 4_200)
      })

      test('a refusal by the minute window waits for the hour window too when that is full as well', async () => {
        const who = subject('rl')
        const limits = { perMinute: 2, perHour: 2 }
        await fill(who, limits, 600_000, 2)
        at(600_000)
        const refused = await outcome(take(who, limits))
        expect(refused.message).toContain('2 requests per minute and 2 requests per hour')
        // The hour: 2 × (1 − e/60 min) ≤ 1 at e = 30 min, so 50 min + 30 min.
        await expectExactRetry(() => take(who, limits), 600_000, 4_800)
      })

      test('windows passed before the refusing one counted the attempt, and the wait covers them', async () => {
        const who = subject('rl')
        const limits = { perMinute: 1, perHour: 10 }
        // 10 requests in the first hour, one every other minute (the minute window weighs the minute before).
        for (let i = 0; i < 10; i++) await fill(who, limits, 2 * i * MINUTE, 1)
        // 5 min 59 s into the next hour the hour window still weighs 10 × (1 − 359/3600) = 9.003: refused, 1 s to go.
        // The minute window took this attempt, though, and has room again only two rollovers later, 61 s on.
        await expectExactRetry(() => take(who, limits), HOUR + 359_000, 61)
      })
    })
  })
}
