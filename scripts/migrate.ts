// `bun run migrate`: apply pending migrations to the configured database, then exit.
import { ConfigError, loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/db/client.ts'
import { migrate } from '../src/db/migrate.ts'

try {
  const config = loadConfig()
  const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR })
  try {
    const applied = await migrate(db.sql)
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date')
  } finally {
    await db.close()
  }
} catch (err) {
  console.error(`enclava migrate: ${err instanceof ConfigError ? 'invalid configuration: ' : ''}${(err as Error).message}`)
  process.exit(1)
}
