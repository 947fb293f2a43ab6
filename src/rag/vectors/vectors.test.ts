/**
 * One contract for every vector store: nearest neighbours by cosine, filters by document and metadata, deletion.
 * pgvector runs where the database has it (the embedded PGlite), the exact PostgreSQL store everywhere, Qdrant
 * against QDRANT_URL when given and otherwise against a local server speaking Qdrant's REST protocol.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startFakeQdrant } from '../../../test/fixtures/qdrant.ts'
import { testDatabase, type TestDatabase } from '../../../test/harness.ts'
import { migrate } from '../../db/migrate.ts'
import { PgVectorStore, PostgresVectorStore } from './postgres.ts'
import { QdrantVectorStore } from './qdrant.ts'
import type { VectorStore } from './types.ts'

let db: TestDatabase
let fake: Awaited<ReturnType<typeof startFakeQdrant>> | undefined
let hasPgvector = false

beforeAll(async () => {
  db = await testDatabase()
  await migrate(db.sql)
  hasPgvector = Boolean((await db.sql<{ present: boolean }[]>`SELECT to_regclass('rag_vectors') IS NOT NULL AS present`)[0]?.present)
  if (!process.env.QDRANT_URL) fake = await startFakeQdrant()
  // Said in the output, so a run's log shows which Qdrant the contract was checked against.
  console.log(process.env.QDRANT_URL ? `vector store contract: a real Qdrant at ${process.env.QDRANT_URL}` : 'vector store contract: Qdrant stand-in (test/fixtures/qdrant.ts); set QDRANT_URL for a real one')
})
afterAll(async () => {
  await fake?.stop()
  await db.drop()
})

/** A collection with two documents of three chunks each, as the indexer would leave them. */
async function fixture() {
  const [user] = await db.sql<{ id: string }[]>`
    INSERT INTO users (email, username, password_hash, role) VALUES (${`${crypto.randomUUID()}@x.test`}, ${crypto.randomUUID()}, 'x', 'user') RETURNING id`
  const [col] = await db.sql<{ id: string }[]>`INSERT INTO rag_collections (owner_id, name) VALUES (${user!.id}, 'v') RETURNING id`
  const docs: string[] = []
  const chunks: { id: number; doc: string; lang: string }[] = []
  for (const d of [0, 1]) {
    const [doc] = await db.sql<{ id: string }[]>`
      INSERT INTO rag_documents (collection_id, filename, format, size, sha256, wrapped_key) VALUES (${col!.id}, ${`d${d}.txt`}, 'txt', 1, ${crypto.randomUUID()}, 'k')
      RETURNING id`
    docs.push(doc!.id)
    for (const p of [0, 1, 2]) {
      const lang = p === 2 ? 'de' : 'en'
      const [c] = await db.sql<{ id: string }[]>`
        INSERT INTO rag_chunks (collection_id, document_id, position, text, tokens, terms, metadata)
        VALUES (${col!.id}, ${doc!.id}, ${p}, 'x', 1, 1, ${db.sql.json({ lang })}) RETURNING id`
      chunks.push({ id: Number(c!.id), doc: doc!.id, lang })
    }
  }
  return { collectionId: col!.id, docs, chunks }
}

/** Unit-ish vectors pointing in distinct directions: chunk i is nearest to basis(i). */
const basis = (i: number, dims = 6) => Float32Array.from({ length: dims }, (_, d) => (d === i ? 1 : 0.05))

/** `prefix` names the Qdrant collections; two stores given the same one act as two replicas. */
const backends: [string, (prefix?: string) => VectorStore | null][] = [
  ['pgvector', () => (hasPgvector ? new PgVectorStore(db.sql) : null)],
  ['postgres (exact)', () => new PostgresVectorStore(db.sql)],
  [
    'qdrant',
    (prefix = `enclava_test_${crypto.randomUUID().slice(0, 8)}_`) => new QdrantVectorStore(process.env.QDRANT_URL ?? fake!.url, process.env.QDRANT_API_KEY, prefix),
  ],
]

