// `bun run migrate`: apply pending migrations to the configured database, then exit (as `enclava migrate` does).
import { migrateCommand } from '../src/cli.ts'
import { ConfigError, loadConfig } from '../src/config.ts'

try {
  process.exit(await migrateCommand(loadConfig()))
} catch (err) {
  console.error(`enclava migrate: ${err instanceof ConfigError ? 'invalid configuration: ' : ''}${(err as Error).message}`)
  process.exit(1)
}
