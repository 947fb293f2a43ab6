import { afterEach, describe, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { migrations } from '../../migrations/index.ts'
import { testDatabase, type TestDatabase } from '../../test/harness.ts'
import { migrate, migrationsApplied } from './migrate.ts'

let db: TestDatabase | undefined
afterEach(async () => {
  await db?.drop()
  db = undefined
})

const tables = async (d: TestDatabase) =>
  (await d.sql<{ table_name: string }[]>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = ${d.schema} ORDER BY table_name`).map(
    (r) => r.table_name,
  )

describe('migrations', () => {
  test('the bundled list is exactly the numbered .sql files of migrations/, in order', () => {
    const files = readdirSync(join(import.meta.dir, '../../migrations'))
      .filter((f) => f.endsWith('.sql'))
      .sort()
    expect(files.length).toBeGreaterThan(0)
    expect(migrations.map((m) => m.name)).toEqual(files)
    for (const m of migrations) expect(m.version).toBe(Number(m.name.slice(0, 4)))
    expect(new Set(migrations.map((m) => m.version)).size).toBe(migrations.length)
  })

  test('apply to an empty database, record themselves, and a second run does nothing', async () => {
    db = await testDatabase()
    expect(await tables(db)).toEqual([])
    expect(await migrate(db.sql)).toEqual(migrations.map((m) => m.name))
    expect(await tables(db)).toEqual(
      expect.arrayContaining(['api_keys', 'audit_log', 'refresh_tokens', 'schema_migrations', 'sessions', 'users']),
    )
    expect(await migrationsApplied(db.sql)).toBe(true)
    expect(await migrate(db.sql)).toEqual([])
    const recorded = await db.sql<{ version: number }[]>`SELECT version FROM schema_migrations ORDER BY version`
    expect(recorded.map((r) => r.version)).toEqual(migrations.map((m) => m.version))
  })

  test('replicas starting together apply each migration exactly once', async () => {
    db = await testDatabase()
    const url = process.env.DATABASE_URL
    // On PostgreSQL each replica has its own connection, so the advisory lock is what keeps them apart.
    const others = url
      ? [1, 2].map(() => postgres(url, { onnotice: () => {}, max: 1, connection: { search_path: db?.schema ?? '' } }))
      : []
    try {
      const clients = others.length ? others : [db.sql, db.sql]
      const results = await Promise.all(clients.map((c) => migrate(c)))
      expect(results.flat().sort()).toEqual(migrations.map((m) => m.name).sort())
      const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM schema_migrations`
      expect(row?.n).toBe(migrations.length)
    } finally {
      await Promise.all(others.map((c) => c.end()))
    }
  })

  test('an applied migration that was edited stops the start-up', async () => {
    db = await testDatabase()
    await migrate(db.sql)
    const edited = migrations.map((m, i) => (i === 0 ? { ...m, sql: `${m.sql}\n-- edited` } : m))
    await expect(migrate(db.sql, edited)).rejects.toThrow(/was changed after it was applied/)
    expect(await migrationsApplied(db.sql)).toBe(true)
  })

  test('a failing migration is rolled back whole and not recorded; earlier ones stay', async () => {
    db = await testDatabase()
    const broken = [
      { version: 1, name: '0001_ok.sql', sql: 'CREATE TABLE a (id int)' },
      { version: 2, name: '0002_bad.sql', sql: 'CREATE TABLE b (id int); SELECT * FROM no_such_table' },
    ]
    await expect(migrate(db.sql, broken)).rejects.toThrow(/migration 0002_bad.sql failed: .*no_such_table/)
    expect(await tables(db)).toEqual(['a', 'schema_migrations'])
    expect(await migrationsApplied(db.sql, broken)).toBe(false)
  })

  test('0017 carries every postings row of a database into one row per chunk, then drops the postings', async () => {
    db = await testDatabase()
    const before = migrations.filter((m) => m.version < 17)
    await migrate(db.sql, before)
    const coll = '00000000-0000-4000-8000-000000000001'
    const doc = '00000000-0000-4000-8000-000000000002'
    // Rows without their users and collections: only the postings' shape matters here.
    await db.sql.begin(async (tx) => {
      await tx`SET LOCAL session_replication_role = replica`
      const ids = await tx<{ id: string }[]>`
        INSERT INTO rag_chunks (collection_id, document_id, position, text, tokens, terms)
        VALUES (${coll}, ${doc}, 0, 'a', 1, 4), (${coll}, ${doc}, 1, 'b', 1, 1), (${coll}, ${doc}, 2, 'c', 1, 0) RETURNING id`
      const [a, b] = ids.map((r) => r.id)
      await tx`
        INSERT INTO rag_postings (collection_id, term, chunk_id, tf, length) VALUES
          (${coll}, 'null', ${a!}, 2, 4), (${coll}, 'bee', ${a!}, 1, 4), (${coll}, 'über', ${a!}, 1, 4), (${coll}, 'bee', ${b!}, 1, 1)`
    })
    await migrate(db.sql)
    const rows = await db.sql<{ position: number; document_id: string; length: number; terms: string[]; tfs: number[] }[]>`
      SELECT c.position, t.document_id, t.length, t.terms, t.tfs FROM rag_chunk_terms t JOIN rag_chunks c ON c.id = t.chunk_id ORDER BY c.position`
    expect([...rows]).toEqual([
      { position: 0, document_id: doc, length: 4, terms: ['bee', 'null', 'über'], tfs: [1, 2, 1] },
      { position: 1, document_id: doc, length: 1, terms: ['bee'], tfs: [1] },
    ])
    expect(await tables(db)).not.toContain('rag_postings')
  })
})
