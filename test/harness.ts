/**
 * Builds a real platform for a test: PostgreSQL (the server named by DATABASE_URL, or the embedded PGlite
 * served over its socket, exactly as in production, cloned from one template per process), the cache (Redis when REDIS_URL is set, else memory),
 * migrations, the first admin and the app. Each environment gets a fresh schema and cache prefix, dropped on close.
 */
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { createApp, type App } from '../src/app.ts'
import { openCache } from '../src/cache/index.ts'
import type { CacheStore } from '../src/cache/types.ts'
import { parseConfig, type Config } from '../src/config.ts'
import { clientOptions, type Sql } from '../src/db/client.ts'
import { createPGlite, serveOverSocket } from '../src/db/pglite.ts'
import type { PGlite } from '@electric-sql/pglite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrate } from '../src/db/migrate.ts'
import { createLogger } from '../src/log.ts'
import { createServices, startServices, stopServices, type Services } from '../src/services.ts'
import { ensureAdmin } from '../src/users/bootstrap.ts'
import type { Role } from '../src/auth/roles.ts'

export const ADMIN_EMAIL = 'admin@test.local'
export const ADMIN_PASSWORD = 'admin-password-for-tests'
export const backend = process.env.DATABASE_URL ? 'postgres' : 'embedded'
export const cacheBackend = process.env.REDIS_URL ? 'redis' : 'memory'

let template: Promise<PGlite> | undefined

/** PGlite's start-up costs seconds; one template per test process, cloned for each database, costs far less. */
async function embeddedClone(): Promise<PGlite> {
  template ??= createPGlite(undefined)
  // clone() is typed as the interface but constructs a PGlite, which the socket server needs.
  return (await (await template).clone()) as PGlite
}

/** CI sets TEST_SCHEMA_PREFIX per run, so whatever a crashed run leaves behind can be dropped by name. */
export const schemaName = (kind: string) => `${process.env.TEST_SCHEMA_PREFIX ?? ''}${kind}_${randomBytes(6).toString('hex')}`

export interface TestDatabase {
  sql: Sql
  schema: string
  drop(): Promise<void>
}

