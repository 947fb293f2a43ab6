/**
 * Usage records through a database outage and a stop: records the database does not take are spooled to
 * DATA_DIR/spool, durably, as soon as a write fails, and written by the next start, exactly once. In process (both
 * backends): a ledger whose database fails, then a fresh one replaying its spool twice. Against a real server
 * process on PostgreSQL (the database behind a proxy the test cuts): SIGTERM during the outage, then a restart,
 * leaves as many records as answers.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { UsageLedger, type UsageEntry } from '../src/gateway/usage.ts'
import { journalLines } from '../src/gateway/journal.ts'
import type { Sql } from '../src/db/client.ts'
import { startUpstream, type Upstream } from './fixtures/upstream.ts'
import { TcpProxy } from '../src/cache/testing.ts'
import { createTestEnv, schemaName, type TestEnv } from './harness.ts'
import { killLeftovers, startServer, type Server } from './server-process.ts'

afterAll(killLeftovers)

describe('the usage spool', () => {
  let env: TestEnv
  const spool = mkdtempSync(join(tmpdir(), 'enclava-spool-'))
  beforeAll(async () => {
    env = await createTestEnv()
  })
  afterAll(async () => {
    await env.close()
    rmSync(spool, { recursive: true, force: true })
  })

  test('records a failing database did not take are on disk, and a later start writes them once, budgets settled once', async () => {
    const u = await env.user('user')
    const budget = await env.call('POST', '/api-internal/v1/budgets', { token: await env.adminToken(), body: { name: 'b', scope: 'user', user_id: u.id, limit_usd: 10, period: 'monthly' } })
    expect(budget.status).toBe(201)
    // The database is gone for this ledger: every transaction fails.
    const down = new Proxy(env.db.sql, {
      get: (target, prop, receiver) => (prop === 'begin' ? () => Promise.reject(new Error('connection refused')) : Reflect.get(target, prop, receiver)),
    }) as Sql
    const failing = new UsageLedger({ sql: down, budgets: env.s.budgets, audit: env.s.audit, log: env.s.log, spoolDir: spool })
    const entries: UsageEntry[] = []
    for (let i = 0; i < 3; i++) {
      const reservation = await env.s.budgets.reserve({ userId: u.id, apiKeyId: null }, 5_000, 60_000)
      const entry: UsageEntry = {
        id: crypto.randomUUID(),
        requestId: `spool-${i}`,
        source: 'api',
        apiKeyId: null,
        userId: u.id,
        model: 'm',
        provider: 'p',
        endpoint: '/chat/completions',
        promptTokens: 10,
        completionTokens: 5,
        costMicros: 1_000 + i,
        latencyMs: 5,
        ttftMs: null,
        status: 200,
        errorCode: null,
        isTee: true,
        streamed: false,
      }
      entries.push(entry)
      failing.record(entry, reservation)
    }
    await failing.flush()
    // On disk from the first failed write on, before any stop: a crash now would lose nothing.
    const files = readdirSync(spool).filter((f) => f.endsWith('.jsonl'))
    expect(files).toHaveLength(1)
    expect(readFileSync(join(spool, files[0]!), 'utf8').trim().split('\n')).toHaveLength(3)
    await failing.stop(200)
    const kept = join(tmpdir(), `spool-copy-${crypto.randomUUID()}.jsonl`)
    copyFileSync(join(spool, files[0]!), kept)

    const next = new UsageLedger({ sql: env.db.sql, budgets: env.s.budgets, audit: env.s.audit, log: env.s.log, spoolDir: spool })
    expect(await next.replaySpool()).toBe(3)
    expect(readdirSync(spool)).toEqual([])
    // The same file a second time (two replicas, or a replay that died after writing): nothing counted twice.
    copyFileSync(kept, join(spool, files[0]!))
    expect(await next.replaySpool()).toBe(3)
    rmSync(kept)

    const rows = await env.db.sql<{ request_id: string }[]>`SELECT request_id FROM usage_records WHERE user_id = ${u.id} ORDER BY request_id`
    expect(rows.map((r) => r.request_id)).toEqual(['spool-0', 'spool-1', 'spool-2'])
    await env.s.budgets.returnLeases()
    const [b] = await env.db.sql<{ spent: string }[]>`SELECT spent_micros AS spent FROM budgets WHERE id = ${budget.body.id}`
    expect(Number(b?.spent)).toBe(1_000 + 1_001 + 1_002)
  })

  test('under steady load the journal starts new files instead of growing, and every record not yet written is in one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'enclava-spool-rotate-'))
    // Each write takes a while, so records keep arriving during it: the queue is never empty when a write ends.
    const slow = new Proxy(env.db.sql, {
      get: (target, prop, receiver) =>
        prop === 'begin' ? async (...args: unknown[]) => (await Bun.sleep(15), (target.begin as (...a: unknown[]) => unknown)(...args)) : Reflect.get(target, prop, receiver),
    }) as Sql
    const ledger = new UsageLedger({ sql: slow, budgets: env.s.budgets, audit: env.s.audit, log: env.s.log, spoolDir: dir, rotateBytes: 8 * 1024 })
    const { id: userId } = await env.user('user')
    const ids: string[] = []
    const seenFiles = new Set<string>()
    let checked = 0
    for (let i = 0; i < 400; i++) {
      const entry: UsageEntry = {
        id: crypto.randomUUID(), requestId: `rotate-${i}`, source: 'api', apiKeyId: null, userId, model: 'm', provider: 'p',
        endpoint: '/chat/completions', promptTokens: 10, completionTokens: 5, costMicros: 1, latencyMs: 5, ttftMs: null,
        status: 200, errorCode: null, isTee: true, streamed: false,
      }
      ledger.record(entry, null)
      ids.push(entry.id)
      await Bun.sleep(2)
      if (i % 50 !== 49) continue
      // The journal first, then the database: a record missing from the journal must already be written.
      const journaled = new Set<string>()
      for (const f of readdirSync(dir)) {
        seenFiles.add(f)
        for (const line of journalLines(readFileSync(join(dir, f), 'utf8'))) journaled.add((JSON.parse(line) as { entry: UsageEntry }).entry.id)
      }
      const written = new Set((await env.db.sql<{ id: string }[]>`SELECT id FROM usage_records WHERE id IN ${env.db.sql(ids)}`).map((r) => r.id))
      expect(ids.filter((id) => !journaled.has(id) && !written.has(id))).toEqual([])
      // Without rotation the journal would hold every record so far (the first writes take ~65 ms to come).
      if (i >= 149) expect(journaled.size).toBeLessThan(ids.length / 2)
      checked++
    }
    expect(checked).toBe(8)
    expect(seenFiles.size).toBeGreaterThan(1)
    await ledger.flush()
    await ledger.stop(1_000)
    expect(readdirSync(dir)).toEqual([])
    const [{ n }] = (await env.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM usage_records WHERE id IN ${env.db.sql(ids)}`) as unknown as [{ n: number }]
    expect(n).toBe(400)
    rmSync(dir, { recursive: true, force: true })
  })
})

describe.skipIf(!process.env.DATABASE_URL)('SIGTERM during a database outage (PostgreSQL)', () => {
  const schema = schemaName('outage')
  const dataDir = mkdtempSync(join(tmpdir(), 'enclava-outage-'))
  let up: Upstream
  let server: Server
  let env: Record<string, string>
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://x@127.0.0.1:5432/test')
  const proxy = new TcpProxy(url.hostname, Number(url.port || 5432))

  beforeAll(async () => {
    await proxy.start()
    const admin = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} })
    await admin.unsafe(`CREATE SCHEMA ${schema}`)
    await admin.end()
    up = await startUpstream({ models: ['tee-chat'] })
    const through = new URL(process.env.DATABASE_URL!)
    through.hostname = '127.0.0.1'
    through.port = String(proxy.port)
    through.searchParams.set('search_path', schema)
    env = {
      DATA_DIR: dataDir,
      DATABASE_URL: through.toString(),
      PRIVATEMODE_URL: up.url,
      ADMIN_PASSWORD: 'outage-admin-password',
      SHUTDOWN_TIMEOUT_MS: '4000',
    }
    server = await startServer(env)
  })
  afterAll(async () => {
    await proxy.stop()
    await up.stop()
    const admin = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} })
    await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await admin.end()
    rmSync(dataDir, { recursive: true, force: true })
  })

  test('records = answers across the outage, the stop and the restart', async () => {
    const json = (body: unknown, token?: string) => ({
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    })
    const login = (await (await fetch(`${server.url}/api-internal/v1/auth/login`, json({ email: 'admin@enclava.local', password: 'outage-admin-password' }))).json()) as { access_token: string }
    const created = (await (await fetch(`${server.url}/api-internal/v1/api-keys`, json({ name: 'outage' }, login.access_token))).json()) as { key: string; id: string }
    const ask = () => fetch(`${server.url}/api/v1/chat/completions`, json({ model: 'tee-chat', messages: [{ role: 'user', content: 'hi' }] }, created.key))
    let answers = 0
    for (let i = 0; i < 5; i++) if ((await ask()).status === 200) answers++
    // The key is cached, the model list too: requests keep being answered while the database is away.
    await proxy.stop()
    for (let i = 0; i < 15; i++) if ((await ask()).status === 200) answers++
    expect(answers).toBeGreaterThan(5)
    server.proc.kill('SIGTERM')
    expect(await server.exited).toBeLessThanOrEqual(1)
    const spooled = readdirSync(join(dataDir, 'spool')).filter((f) => f.endsWith('.jsonl'))
    expect(spooled.length).toBe(1)

    await proxy.start()
    server = await startServer(env)
    expect(readdirSync(join(dataDir, 'spool')).filter((f) => f.endsWith('.jsonl'))).toEqual([])
    const sql = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {}, connection: { search_path: schema } })
    try {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM usage_records WHERE api_key_id = ${created.id} AND status = 200`
      expect(row?.n).toBe(answers)
    } finally {
      await sql.end()
    }
    server.proc.kill('SIGTERM')
    await server.exited
    expect(existsSync(join(dataDir, 'spool'))).toBe(true)
  }, 90_000)
})
