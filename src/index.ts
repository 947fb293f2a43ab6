import { createApp } from './app.ts'
import { type Command, healthcheckCommand, helpText, migrateCommand, parseCommand, runtimeConfig, UsageError, VERSION } from './cli.ts'
import { type Config, ConfigError } from './config.ts'
import { createLogger } from './log.ts'
import { openPlatform } from './platform.ts'
import { RuntimeUnpackError, type UnpackedRuntime } from './runtime/unpack.ts'

let command: Command
try {
  command = parseCommand(Bun.argv.slice(2))
} catch (err) {
  if (!(err instanceof UsageError)) throw err
  console.error(`enclava: ${err.message}`)
  process.exit(2)
}
if (command === 'help') {
  process.stdout.write(helpText())
  process.exit(0)
}
if (command === 'version') {
  console.log(VERSION)
  process.exit(0)
}

let config: Config
let runtime: UnpackedRuntime | undefined
try {
  if (command === 'healthcheck') process.exit(await healthcheckCommand())
  const ready = await runtimeConfig()
  config = ready.config
  runtime = ready.runtime
  if (command === 'migrate') process.exit(await migrateCommand(config))
} catch (err) {
  if (err instanceof RuntimeUnpackError) {
    console.error(`enclava: ${err.message}`)
    process.exit(1)
  }
  if (!(err instanceof ConfigError)) throw err
  console.error(`enclava: invalid configuration: ${err.message}`)
  process.exit(2)
}

const log = createLogger(config.LOG_LEVEL)
if (runtime) log.info({ dir: runtime.dir, unpacked: runtime.unpacked, ms: runtime.ms }, 'runtime ready')
const platform = await openPlatform(config, log)
// Bun refuses bodies over 128 MB by default; an upload batch may carry many files of up to UPLOAD_MAX_FILE_MB each.
// Bun closes a connection that stays silent for 10 s by default, and a model may take its first-byte timeout before
// the first token of a stream or a whole answer: the idle timeout covers that wait (Bun allows at most 255 s).
const app = createApp(platform.services).listen({
  port: config.PORT,
  hostname: config.HOST,
  maxRequestBodySize: config.UPLOAD_MAX_REQUEST_MB * 1024 * 1024,
  idleTimeout: Math.min(255, Math.ceil(config.UPSTREAM_FIRST_BYTE_TIMEOUT_MS / 1000) + 10),
})
log.info({ url: `http://${config.HOST}:${app.server?.port}` }, 'enclava listening')

let stopping = false
/**
 * Stop accepting, let in-flight requests finish, then close the services and stores, all within
 * SHUTDOWN_TIMEOUT_MS whatever plugins, upstreams or stores do: requests get the time up to the last part of it
 * (then their connections are closed), closing gets the rest, and past the deadline the process exits anyway.
 */
async function shutdown(signal: string) {
  if (stopping) return
  stopping = true
  platform.services.draining = true
  log.info({ signal }, 'shutting down')
  const total = config.SHUTDOWN_TIMEOUT_MS
  const closeReserve = Math.min(3_000, Math.floor(total * 0.3))
  const hard = setTimeout(() => {
    log.error({ timeoutMs: total }, 'shutdown did not finish within SHUTDOWN_TIMEOUT_MS; exiting')
    process.exit(1)
  }, total)
  hard.unref()
  platform.services.plugins.cron.pause()
  const drained = app.server?.stop(false) ?? Promise.resolve()
  const force = setTimeout(() => {
    log.warn('in-flight requests did not finish in time; closing them')
    void app.server?.stop(true)
  }, total - closeReserve)
  try {
    await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, total - closeReserve + 100))])
    clearTimeout(force)
    await platform.close()
    log.info('shutdown complete')
    process.exit(0)
  } catch (err) {
    log.error({ err }, 'shutdown failed')
    process.exit(1)
  }
}
// One failed promise nobody awaited must not take every other request down with the process.
process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'))
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
