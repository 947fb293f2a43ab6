/**
 * Budget leases: requests served from this replica's slice of a budget need no SQL, settle to the usage records,
 * give their slice back when idle, on stop and after a crash (the sweep), and never let two replicas together
 * overspend a hard budget or ignore a lowered limit.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import type { Sql } from '../db/client.ts'
import { createLogger } from '../log.ts'
import { UsageLedger } from '../gateway/usage.ts'
import { BudgetExceeded, BudgetService, type Reservation, type Spender } from './service.ts'
import type { LeaseOptions } from './leases.ts'

let env: TestEnv
let up: Upstream
const log = createLogger('silent')
const TTL = 60_000

beforeAll(async () => {
  up = await startUpstream({ models: ['tee-chat'] })
  env = await createTestEnv({ PRIVATEMODE_URL: up.url })
})
afterAll(async () => {
  await env.close()
  await up.stop()
})

/** The pool with every statement counted (tagged calls, fragments and transactions alike). */
function counting(sql: Sql): { sql: Sql; count: () => number } {
  let n = 0
  const proxy = new Proxy(sql, {
    apply(target, self, args) {
      n++
      return Reflect.apply(target, self, args)
    },
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (prop === 'begin' && typeof value === 'function')
        return (...args: unknown[]) => {
          n++
          return value.apply(target, args)
        }
      return value
    },
  })
  return { sql: proxy, count: () => n }
}

/** A replica's budget side: its own BudgetService (and leases) and usage ledger on the shared database and cache. */
async function replica(options: LeaseOptions = {}, start = true) {
  const counted = counting(env.db.sql)
  const budgets = new BudgetService(counted.sql, env.cache, log, options)
  if (start) await budgets.start()
  const ledger = new UsageLedger({ sql: env.db.sql, budgets, audit: env.s.audit, log })
  return { budgets, ledger, statements: counted.count }
}
type Replica = Awaited<ReturnType<typeof replica>>

async function spender(limitUsd: number): Promise<{ spender: Spender; budgetId: string; key: string }> {
  const u = await env.user('user')
  const key = await env.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'lease' } })
  const budget = await env.call('POST', '/api-internal/v1/budgets', {
    token: u.token,
    body: { name: 'lease', scope: 'api_key', api_key_id: key.body.id, limit_usd: limitUsd, period: 'monthly' },
  })
  expect(budget.status).toBe(201)
  return { spender: { userId: u.id, apiKeyId: key.body.id }, budgetId: budget.body.id, key: key.body.key }
}

function record(r: Replica, s: Spender, reservation: Reservation, costMicros: number): void {
  r.ledger.record(
    {
      id: crypto.randomUUID(),
      requestId: 'lease-test',
      source: 'api',
      apiKeyId: s.apiKeyId,
      userId: s.userId,
      model: 'tee-chat',
      provider: 'privatemode',
      endpoint: '/chat/completions',
      promptTokens: 1,
      completionTokens: 1,
      costMicros,
      latencyMs: 1,
      ttftMs: null,
      status: 200,
      errorCode: null,
      isTee: true,
      streamed: false,
    },
    reservation,
  )
}

