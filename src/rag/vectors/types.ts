import type { Queryable } from '../../db/client.ts'

export interface VectorItem {
  chunkId: number
  documentId: string
  vector: Float32Array
  metadata: Record<string, unknown>
}

/** Restricts a search to some documents and/or to chunks whose metadata contains these key/value pairs. */
export interface SearchFilter {
  documentIds?: string[]
  metadata?: Record<string, string | number | boolean>
}

export interface VectorHit {
  chunkId: number
  /** Cosine similarity, -1..1. */
  score: number
}

/** Where chunk embeddings live. Every backend answers with cosine similarity, so scores compare across them. */
export interface VectorStore {
  readonly kind: 'pgvector' | 'postgres' | 'qdrant'
  /** `tx` lets the PostgreSQL backends write in the same transaction as the chunks. */
  upsert(collectionId: string, items: VectorItem[], tx?: Queryable): Promise<void>
  search(collectionId: string, vector: Float32Array, k: number, filter?: SearchFilter): Promise<VectorHit[]>
  /** The PostgreSQL backends lose their rows with the chunks (foreign keys); Qdrant needs to be told. */
  deleteDocument(collectionId: string, documentId: string): Promise<void>
  deleteCollection(collectionId: string): Promise<void>
  /**
   * Forgets every vector of the collection because its embedding model changed; the next upsert may bring another
   * size. Called with the documents' new jobs not yet committed, so no vector of the new model is lost.
   */
  clear(collectionId: string, tx?: Queryable): Promise<void>
}

export function normalize(v: Float32Array): Float32Array {
  let norm = 0
  for (let i = 0; i < v.length; i++) norm += v[i]! * v[i]!
  norm = Math.sqrt(norm)
  if (norm === 0) return v
  const out = new Float32Array(v.length)
  for (let i = 0; i < v.length; i++) out[i] = v[i]! / norm
  return out
}
