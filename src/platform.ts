import { openCache } from './cache/index.ts'
import type { Config } from './config.ts'
import { openDatabase, type Database } from './db/client.ts'
import { migrate } from './db/migrate.ts'
import type { Logger } from './log.ts'
import { createServices, startServices, stopServices, type Services } from './services.ts'
import { ensureAdmin } from './users/bootstrap.ts'

export interface Platform {
  services: Services
  database: Database
  close(): Promise<void>
}

/** config -> stores -> migrations -> first admin -> services. The reverse order closes it. */
export async function openPlatform(config: Config, log: Logger): Promise<Platform> {
  const database = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR })
  try {
    const cache = await openCache({
      redisUrl: config.REDIS_URL,
      prefix: config.REDIS_PREFIX,
      onHandlerError: (err, channel) => log.error({ err, channel }, 'cache subscriber failed'),
    })
    const applied = await migrate(database.sql)
    if (applied.length) log.info({ applied }, 'migrations applied')
    const services = createServices({ config, sql: database.sql, cache, log, soleWriter: database.kind === 'embedded' })
    await ensureAdmin(services.users, log, { email: config.ADMIN_EMAIL, password: config.ADMIN_PASSWORD })
    await startServices(services)
    log.info({ database: database.kind, cache: cache.kind }, 'stores open')
    return {
      services,
      database,
      async close() {
        await stopServices(services)
        await cache.close()
        await database.close()
      },
    }
  } catch (err) {
    await database.close()
    throw err
  }
}
