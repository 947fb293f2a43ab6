import type { Queryable, Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { CreateCollectionInput, UpdateCollectionInput } from './model.ts'

export interface CollectionRow {
  id: string
  owner_id: string
  name: string
  description: string
  embedding_model: string | null
  embedding_dimensions: number | null
  chunk_tokens: number
  chunk_overlap: number
  document_count: number
  chunk_count: number
  bytes: string
  term_count: string
  created_at: Date
  updated_at: Date
}

/**
 * Who is asking. Users with rag:admin reach every collection; everyone else their own. An API key acts for its
 * owner and may be narrowed further to some collections.
 */
export interface RagActor {
  userId: string
  isAdmin: boolean
  allowedCollections?: readonly string[]
}

export const presentCollection = (c: CollectionRow) => ({
  id: c.id,
  owner_id: c.owner_id,
  name: c.name,
  description: c.description,
  embedding_model: c.embedding_model,
  embedding_dimensions: c.embedding_dimensions,
  chunk_tokens: c.chunk_tokens,
  chunk_overlap: c.chunk_overlap,
  document_count: c.document_count,
  chunk_count: c.chunk_count,
  bytes: Number(c.bytes),
  created_at: c.created_at.toISOString(),
  updated_at: c.updated_at.toISOString(),
})

function checkChunking(tokens: number, overlap: number): void {
  if (overlap >= tokens / 2)
    throw new ApiError('validation_failed', 'chunk_overlap must be less than half of chunk_tokens', 'chunk_overlap')
}

/** Collections: ownership and settings. Their documents and search live in the documents and search services. */
export class CollectionService {
  constructor(readonly sql: Sql) {}

  #visible(actor: RagActor) {
    const sql = this.sql
    const owner = actor.isAdmin ? sql`TRUE` : sql`owner_id = ${actor.userId}`
    const restricted = actor.allowedCollections?.length ? sql`id = ANY(${actor.allowedCollections}::uuid[])` : sql`TRUE`
    return sql`${owner} AND ${restricted}`
  }

  async list(actor: RagActor): Promise<CollectionRow[]> {
    return [...(await this.sql<CollectionRow[]>`SELECT * FROM rag_collections WHERE ${this.#visible(actor)} ORDER BY created_at DESC`)]
  }

  /** A collection the actor may not see is reported as missing, so ids cannot be probed. */
  async get(actor: RagActor, id: string): Promise<CollectionRow> {
    const [row] = await this.sql<CollectionRow[]>`SELECT * FROM rag_collections WHERE id = ${id} AND ${this.#visible(actor)}`
    if (!row) throw new ApiError('not_found', `Collection ${id} not found`)
    return row
  }

  async create(ownerId: string, input: CreateCollectionInput): Promise<CollectionRow> {
    const tokens = input.chunk_tokens ?? 300
    const overlap = input.chunk_overlap ?? Math.min(50, Math.floor(tokens / 4))
    checkChunking(tokens, overlap)
    try {
      const [row] = await this.sql<CollectionRow[]>`
        INSERT INTO rag_collections (owner_id, name, description, embedding_model, chunk_tokens, chunk_overlap)
        VALUES (${ownerId}, ${input.name}, ${input.description ?? ''}, ${input.embedding_model ?? null}, ${tokens}, ${overlap})
        RETURNING *`
      return row!
    } catch (err) {
      if ((err as { code?: string }).code === '23505')
        throw new ApiError('conflict', `You already have a collection named "${input.name}"`, 'name')
      throw err
    }
  }

  /**
   * Applies the change and, in the same transaction, `reindex` when the documents must be indexed again (new
   * chunking, another or no embedding model), so a change is never saved without its re-indexing. `modelChanged`
   * says the stored vectors no longer fit.
   */
  async update(
    actor: RagActor,
    id: string,
    patch: UpdateCollectionInput,
    reindex: (tx: Queryable, change: { modelChanged: boolean }) => Promise<void>,
  ): Promise<{ row: CollectionRow; reindexed: boolean }> {
    await this.get(actor, id)
    try {
      return await this.sql.begin(async (tx) => {
        // The documents before the collection row, the order the indexer locks them in (the other order deadlocks).
        await tx`SELECT 1 FROM rag_documents WHERE collection_id = ${id} ORDER BY id FOR UPDATE`
        const [current] = await tx<CollectionRow[]>`SELECT * FROM rag_collections WHERE id = ${id} FOR UPDATE`
        if (!current) throw new ApiError('not_found', `Collection ${id} not found`)
        checkChunking(patch.chunk_tokens ?? current.chunk_tokens, patch.chunk_overlap ?? current.chunk_overlap)
        const fields = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined))
        const modelChanged = patch.embedding_model !== undefined && patch.embedding_model !== current.embedding_model
        const reindexed =
          modelChanged ||
          (patch.chunk_tokens !== undefined && patch.chunk_tokens !== current.chunk_tokens) ||
          (patch.chunk_overlap !== undefined && patch.chunk_overlap !== current.chunk_overlap)
        // The next indexed document records the new model's size.
        if (modelChanged) fields.embedding_dimensions = null
        const [row] = await tx<CollectionRow[]>`
          UPDATE rag_collections SET ${tx(fields)}, updated_at = now() WHERE id = ${id} RETURNING *`
        if (reindexed) await reindex(tx, { modelChanged })
        return { row: row!, reindexed }
      })
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new ApiError('conflict', `You already have a collection named "${patch.name}"`, 'name')
      throw err
    }
  }
}