async function state(budgetId: string, s: Spender) {
  const [b] = await env.db.sql<{ spent: string; reserved: string; limit: string }[]>`
    SELECT spent_micros AS spent, reserved_micros AS reserved, limit_micros AS limit FROM budgets WHERE id = ${budgetId}`
  const [u] = await env.db.sql<{ cost: string }[]>`
    SELECT coalesce(sum(cost_micros), 0)::bigint AS cost FROM usage_records WHERE api_key_id = ${s.apiKeyId}`
  const [r] = await env.db.sql<{ n: number; leases: number }[]>`
    SELECT count(*)::int AS n, count(*) FILTER (WHERE kind = 'lease')::int AS leases
    FROM budget_reservations WHERE ${budgetId}::uuid = ANY(budget_ids)`
  return { spent: Number(b?.spent), reserved: Number(b?.reserved), limit: Number(b?.limit), usage: Number(u?.cost), rows: r?.n ?? 0, leases: r?.leases ?? 0 }
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return
    await Bun.sleep(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('budget leases', () => {
  test('repeated requests under a budget use no SQL after the first; spend settles to the usage records', async () => {
    const { spender: s, budgetId } = await spender(100)
    const r = await replica({ idleMs: 60_000 })
    try {
      const first = await r.budgets.reserve(s, 100, TTL)
      expect(first.leases?.length).toBe(1)
      expect(first.hard).toBe(true)
      expect(r.statements()).toBeGreaterThan(0)
      const leased = await state(budgetId, s)
      expect(leased).toMatchObject({ rows: 1, leases: 1 })
      expect(leased.reserved).toBeGreaterThanOrEqual(100)

      const before = r.statements()
      const held = [first]
      for (let i = 0; i < 100; i++) held.push(await r.budgets.reserve(s, 100, TTL))
      expect(r.statements()).toBe(before)
      expect(await state(budgetId, s)).toMatchObject({ reserved: leased.reserved, rows: 1 })

      held.forEach((reservation, i) => record(r, s, reservation, 50 + (i % 50)))
      await r.ledger.flush()
      const settled = await state(budgetId, s)
      expect(settled.spent).toBe(settled.usage)
      expect(settled.usage).toBe(held.reduce((sum, _, i) => sum + 50 + (i % 50), 0))
      // The lease row shrank by what was spent; what it lends on still needs no SQL.
      expect(settled.reserved).toBe(leased.reserved - settled.spent)
      const after = r.statements()
      await r.budgets.reserve(s, 100, TTL).then((res) => record(r, s, res, 100))
      expect(r.statements()).toBe(after)
    } finally {
      await r.ledger.stop()
      await r.budgets.stop()
    }
    // Stopped: the lease went back.
    const end = await state(budgetId, s)
    expect(end).toMatchObject({ reserved: 0, rows: 0 })
    expect(end.spent).toBe(end.usage)
  })

  test('an idle lease goes back by itself', async () => {
    const { spender: s, budgetId } = await spender(100)
    const r = await replica({ idleMs: 100, tickMs: 20 })
    try {
      record(r, s, await r.budgets.reserve(s, 100, TTL), 80)
      await r.ledger.flush()
      await until(async () => (await state(budgetId, s)).rows === 0, 'the idle lease to go back')
      expect(await state(budgetId, s)).toMatchObject({ spent: 80, usage: 80, reserved: 0 })
    } finally {
      await r.ledger.stop()
      await r.budgets.stop()
    }
  })

  test("a crashed replica's lease is released by the sweep once it expires", async () => {
    const { spender: s, budgetId } = await spender(100)
    // Never started and never stopped: no timer renews or returns anything, as after a crash.
    const crashed = await replica({}, false)
    await crashed.budgets.reserve(s, 100, 300)
    expect((await state(budgetId, s)).leases).toBe(1)
    expect(await env.s.budgets.releaseExpired()).toBe(0)
    await Bun.sleep(400)
    expect(await env.s.budgets.releaseExpired()).toBeGreaterThanOrEqual(1)
    expect(await state(budgetId, s)).toMatchObject({ reserved: 0, rows: 0, spent: 0 })
  })

  test('near the limit two replicas together never overspend, and the last cents are usable by either', async () => {
    // 20,000 micro-USD; a request holds 100 and costs 100, so exactly 200 fit.
    const { spender: s, budgetId } = await spender(0.02)
    const a = await replica({ idleMs: 100, tickMs: 20, requestsPerGrant: 16 })
    const b = await replica({ idleMs: 100, tickMs: 20, requestsPerGrant: 16 })
    try {
      let served = 0
      let leased = 0
      const worker = async (r: Replica) => {
        for (let refused = 0; refused < 3; ) {
          try {
            const res = await r.budgets.reserve(s, 100, TTL)
            if (res.leases) leased++
            served++
            refused = 0
            record(r, s, res, 100)
            if (served % 7 === 0) await r.ledger.flush()
          } catch (err) {
            if (!(err instanceof BudgetExceeded)) throw err
            // Refused while the other replica still held some: once its holds settle and its lease goes back, the
            // rest is usable here.
            refused++
            await r.ledger.flush()
            await Bun.sleep(200)
          }
        }
      }
      await Promise.all([worker(a), worker(b), worker(a), worker(b)])
      await Promise.all([a.ledger.flush(), b.ledger.flush()])
      const st = await state(budgetId, s)
      expect(st.spent).toBeLessThanOrEqual(st.limit)
      expect(st.spent).toBe(st.usage)
      expect(leased).toBeGreaterThan(0)
      // Every cent was used: nothing stayed stranded in a lease.
      expect(served).toBe(200)
      expect(st.spent).toBe(st.limit)

      // The last cents, by either replica: raise the limit by 250; a takes 100, b takes 100, a takes the last 50.
      await env.db.sql`UPDATE budgets SET limit_micros = limit_micros + 250 WHERE id = ${budgetId}`
      await a.budgets.update(budgetId, { name: 'lease' })
      await until(async () => (await state(budgetId, s)).reserved === 0, 'leases to go back')
      const last: [Replica, number][] = [
        [a, 100],
        [b, 100],
        [a, 50],
      ]
      for (const [r, amount] of last) {
        record(r, s, await r.budgets.reserve(s, amount, TTL), amount)
        await r.ledger.flush()
        await r.budgets.returnLeases()
      }
      for (const r of [a, b]) await expect(r.budgets.reserve(s, 1, TTL)).rejects.toBeInstanceOf(BudgetExceeded)
      const end = await state(budgetId, s)
      expect(end.spent).toBe(end.limit)
      expect(end.spent).toBe(end.usage)
    } finally {
      for (const r of [a, b]) {
        await r.ledger.stop()
        await r.budgets.stop()
      }
    }
    expect(await state(budgetId, s)).toMatchObject({ reserved: 0, rows: 0 })
  })

  test('a lowered limit is honoured by both replicas: their leases go back and no longer lend', async () => {
    const { spender: s, budgetId } = await spender(10)
    const a = await replica({ idleMs: 60_000 })
    const b = await replica({ idleMs: 60_000 })
    try {
      for (const r of [a, b]) {
        const res = await r.budgets.reserve(s, 1000, TTL)
        expect(res.leases?.length).toBe(1)
        record(r, s, res, 1000)
        await r.ledger.flush()
      }
      const leased = await state(budgetId, s)
      expect(leased.leases).toBe(2)
      expect(leased.spent).toBe(2000)
      // Each lease still lends far more than the new room of 500.
      expect(leased.reserved).toBeGreaterThan(10_000)

      await a.budgets.update(budgetId, { limit_usd: 0.0025 })
      await until(async () => (await state(budgetId, s)).rows === 0, 'both leases to go back')
      for (const r of [a, b]) await expect(r.budgets.reserve(s, 1000, TTL)).rejects.toBeInstanceOf(BudgetExceeded)
      // What is left is still usable, on either replica, through the exact path.
      record(b, s, await b.budgets.reserve(s, 400, TTL), 400)
      await b.ledger.flush()
      await expect(a.budgets.reserve(s, 200, TTL)).rejects.toBeInstanceOf(BudgetExceeded)
      const end = await state(budgetId, s)
      expect(end).toMatchObject({ spent: 2400, usage: 2400, reserved: 0, limit: 2500 })
    } finally {
      for (const r of [a, b]) {
        await r.ledger.stop()
        await r.budgets.stop()
      }
    }
  })

  test('through the gateway: a budgeted key is served from its lease; spend equals the usage records', async () => {
    const { spender: s, budgetId, key } = await spender(100)
    const chat = () =>
      env.call('POST', '/api/v1/chat/completions', {
        apiKey: key,
        body: { model: 'tee-chat', max_tokens: 20, messages: [{ role: 'user', content: 'one two three' }] },
      })
    const statuses = await Promise.all(Array.from({ length: 30 }, chat))
    expect(statuses.map((r) => r.status)).toEqual(Array(30).fill(200))
    await env.s.ledger.flush()
    const mid = await state(budgetId, s)
    expect(mid).toMatchObject({ rows: 1, leases: 1 })
    expect(mid.spent).toBe(mid.usage)
    expect(mid.usage).toBeGreaterThan(0)
    await env.s.budgets.returnLeases()
    expect(await state(budgetId, s)).toMatchObject({ reserved: 0, rows: 0, spent: mid.usage })
  })
})
