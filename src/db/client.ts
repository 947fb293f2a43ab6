import postgres from 'postgres'
import { startEmbeddedPostgres } from './embedded.ts'

export type Sql = postgres.Sql
export type Tx = postgres.TransactionSql
/** Either the pool or a transaction: for helpers that can run inside a caller's transaction. */
export type Queryable = Sql | Tx

export interface Database {
  sql: Sql
  kind: 'postgres' | 'embedded'
  close(): Promise<void>
}

/**
 * max_pipeline: Infinity works around postgres.js 3.4.9 losing a transaction whose BEGIN is exactly the 100th
 * query queued on a connection (porsager/postgres#1189): the server crashed under load with the default of 100.
 */
export const clientOptions = { onnotice: () => {}, max_pipeline: Infinity }

/** `DATABASE_URL` set: a pooled client to that server. Unset: PGlite in `dataDir`, reached through its socket. */
export async function openDatabase(opts: { databaseUrl?: string | undefined; dataDir: string }): Promise<Database> {
  if (opts.databaseUrl) {
    const sql = postgres(opts.databaseUrl, { ...clientOptions, max: 10 })
    return { sql, kind: 'postgres', close: () => sql.end({ timeout: 5 }) }
  }
  const embedded = await startEmbeddedPostgres(opts.dataDir)
  const sql = postgres({ ...clientOptions, path: embedded.socketPath, max: 1, username: 'postgres', database: 'postgres' })
  return {
    sql,
    kind: 'embedded',
    async close() {
      await sql.end({ timeout: 5 })
      await embedded.close()
    },
  }
}