/** A fresh, empty schema on the configured backend. */
export async function testDatabase(): Promise<TestDatabase> {
  const schema = schemaName('t')
  const url = process.env.DATABASE_URL
  if (url) {
    const admin = postgres(url, { ...clientOptions, max: 1 })
    await admin.unsafe(`CREATE SCHEMA ${schema}`)
    const sql = postgres(url, { ...clientOptions, max: 5, connection: { search_path: schema } })
    return {
      sql,
      schema,
      async drop() {
        await sql.end({ timeout: 5 })
        await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`)
        await admin.end({ timeout: 5 })
      },
    }
  }
  const socketDir = mkdtempSync(join(tmpdir(), 'enclava-test-'))
  const served = await serveOverSocket(await embeddedClone(), socketDir)
  const sql = postgres({ ...clientOptions, path: served.socketPath, max: 1, username: 'postgres', database: 'postgres' })
  await sql.unsafe(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}, public`)
  return {
    sql,
    schema,
    async drop() {
      await sql.end({ timeout: 5 })
      await served.close()
      rmSync(socketDir, { recursive: true, force: true })
    },
  }
}

export async function testCache(): Promise<CacheStore> {
  return openCache({ redisUrl: process.env.REDIS_URL, prefix: `test:${randomBytes(6).toString('hex')}:` })
}

export function testConfig(overrides: Partial<Record<keyof Config, string>> = {}): Config {
  const parsed = parseConfig({
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Tests that want plugins name their folders; the others start no sandbox.
    PLUGINS_DIRS: '',
    ...overrides,
  })
  return {
    ...parsed,
    JWT_SECRET: overrides.JWT_SECRET ?? randomBytes(32).toString('hex'),
    ENCRYPTION_KEY: overrides.ENCRYPTION_KEY ?? randomBytes(32).toString('hex'),
  }
}

export interface CallOptions {
  token?: string
  apiKey?: string
  body?: unknown
  headers?: Record<string, string>
}

export interface CallResult<T = any> {
  status: number
  body: T
  headers: Headers
}

export interface TestEnv {
  s: Services
  app: App
  db: TestDatabase
  cache: CacheStore
  call<T = any>(method: string, path: string, opts?: CallOptions): Promise<CallResult<T>>
  login(email: string, password: string): Promise<string>
  adminToken(): Promise<string>
  /** Serves the app on a real socket (port 0), for clients that need one (streams, disconnects). */
  listen(): string
  /** Creates a user through the admin API and signs them in. */
  user(role: Role, name?: string): Promise<{ id: string; email: string; password: string; token: string }>
  /**
   * A collection of `token`'s user holding `files` (name: text), once every document is indexed; a document that
   * is not within 15 s throws, naming it (or each search of the test would fail as "nothing found").
   */
  collection(token: string, files: Record<string, string>, body?: Record<string, unknown>): Promise<string>
  close(): Promise<void>
}

/**
 * `share` gives a second app (a "replica") the same database and cache as another environment; only the
 * environment that owns them drops them.
 */
export async function createTestEnv(
  overrides: Partial<Record<keyof Config, string>> = {},
  share?: Pick<TestEnv, 'db' | 'cache' | 's'>,
): Promise<TestEnv> {
  const db = share?.db ?? (await testDatabase())
  const cache = share?.cache ?? (await testCache())
  // Replicas share their secrets, as a real deployment must.
  // Uploaded files and plugins go to a directory of this environment's own (replicas share it, as they must share
  // a volume).
  const filesDir = share ? undefined : overrides.FILE_STORAGE_DIR ? undefined : mkdtempSync(join(tmpdir(), 'enclava-files-'))
  const config = share
    ? {
        ...share.s.config,
        ...testConfig(overrides),
        JWT_SECRET: share.s.config.JWT_SECRET,
        ENCRYPTION_KEY: share.s.config.ENCRYPTION_KEY,
        ...(share.s.config.FILE_STORAGE_DIR ? { FILE_STORAGE_DIR: share.s.config.FILE_STORAGE_DIR } : {}),
        DATA_DIR: share.s.config.DATA_DIR,
      }
    : { ...testConfig(overrides), ...(filesDir ? { FILE_STORAGE_DIR: filesDir, ...(overrides.DATA_DIR ? {} : { DATA_DIR: filesDir }) } : {}) }
  if (!share) await migrate(db.sql)
  const log = createLogger(config.LOG_LEVEL)
  // Replicas on one embedded database exist only here: neither of them is then its only writer.
  if (share) share.s.plugins.host.sharesDatabase()
  const s = createServices({ config, sql: db.sql, cache, log, soleWriter: backend === 'embedded' && !share })
  await ensureAdmin(s.users, log, { email: config.ADMIN_EMAIL, password: config.ADMIN_PASSWORD })
  await startServices(s)
  const app = createApp(s)

  async function call<T = any>(method: string, path: string, opts: CallOptions = {}): Promise<CallResult<T>> {
    const headers: Record<string, string> = { ...opts.headers }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`
    if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`
    let body: string | undefined
    if (opts.body !== undefined) {
      headers['content-type'] ??= 'application/json'
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
    }
    const res = await app.handle(new Request(`http://localhost${path}`, { method, headers, ...(body === undefined ? {} : { body }) }))
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {}
    return { status: res.status, body: parsed as T, headers: res.headers }
  }

  async function login(email: string, password: string): Promise<string> {
    const res = await call('POST', '/api-internal/v1/auth/login', { body: { email, password } })
    if (res.status !== 200) throw new Error(`login ${email} failed: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body.access_token
  }

  let admin: string | undefined
  const adminToken = async () => (admin ??= await login(config.ADMIN_EMAIL, ADMIN_PASSWORD))
  let counter = 0
  let server: { stop(closeActive?: boolean): unknown; port?: number | undefined } | undefined

  return {
    s,
    app,
    db,
    cache,
    call,
    login,
    adminToken,
    listen() {
      const listening = app.listen({ port: 0, hostname: '127.0.0.1' })
      server = listening.server ?? undefined
      return `http://127.0.0.1:${server?.port}`
    },
    async user(role, name) {
      const username = name ?? `${role.replace('_', '')}${++counter}${randomBytes(3).toString('hex')}`
      const email = `${username}@test.local`
      const password = `pw-${randomBytes(9).toString('hex')}`
      const res = await call('POST', '/api-internal/v1/users', {
        token: await adminToken(),
        body: { email, username, password, role, force_password_change: false },
      })
      if (res.status !== 201) throw new Error(`create user failed: ${res.status} ${JSON.stringify(res.body)}`)
      return { id: res.body.id, email, password, token: await login(email, password) }
    },
    async collection(token, files, body = {}) {
      const created = await call('POST', '/api-internal/v1/rag/collections', { token, body: { name: `c${++counter}`, ...body } })
      if (created.status !== 201) throw new Error(`create collection failed: ${created.status} ${JSON.stringify(created.body)}`)
      const id = created.body.id as string
      const form = new FormData()
      for (const [name, text] of Object.entries(files)) form.append('files', new File([text], name, { type: 'text/plain' }))
      const uploaded = await app.handle(
        new Request(`http://localhost/api-internal/v1/rag/collections/${id}/documents`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form }),
      )
      if (uploaded.status !== 202) throw new Error(`upload failed: ${uploaded.status} ${await uploaded.text()}`)
      let docs: { filename: string; status: string; error: string | null }[] = []
      for (let i = 0; i < 300; i++) {
        docs = (await call('GET', `/api-internal/v1/rag/collections/${id}/documents`, { token })).body.data
        if (docs.every((d) => d.status === 'indexed')) return id
        await Bun.sleep(50)
      }
      throw new Error(`documents not indexed: ${JSON.stringify(docs.map((d) => [d.filename, d.status, d.error]))}`)
    },
    async close() {
      await server?.stop(true)
      await stopServices(s)
      if (share) return
      await cache.close()
      await db.drop()
      if (filesDir) rmSync(filesDir, { recursive: true, force: true })
    },
  }
}
