import type { Queryable, Sql } from '../../db/client.ts'
import { normalize, type SearchFilter, type VectorHit, type VectorItem, type VectorStore } from './types.ts'

/** SQL condition on rag_chunks `c` for a filter; `TRUE` when there is none. */
export function chunkFilter(sql: Sql, filter: SearchFilter | undefined) {
  const docs = filter?.documentIds?.length ? sql`c.document_id = ANY(${filter.documentIds}::uuid[])` : sql`TRUE`
  const meta = filter?.metadata && Object.keys(filter.metadata).length ? sql`c.metadata @> ${sql.json(filter.metadata)}` : sql`TRUE`
  return sql`${docs} AND ${meta}`
}

export const hasFilter = (f: SearchFilter | undefined) => Boolean(f?.documentIds?.length || (f?.metadata && Object.keys(f.metadata).length))

/** pgvector: exact cosine distance over the collection's rows (dimensions differ per collection, so no shared ANN index). */
export class PgVectorStore implements VectorStore {
  readonly kind = 'pgvector'
  constructor(readonly sql: Sql) {}

  async upsert(collectionId: string, items: VectorItem[], tx: Queryable = this.sql): Promise<void> {
    if (items.length === 0) return
    await tx`
      INSERT INTO rag_vectors (chunk_id, collection_id, embedding)
      SELECT id, ${collectionId}, v::vector FROM unnest(${items.map((i) => i.chunkId)}::bigint[], ${items.map((i) => `[${i.vector.join(',')}]`)}::text[]) AS t(id, v)
      ON CONFLICT (chunk_id) DO UPDATE SET embedding = excluded.embedding`
  }

  async search(collectionId: string, vector: Float32Array, k: number, filter?: SearchFilter): Promise<VectorHit[]> {
    const q = `[${vector.join(',')}]`
    const rows = hasFilter(filter)
      ? await this.sql<{ chunk_id: string; score: number }[]>`
          SELECT v.chunk_id, 1 - (v.embedding <=> ${q}::vector) AS score
          FROM rag_vectors v JOIN rag_chunks c ON c.id = v.chunk_id
          WHERE v.collection_id = ${collectionId} AND vector_dims(v.embedding) = ${vector.length} AND ${chunkFilter(this.sql, filter)}
          ORDER BY v.embedding <=> ${q}::vector LIMIT ${k}`
      : await this.sql<{ chunk_id: string; score: number }[]>`
          SELECT chunk_id, 1 - (embedding <=> ${q}::vector) AS score FROM rag_vectors
          WHERE collection_id = ${collectionId} AND vector_dims(embedding) = ${vector.length} ORDER BY embedding <=> ${q}::vector LIMIT ${k}`
    return rows.map((r) => ({ chunkId: Number(r.chunk_id), score: Number(r.score) }))
  }

  async deleteDocument(): Promise<void> {}
  async deleteCollection(): Promise<void> {}
  async clear(collectionId: string, tx: Queryable = this.sql): Promise<void> {
    await tx`DELETE FROM rag_vectors WHERE collection_id = ${collectionId}`
  }
}

interface Matrix {
  count: number
  version: string
  ids: Float64Array
  dims: number
  /** Row-major, every row unit length, so a dot product is the cosine. */
  data: Float32Array
}

/**
 * PostgreSQL without pgvector: vectors are float32 bytes in rag_embeddings and searched exactly in this process.
 * Each replica keeps a collection's matrix in memory and reloads it when the rows change (count or latest write),
 * which one cheap aggregate tells before every search.
 */
export class PostgresVectorStore implements VectorStore {
  readonly kind = 'postgres'
  readonly #cache = new Map<string, Matrix>()
  constructor(readonly sql: Sql) {}

  async upsert(collectionId: string, items: VectorItem[], tx: Queryable = this.sql): Promise<void> {
    if (items.length === 0) return
    // Hex text, because postgres.js cannot send an array of binary values.
    const hex = items.map((i) => Buffer.from(normalize(i.vector).buffer).toString('hex'))
    await tx`
      INSERT INTO rag_embeddings (chunk_id, collection_id, embedding)
      SELECT id, ${collectionId}, decode(e, 'hex') FROM unnest(${items.map((i) => i.chunkId)}::bigint[], ${hex}::text[]) AS t(id, e)
      ON CONFLICT (chunk_id) DO UPDATE SET embedding = excluded.embedding, written_at = clock_timestamp()`
  }

  /** Only the rows of the query's size: a collection re-indexed for another model holds both sizes for a while. */
  async #matrix(collectionId: string, dims: number): Promise<Matrix | undefined> {
    const sized = this.sql`collection_id = ${collectionId} AND octet_length(embedding) = ${dims * 4}`
    const [state] = await this.sql<{ count: string; version: string | null }[]>`
      SELECT count(*) AS count, max(written_at)::text AS version FROM rag_embeddings WHERE ${sized}`
    const count = Number(state?.count ?? 0)
    const version = state?.version ?? ''
    if (count === 0) return undefined
    const cached = this.#cache.get(collectionId)
    if (cached && cached.dims === dims && cached.count === count && cached.version === version) return cached
    const rows = await this.sql<{ chunk_id: string; embedding: Buffer }[]>`
      SELECT chunk_id, embedding FROM rag_embeddings WHERE ${sized}`
    const data = new Float32Array(rows.length * dims)
    const ids = new Float64Array(rows.length)
    rows.forEach((r, i) => {
      ids[i] = Number(r.chunk_id)
      data.set(new Float32Array(r.embedding.buffer.slice(r.embedding.byteOffset, r.embedding.byteOffset + r.embedding.byteLength)), i * dims)
    })
    const matrix = { count: rows.length, version, ids, dims, data }
    this.#cache.set(collectionId, matrix)
    return matrix
  }

  async search(collectionId: string, vector: Float32Array, k: number, filter?: SearchFilter): Promise<VectorHit[]> {
    const m = await this.#matrix(collectionId, vector.length)
    if (!m) return []
    let allowed: Set<number> | undefined
    if (hasFilter(filter)) {
      const rows = await this.sql<{ id: string }[]>`
        SELECT c.id FROM rag_chunks c WHERE c.collection_id = ${collectionId} AND ${chunkFilter(this.sql, filter)}`
      allowed = new Set(rows.map((r) => Number(r.id)))
    }
    const q = normalize(vector)
    const hits: VectorHit[] = []
    for (let row = 0; row < m.count; row++) {
      const id = m.ids[row]!
      if (allowed && !allowed.has(id)) continue
      let dot = 0
      const base = row * m.dims
      for (let d = 0; d < m.dims; d++) dot += m.data[base + d]! * q[d]!
      hits.push({ chunkId: id, score: dot })
    }
    return hits.sort((a, b) => b.score - a.score).slice(0, k)
  }

  async deleteDocument(): Promise<void> {}
  async deleteCollection(collectionId: string): Promise<void> {
    this.#cache.delete(collectionId)
  }
  async clear(collectionId: string, tx: Queryable = this.sql): Promise<void> {
    await tx`DELETE FROM rag_embeddings WHERE collection_id = ${collectionId}`
  }
}
