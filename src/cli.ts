/**
 * The command line, the same for `bun src/index.ts` and the single binary (`enclava`): a command, and everything
 * else from the environment. `--help` lists every setting from ConfigSchema, so it cannot drift from what is parsed.
 */
import { resolve } from 'node:path'
import type { TSchema } from '@sinclair/typebox'
import pkg from '../package.json' with { type: 'json' }
import { type Config, ConfigSchema, loadConfig, parseConfig } from './config.ts'
import { type Database, openDatabase } from './db/client.ts'
import { migrate } from './db/migrate.ts'
import { binaryAssets } from './runtime/binary.ts'
import { runtimeDefaults, unpackRuntime, type UnpackedRuntime } from './runtime/unpack.ts'

export const VERSION: string = pkg.version

export type Command = 'serve' | 'migrate' | 'healthcheck' | 'help' | 'version'

const COMMANDS: Record<string, Command> = {
  serve: 'serve',
  migrate: 'migrate',
  healthcheck: 'healthcheck',
  help: 'help',
  '--help': 'help',
  '-h': 'help',
  version: 'version',
  '--version': 'version',
  '-v': 'version',
}

export class UsageError extends Error {
  override name = 'UsageError'
}

/** `[]` is `serve`. Throws UsageError for anything else it does not know. */
export function parseCommand(args: readonly string[]): Command {
  if (args.length === 0) return 'serve'
  const [first, ...rest] = args
  const command = first !== undefined && Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined
  if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(first)}; see --help`)
  if (rest.length > 0) throw new UsageError(`${first} takes no arguments (settings come from the environment); see --help`)
  return command
}

function defaultOf(schema: TSchema): string | undefined {
  if (schema.default === undefined) return undefined
  return typeof schema.default === 'string' ? schema.default : JSON.stringify(schema.default)
}

/** Every setting with its default (or what unset means) and its meaning, from ConfigSchema. */
export function helpText(): string {
  const settings = Object.entries(ConfigSchema.properties).map(([name, schema]: [string, TSchema]) => {
    const fallback = defaultOf(schema)
    const when = fallback !== undefined ? `default ${fallback}` : `unset${typeof schema.unset === 'string' ? `: ${schema.unset}` : ''}`
    return `  ${name}  (${when})\n      ${schema.description ?? ''}`
  })
  return `Enclava ${VERSION}: a self-hostable confidential AI platform.

Usage: enclava [command]

Commands:
  serve          start the server (the default)
  migrate        apply pending database migrations, then exit
  healthcheck    exit 0 when the server at HOST:PORT is ready (GET /health/ready), 1 otherwise
  --help, -h     print this text
  --version, -v  print the version

Configuration comes from the environment, and optionally from a JSON file named by ENCLAVA_CONFIG (same names as
keys; the environment wins). An invalid value stops the start with exit code 2 and a message naming the setting.

${settings.join('\n')}
`
}

/** Applies pending migrations to the configured database; the exit code. */
export async function migrateCommand(config: Config): Promise<number> {
  let db: Database | undefined
  try {
    db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR })
    const applied = await migrate(db.sql)
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date')
    return 0
  } catch (err) {
    console.error(`enclava migrate: ${(err as Error).message}`)
    return 1
  } finally {
    await db?.close()
  }
}

/** For container health checks: is the server of this configuration ready? The exit code. */
export async function healthcheckCommand(env: Record<string, string | undefined> = process.env): Promise<number> {
  const config = parseConfig(env)
  // A wildcard bind is reached on loopback.
  const host = ['0.0.0.0', '::', '[::]'].includes(config.HOST) ? '127.0.0.1' : config.HOST
  const url = `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${config.PORT}/health/ready`
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) })
    if (res.ok) return 0
    console.error(`enclava healthcheck: ${url} answered ${res.status}`)
  } catch (err) {
    console.error(`enclava healthcheck: ${url}: ${(err as Error).message}`)
  }
  return 1
}

/**
 * The configuration the server (and `migrate`) starts with. In the single binary, the runtime tree (sandbox, Node, dashboard,
 * plugins) is unpacked into DATA_DIR first and its paths become the defaults of the settings that name them;
 * the configuration is validated before anything is written. From a checkout, just the configuration.
 */
export async function runtimeConfig(env: Record<string, string | undefined> = process.env): Promise<{ config: Config; runtime?: UnpackedRuntime }> {
  const assets = binaryAssets()
  if (!assets) return { config: loadConfig(env) }
  const runtime = await unpackRuntime(resolve(parseConfig(env).DATA_DIR), assets.runtime)
  return { config: loadConfig(env, runtimeDefaults(runtime.dir)), runtime }
}
