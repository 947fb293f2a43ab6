import type { Config } from '../../config.ts'
import type { Sql } from '../../db/client.ts'
import { PgVectorStore, PostgresVectorStore } from './postgres.ts'
import type { VectorStore } from './types.ts'

export type { SearchFilter, VectorHit, VectorItem, VectorStore } from './types.ts'

/**
 * VECTOR_STORE=auto picks Qdrant when QDRANT_URL is set, else pgvector where the migration could create its table
 * (always in the embedded PGlite), else exact search over float32 vectors kept in PostgreSQL.
 */
export async function openVectorStore(config: Pick<Config, 'VECTOR_STORE' | 'QDRANT_URL' | 'QDRANT_API_KEY'>, sql: Sql): Promise<VectorStore> {
  const choice = config.VECTOR_STORE
  if (choice === 'qdrant' || (choice === 'auto' && config.QDRANT_URL)) {
    if (!config.QDRANT_URL) throw new Error('VECTOR_STORE=qdrant needs QDRANT_URL')
    // Its client (11 MB resident) is loaded only where Qdrant is used.
    const { QdrantVectorStore } = await import('./qdrant.ts')
    return new QdrantVectorStore(config.QDRANT_URL, config.QDRANT_API_KEY)
  }
  const [row] = await sql<{ present: boolean }[]>`SELECT to_regclass('rag_vectors') IS NOT NULL AS present`
  if (choice === 'pgvector' && !row?.present) throw new Error('VECTOR_STORE=pgvector, but the database has no pgvector extension')
  if (choice === 'pgvector' || (choice === 'auto' && row?.present)) return new PgVectorStore(sql)
  return new PostgresVectorStore(sql)
}