for (const [name, make] of backends) {
  describe(name, () => {
    test('nearest neighbours, filters, document and collection deletion', async () => {
      const store = make()
      if (!store) {
        // Only pgvector can be absent (Debian's PostgreSQL 15 has no package for it); say so rather than pass silently.
        expect(process.env.DATABASE_URL).toBeDefined()
        return
      }
      const { collectionId, docs, chunks } = await fixture()
      await store.upsert(
        collectionId,
        chunks.map((c, i) => ({ chunkId: c.id, documentId: c.doc, vector: basis(i), metadata: { lang: c.lang } })),
      )
      const hits = await store.search(collectionId, basis(4), 3)
      expect(hits[0]!.chunkId).toBe(chunks[4]!.id)
      expect(hits[0]!.score).toBeGreaterThan(0.95)
      expect(hits).toHaveLength(3)
      expect(hits[0]!.score).toBeGreaterThanOrEqual(hits[1]!.score)

      const inDoc0 = await store.search(collectionId, basis(4), 6, { documentIds: [docs[0]!] })
      expect(inDoc0.map((h) => h.chunkId).sort()).toEqual(chunks.slice(0, 3).map((c) => c.id).sort())
      const german = await store.search(collectionId, basis(0), 6, { metadata: { lang: 'de' } })
      expect(german.map((h) => h.chunkId).sort()).toEqual([chunks[2]!.id, chunks[5]!.id].sort())

      // Upsert replaces: chunk 0 now points where chunk 3 did.
      await store.upsert(collectionId, [{ chunkId: chunks[0]!.id, documentId: docs[0]!, vector: basis(3), metadata: { lang: 'en' } }])
      const nowNear3 = await store.search(collectionId, basis(3), 2)
      expect(nowNear3.map((h) => h.chunkId).sort()).toEqual([chunks[0]!.id, chunks[3]!.id].sort())
      expect(nowNear3[1]!.score).toBeGreaterThan(0.95)

      // What the document service does on delete: chunks go (PostgreSQL stores follow by foreign key), then the store is told.
      await db.sql`DELETE FROM rag_chunks WHERE document_id = ${docs[0]!}`
      await store.deleteDocument(collectionId, docs[0]!)
      const left = await store.search(collectionId, basis(1), 10)
      expect(left.map((h) => h.chunkId).sort()).toEqual(chunks.slice(3).map((c) => c.id).sort())

      await store.deleteCollection(collectionId)
      await db.sql`DELETE FROM rag_collections WHERE id = ${collectionId}`
      expect(await store.search(collectionId, basis(1), 10)).toEqual([])
    })

    test('after a clear (new embedding model) vectors of another size are stored and searched, through any replica', async () => {
      const prefix = `enclava_test_${crypto.randomUUID().slice(0, 8)}_`
      const store = make(prefix)
      const replica = make(prefix)
      if (!store || !replica) {
        expect(process.env.DATABASE_URL).toBeDefined()
        return
      }
      const { collectionId, chunks } = await fixture()
      const items = (dims: number) => chunks.map((c, i) => ({ chunkId: c.id, documentId: c.doc, vector: basis(i, dims), metadata: { lang: c.lang } }))
      // The replica has written (and, for Qdrant, created the collection) at the old size.
      await replica.upsert(collectionId, items(6))
      expect((await replica.search(collectionId, basis(4), 1))[0]!.chunkId).toBe(chunks[4]!.id)
      await store.clear(collectionId)
      expect(await replica.search(collectionId, basis(4, 10), 3)).toEqual([])
      await replica.upsert(collectionId, items(10))
      const hits = await store.search(collectionId, basis(4, 10), 3)
      expect(hits[0]!.chunkId).toBe(chunks[4]!.id)
      expect(hits).toHaveLength(3)
      // A query of the old size meets no vector of its size: no hits rather than an error.
      expect(await store.search(collectionId, basis(4), 3)).toEqual([])
      await store.deleteCollection(collectionId)
      await db.sql`DELETE FROM rag_collections WHERE id = ${collectionId}`
    })
  })
}
