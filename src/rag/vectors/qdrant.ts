import { QdrantClient } from '@qdrant/js-client-rest'
import type { SearchFilter, VectorHit, VectorItem, VectorStore } from './types.ts'

/**
 * Qdrant: one Qdrant collection per Enclava collection (its vector size is the embedding model's), cosine distance,
 * point id = chunk id, payload = chunk id, document id and the chunk's metadata (filterable).
 */
export class QdrantVectorStore implements VectorStore {
  readonly kind = 'qdrant'
  readonly #client: QdrantClient
  readonly #known = new Set<string>()

  constructor(url: string, apiKey?: string, readonly namePrefix = 'enclava_') {
    this.#client = new QdrantClient({ url, ...(apiKey ? { apiKey } : {}), checkCompatibility: false })
  }

  #name(collectionId: string): string {
    return `${this.namePrefix}${collectionId}`
  }

  async #ensure(collectionId: string, size: number): Promise<void> {
    const name = this.#name(collectionId)
    if (this.#known.has(name)) return
    const { exists } = await this.#client.collectionExists(name)
    if (!exists) {
      try {
        await this.#client.createCollection(name, { vectors: { size, distance: 'Cosine' } })
        await this.#client.createPayloadIndex(name, { field_name: 'document_id', field_schema: 'keyword', wait: true })
      } catch (err) {
        // Another replica created it first.
        if (!(await this.#client.collectionExists(name)).exists) throw err
      }
    }
    this.#known.add(name)
  }

  async upsert(collectionId: string, items: VectorItem[]): Promise<void> {
    if (items.length === 0) return
    const name = this.#name(collectionId)
    const points = items.map((i) => ({
      id: i.chunkId,
      vector: Array.from(i.vector),
      payload: { chunk_id: i.chunkId, document_id: i.documentId, metadata: i.metadata },
    }))
    await this.#ensure(collectionId, items[0]!.vector.length)
    try {
      await this.#client.upsert(name, { wait: true, points })
    } catch (err) {
      if (!isNotFound(err)) throw err
      // Cleared on another replica (the embedding model changed): created again, with the new model's size.
      this.#known.delete(name)
      await this.#ensure(collectionId, items[0]!.vector.length)
      await this.#client.upsert(name, { wait: true, points })
    }
  }

  async search(collectionId: string, vector: Float32Array, k: number, filter?: SearchFilter): Promise<VectorHit[]> {
    const must: Record<string, unknown>[] = []
    if (filter?.documentIds?.length) must.push({ key: 'document_id', match: { any: filter.documentIds } })
    for (const [key, value] of Object.entries(filter?.metadata ?? {})) must.push({ key: `metadata.${key}`, match: { value } })
    try {
      const res = await this.#client.query(this.#name(collectionId), {
        query: Array.from(vector),
        limit: k,
        with_payload: false,
        ...(must.length ? { filter: { must } } : {}),
      })
      return res.points.map((p) => ({ chunkId: Number(p.id), score: p.score }))
    } catch (err) {
      // Not created yet, or still of the previous model's size: no vector hits until the documents are indexed again.
      if (isNotFound(err) || isWrongSize(err)) return []
      throw err
    }
  }

  async deleteDocument(collectionId: string, documentId: string): Promise<void> {
    try {
      await this.#client.delete(this.#name(collectionId), {
        wait: true,
        filter: { must: [{ key: 'document_id', match: { value: documentId } }] },
      })
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
  }

  /** Qdrant fixes a collection's vector size at creation, so a new model's vectors need the collection made anew. */
  async clear(collectionId: string): Promise<void> {
    await this.deleteCollection(collectionId)
  }

  async deleteCollection(collectionId: string): Promise<void> {
    const name = this.#name(collectionId)
    this.#known.delete(name)
    try {
      await this.#client.deleteCollection(name)
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
  }
}

const isNotFound = (err: unknown) => (err as { status?: number })?.status === 404
const isWrongSize = (err: unknown) =>
  (err as { status?: number })?.status === 400 && /vector dimension error/i.test(JSON.stringify((err as { data?: unknown }).data ?? ''))
