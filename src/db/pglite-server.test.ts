/** The embedded database's socket server: postgres.js through it as through a server, one client at a time. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import type { PGlite } from '@electric-sql/pglite'
import { createPGlite } from './pglite.ts'
import { PGliteServer } from './pglite-server.ts'

let dir: string
let db: PGlite
let server: PGliteServer
const socketPath = () => join(dir, 'pg.sock')
const client = () => postgres({ path: socketPath(), max: 1, onnotice: () => {}, username: 'postgres', database: 'postgres' })

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'enclava-pglite-server-'))
  db = await createPGlite(undefined)
  server = new PGliteServer(db, socketPath())
  await server.start()
})
afterAll(async () => {
  await server.stop()
  await db.close()
  rmSync(dir, { recursive: true, force: true })
})

test('statements, parameters, pipelined queries, transactions and errors behave as on a server', async () => {
  const sql = client()
  try {
    await sql`CREATE TABLE t (id int PRIMARY KEY, body text)`
    // Many queries at once: postgres.js pipelines them on its one connection, so a piece holds several statements.
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => sql<{ x: number }[]>`SELECT ${i}::int AS x`))
    expect(answers.map((r) => r[0]!.x)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    // A failing statement in the middle of a pipeline fails alone.
    const mixed = await Promise.allSettled([sql`INSERT INTO t VALUES (1, 'a')`, sql`INSERT INTO t VALUES (1, 'again')`, sql`SELECT count(*)::int AS n FROM t`])
    expect(mixed.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect((mixed[1] as PromiseRejectedResult).reason.code).toBe('23505')
    expect((mixed[2] as unknown as PromiseFulfilledResult<{ n: number }[]>).value[0]!.n).toBe(1)
    // A transaction that throws is rolled back; one that ends is kept.
    await expect(
      sql.begin(async (tx) => {
        await tx`INSERT INTO t VALUES (2, 'b')`
        throw new Error('changed my mind')
      }),
    ).rejects.toThrow('changed my mind')
    await sql.begin((tx) => tx`INSERT INTO t VALUES (3, 'c')`)
    expect((await sql<{ id: number }[]>`SELECT id FROM t ORDER BY id`).map((r) => r.id)).toEqual([1, 3])
    // A statement larger than any socket read arrives in many pieces and is whole when run.
    const big = 'x'.repeat(6 * 1024 * 1024) + 'end'
    await sql`INSERT INTO t VALUES (4, ${big})`
    const [row] = await sql<{ n: number; tail: string }[]>`SELECT length(body) AS n, right(body, 3) AS tail FROM t WHERE id = 4`
    expect(row).toEqual({ n: big.length, tail: 'end' })
    // Its answer as well.
    const [back] = await sql<{ body: string }[]>`SELECT body FROM t WHERE id = 4`
    expect(back!.body).toBe(big)
  } finally {
    await sql.end()
  }
})

test('a client gone inside a transaction leaves nothing open for the next; a second client at once is refused', async () => {
  const first = client()
  await first`CREATE TABLE IF NOT EXISTS u (id int)`
  const reserved = await first.reserve()
  await reserved`BEGIN`
  await reserved`INSERT INTO u VALUES (1)`
  // One session: while the first client is connected, another is told so and let go.
  const refused = await new Promise<string>((resolve) => {
    const s = connect(socketPath())
    let text = ''
    s.on('data', (d) => (text += d.toString()))
    s.on('close', () => resolve(text))
  })
  expect(refused).toBe('Too many connections\n')
  await first.end({ timeout: 0 })
  const second = client()
  try {
    expect([...(await second<{ n: number }[]>`SELECT count(*)::int AS n FROM u`)]).toEqual([{ n: 0 }])
    expect(db.isInTransaction()).toBe(false)
  } finally {
    await second.end()
  }
})

test('bytes that are not the protocol close that connection; the next client is served', async () => {
  await new Promise<void>((resolve) => {
    const s = connect(socketPath(), () => s.write(Buffer.from([0, 0, 0, 2, 1, 2, 3, 4])))
    s.on('close', () => resolve())
    s.on('error', () => {})
  })
  const sql = client()
  try {
    expect([...(await sql`SELECT 1 AS one`)]).toEqual([{ one: 1 }])
  } finally {
    await sql.end()
  }
})
