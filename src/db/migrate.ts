import { createHash } from 'node:crypto'
import { migrations as bundled } from '../../migrations/index.ts'
import type { Sql } from './client.ts'

export interface Migration {
  version: number
  name: string
  sql: string
}

const checksum = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * Applies pending migrations in order, each in its own transaction. An advisory lock (per schema) makes replicas
 * that start together take turns; the second finds nothing left to do. An applied migration whose file changed
 * stops the start-up: migrations are forward-only and a silent edit would leave databases diverged.
 */
export async function migrate(sql: Sql, migrations: readonly Migration[] = bundled): Promise<string[]> {
  const conn = await sql.reserve()
  try {
    await conn`SELECT pg_advisory_lock(hashtext(current_schema() || ':enclava:migrations'))`
    try {
      await conn`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`
      const rows = await conn<{ version: number; name: string; checksum: string }[]>`
        SELECT version, name, checksum FROM schema_migrations`
      const applied = new Map(rows.map((r) => [r.version, r]))
      const done: string[] = []
      for (const m of migrations) {
        const previous = applied.get(m.version)
        if (previous) {
          if (previous.checksum !== checksum(m.sql))
            throw new Error(`migration ${m.name} was changed after it was applied; add a new migration instead`)
          continue
        }
        await conn`BEGIN`
        try {
          await conn.unsafe(m.sql)
          await conn`INSERT INTO schema_migrations (version, name, checksum) VALUES (${m.version}, ${m.name}, ${checksum(m.sql)})`
          await conn`COMMIT`
        } catch (err) {
          await conn`ROLLBACK`
          throw new Error(`migration ${m.name} failed: ${(err as Error).message}`)
        }
        done.push(m.name)
      }
      return done
    } finally {
      await conn`SELECT pg_advisory_unlock(hashtext(current_schema() || ':enclava:migrations'))`
    }
  } finally {
    conn.release()
  }
}

/** For readiness: true when every bundled migration is recorded as applied. */
export async function migrationsApplied(sql: Sql, migrations: readonly Migration[] = bundled): Promise<boolean> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM schema_migrations WHERE version IN ${sql(migrations.map((m) => m.version))}`
  return row?.n === migrations.length
}
