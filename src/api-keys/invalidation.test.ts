/**
 * Two replicas (A and B) over one database and one cache: a change made through A must stop the key on B at
 * once, although B has the key in its local verifier cache. With the memory cache, delivery is a microtask, so
 * B must refuse on the very next request; with Redis, pub/sub delivery gets up to ~2 s.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Sql } from '../db/client.ts'
import { cacheBackend, createTestEnv, type TestEnv } from '../../test/harness.ts'
import { ApiKeyVerifier } from './verifier.ts'

let A: TestEnv
let B: TestEnv
let admin: string
beforeAll(async () => {
  A = await createTestEnv()
  B = await createTestEnv({}, A)
  admin = await A.adminToken()
})
afterAll(async () => {
  await B?.close()
  await A?.close()
})

const KEYS = '/api-internal/v1/api-keys'
/** The verifier's pub/sub channel (an internal name; a rename makes the race test time out, not pass). */
const INVALIDATE_CHANNEL = 'api-keys:invalidate'
const DELIVERY_MS = cacheBackend === 'redis' ? 2_000 : 0

const me = (env: TestEnv, key: string) => env.call('GET', '/api/v1/me', { apiKey: key })

/** The status of B's next request, or (Redis only) of the first one within the delivery window that has `want`. */
async function statusSoon(env: TestEnv, key: string, want: number): Promise<number> {
  const deadline = Date.now() + DELIVERY_MS
  for (;;) {
    const { status } = await me(env, key)
    if (status === want || Date.now() >= deadline) return status
    await Bun.sleep(20)
  }
}

async function newKey(token: string, body: Record<string, unknown> = {}) {
  const res = await A.call('POST', KEYS, { token, body: { name: 'replicated', ...body } })
  expect(res.status).toBe(201)
  return res.body as { id: string; key: string }
}

interface Change {
  name: string
  /** Done through replica A; returns the secret that should now work, if any. */
  act(ctx: { key: { id: string; key: string }; user: { id: string; token: string } }): Promise<string | void>
  /** What B answers the old secret afterwards. */
  status: number
}

const changes: Change[] = [
  {
    name: 'deactivate',
    status: 401,
    async act({ key, user }) {
      expect((await A.call('POST', `${KEYS}/${key.id}/deactivate`, { token: user.token })).status).toBe(200)
    },
  },
  {
    name: 'delete',
    status: 401,
    async act({ key, user }) {
      expect((await A.call('DELETE', `${KEYS}/${key.id}`, { token: user.token })).status).toBe(204)
    },
  },
  {
    name: 'regenerate',
    status: 401,
    async act({ key, user }) {
      const res = await A.call('POST', `${KEYS}/${key.id}/regenerate`, { token: user.token })
      expect(res.status).toBe(200)
      return res.body.key as string
    },
  },
  {
    name: 'restrict allowed_ips',
    status: 403,
    async act({ key, user }) {
      const res = await A.call('PATCH', `${KEYS}/${key.id}`, { token: user.token, body: { allowed_ips: ['10.0.0.0/8'] } })
      expect(res.status).toBe(200)
    },
  },
  {
    name: 'deactivate the owner',
    status: 401,
    async act({ user }) {
      expect((await A.call('POST', `/api-internal/v1/users/${user.id}/deactivate`, { token: admin })).status).toBe(200)
    },
  },
  {
    name: 'delete the owner',
    status: 401,
    async act({ user }) {
      expect((await A.call('DELETE', `/api-internal/v1/users/${user.id}`, { token: admin })).status).toBe(204)
    },
  },
]

