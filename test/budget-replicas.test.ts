/**
 * A hard budget is never overspent, whatever the concurrency: 200 requests at once, split across two server
 * processes that share one PostgreSQL database. Two processes cannot share the embedded PGlite (it is
 * single-process by design), so this runs when DATABASE_URL names a server; CI runs it against PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { startUpstream, type Upstream } from './fixtures/upstream.ts'
import { schemaName } from './harness.ts'
import { killLeftovers, startServer, storeEnv, type Server } from './server-process.ts'

const url = process.env.DATABASE_URL

describe.skipIf(!url)('budgets across two server processes', () => {
  const schema = schemaName('rep')
  let up: Upstream
  const servers: Server[] = []
  let sql: postgres.Sql

  beforeAll(async () => {
    up = await startUpstream({ models: ['tee-chat'], streamChunkDelayMs: 0 })
    const stores = await storeEnv(schema)
    const env = {
      ...stores,
      ADMIN_PASSWORD: 'replica-admin-password',
      JWT_SECRET: 'r'.repeat(48),
      ENCRYPTION_KEY: 'ab'.repeat(32),
      PRIVATEMODE_URL: up.url,
      RATE_LIMIT_PUBLIC_PER_MINUTE: '100000',
    }
    // Started together: the migration lock makes them take turns.
    servers.push(
      ...(await Promise.all([0, 1].map(() => startServer({ ...env, DATA_DIR: mkdtempSync(join(tmpdir(), 'enclava-rep-')) })))),
    )
    sql = postgres(stores.DATABASE_URL ?? '', { max: 2, onnotice: () => {} })
  })
  afterAll(async () => {
    // Also a server whose twin failed to start: Promise.all rejected before either reached `servers`.
    await killLeftovers()
    await up.stop()
    await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await sql.end()
  })

  // A request reserves about 45 micro-USD. The tight budget is served by the exact per-request path throughout; the
  // larger one first from each replica's lease, then, near its limit, by the exact path.
  test.each([
    { limitUsd: 0.0005, requests: 200 },
    { limitUsd: 0.01, requests: 400 },
  ])('$requests concurrent requests through two replicas, limit $limitUsd USD: settled spend <= limit, and equal to the usage records', async ({ limitUsd, requests }) => {
    const [a, b] = servers
    if (!a || !b) throw new Error('servers did not start')
    const post = (server: Server, path: string, body: unknown, token: string) =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    const login = await fetch(`${a.url}/api-internal/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@enclava.local', password: 'replica-admin-password' }),
    })
    const token = ((await login.json()) as { access_token: string }).access_token
    const created = (await (await post(a, '/api-internal/v1/api-keys', { name: 'replicas' }, token)).json()) as { id: string; key: string }
    const budget = await post(b, '/api-internal/v1/budgets', { name: 'tight', scope: 'api_key', api_key_id: created.id, limit_usd: limitUsd, period: 'monthly' }, token)
    expect(budget.status).toBe(201)
    const budgetId = ((await budget.json()) as { id: string }).id

    const statuses = await Promise.all(
      Array.from({ length: requests }, (_, i) =>
        post(i % 2 ? a : b, '/api/v1/chat/completions', { model: 'tee-chat', max_tokens: 20, messages: [{ role: 'user', content: 'one two three' }] }, created.key).then(
          async (r) => (await r.text(), r.status),
        ),
      ),
    )
    const ok = statuses.filter((s) => s === 200).length
    expect(statuses.filter((s) => s !== 200 && s !== 402)).toEqual([])
    expect(ok).toBeGreaterThan(0)
    expect(requests - ok).toBeGreaterThan(0)

    // Usage is written off the response path: wait until every reservation is settled and every lease given back.
    let state = { spent: 0, reserved: -1, limit: 0, cost: 0, n: 0 }
    for (let i = 0; i < 100 && (state.reserved !== 0 || state.n !== ok); i++) {
      await Bun.sleep(100)
      const [row] = await sql<{ spent: string; reserved: string; limit: string }[]>`
        SELECT spent_micros AS spent, reserved_micros AS reserved, limit_micros AS limit FROM budgets WHERE id = ${budgetId}`
      const [usage] = await sql<{ cost: string; n: number }[]>`
        SELECT coalesce(sum(cost_micros), 0)::bigint AS cost, count(*) FILTER (WHERE status = 200)::int AS n
        FROM usage_records WHERE api_key_id = ${created.id}`
      state = { spent: Number(row?.spent), reserved: Number(row?.reserved), limit: Number(row?.limit), cost: Number(usage?.cost), n: usage?.n ?? 0 }
    }
    expect(state.reserved).toBe(0)
    expect(state.n).toBe(ok)
    expect(state.spent).toBe(state.cost)
    expect(state.spent).toBeLessThanOrEqual(state.limit)
    expect(state.limit).toBe(limitUsd * 1e6)
  })
})