describe(`cross-replica invalidation (${cacheBackend} cache)`, () => {
  test.each(changes.map((c) => [c.name, c] as const))('%s through A stops the key on B', async (_name, change) => {
    const user = await A.user('user')
    const key = await newKey(user.token)
    // B authenticates first, so the key sits in B's verifier cache; A too.
    expect((await me(B, key.key)).status).toBe(200)
    expect((await me(A, key.key)).status).toBe(200)

    const fresh = await change.act({ key, user })

    expect(await statusSoon(B, key.key, change.status)).toBe(change.status)
    expect((await me(A, key.key)).status).toBe(change.status)
    // And it stays refused (no stale entry comes back).
    expect((await me(B, key.key)).status).toBe(change.status)
    if (fresh) {
      const res = await me(B, fresh)
      expect(res.status).toBe(200)
      expect(res.body.id).toBe(key.id)
    }
  })

  test('reactivation through A lets B accept the key again', async () => {
    const user = await A.user('user')
    const key = await newKey(user.token)
    expect((await me(B, key.key)).status).toBe(200)
    expect((await A.call('POST', `${KEYS}/${key.id}/deactivate`, { token: user.token })).status).toBe(200)
    // B now caches the key as inactive.
    expect(await statusSoon(B, key.key, 401)).toBe(401)
    expect((await A.call('POST', `${KEYS}/${key.id}/activate`, { token: user.token })).status).toBe(200)
    expect(await statusSoon(B, key.key, 200)).toBe(200)
  })

  test('a change through B stops the key on A as well', async () => {
    const user = await A.user('user')
    const key = await newKey(user.token)
    expect((await me(A, key.key)).status).toBe(200)
    expect((await me(B, key.key)).status).toBe(200)
    expect((await B.call('POST', `${KEYS}/${key.id}/deactivate`, { token: user.token })).status).toBe(200)
    expect(await statusSoon(A, key.key, 401)).toBe(401)
  })

  test('B really answers from its cache, and a published invalidation is what clears it', async () => {
    const user = await A.user('user')
    const key = await newKey(user.token)
    expect((await me(B, key.key)).status).toBe(200)
    // Behind every replica's back: no invalidation is published, so B keeps its cached copy...
    await A.db.sql`UPDATE api_keys SET is_active = false WHERE id = ${key.id}`
    expect((await me(B, key.key)).status).toBe(200)
    // ...until someone publishes one (here A, for a different replica's benefit).
    await A.s.verifier.invalidate(`key:${key.id}`)
    expect(await statusSoon(B, key.key, 401)).toBe(401)
  })

  test('an invalidation that lands while a lookup is in flight is not undone by that lookup', async () => {
    const user = await A.user('user')
    const key = await newKey(user.token)

    // A third replica whose database answers are held back until the test says so: its lookup reads the key
    // while still active, then the key is deactivated and the invalidation delivered, then the lookup finishes.
    let hold: Promise<void> | null = null
    let release = () => {}
    let read = () => {}
    const readDone = new Promise<void>((resolve) => (read = resolve))
    const real = A.db.sql
    const gated = (async (strings: TemplateStringsArray, ...values: unknown[]) => {
      const rows = await real(strings, ...(values as never[]))
      if (hold) {
        read()
        await hold
      }
      return rows
    }) as unknown as Sql
    const C = new ApiKeyVerifier(gated, A.cache, A.s.log)
    await C.start()
    const delivered: string[] = []
    const unsubscribe = await A.cache.subscribe(INVALIDATE_CHANNEL, (m) => delivered.push(m))
    try {
      hold = new Promise<void>((resolve) => (release = resolve))
      const inFlight = C.verify(key.key, { ip: null, path: '/me' })
      await readDone

      expect((await A.call('POST', `${KEYS}/${key.id}/deactivate`, { token: user.token })).status).toBe(200)
      // C's handler was subscribed before ours on the same channel, so once ours has the message, C has it too.
      const deadline = Date.now() + 2_000
      while (!delivered.includes(`key:${key.id}`) && Date.now() < deadline) await Bun.sleep(5)
      expect(delivered).toContain(`key:${key.id}`)

      hold = null
      release()
      // The request that was already under way may still pass: it started before the deactivation.
      await inFlight
      // The next one must not be served from what that lookup read before the invalidation.
      const next = await C.verify(key.key, { ip: null, path: '/me' })
      expect(next.ok).toBe(false)
      if (!next.ok) expect(next.reason).toBe('DISABLED')
    } finally {
      release()
      await unsubscribe()
      await C.stop()
    }
  })
})
