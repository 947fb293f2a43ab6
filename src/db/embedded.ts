import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

export interface EmbeddedPostgres {
  /** Unix socket that postgres.js connects to, so embedded and server PostgreSQL share one SQL path. */
  socketPath: string
  close(): Promise<void>
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** PGlite can be opened by one process only; a second opener would corrupt the data directory. */
function takeLock(dir: string): () => void {
  const lockPath = join(dir, 'pglite.pid')
  if (existsSync(lockPath)) {
    const pid = Number(readFileSync(lockPath, 'utf8'))
    if (pid !== process.pid && isAlive(pid))
      throw new Error(`DATA_DIR: ${dir} is in use by process ${pid}; run one embedded instance per data directory`)
  }
  writeFileSync(lockPath, String(process.pid))
  return () => rmSync(lockPath, { force: true })
}

/** Unix socket paths are limited to ~107 bytes; a deep DATA_DIR gets a socket in the temp dir instead. */
function socketPathFor(dir: string): string {
  const inDir = join(dir, 'pg.sock')
  if (inDir.length < 100) return inDir
  return join(tmpdir(), `enclava-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.sock`)
}

/** A new PGlite with pgvector, in `dataDir` or (undefined) in memory. */
export async function createPGlite(dataDir: string | undefined): Promise<PGlite> {
  const db = await PGlite.create({ ...(dataDir ? { dataDir } : {}), extensions: { vector } })
  await db.exec('CREATE EXTENSION IF NOT EXISTS vector')
  return db
}

/**
 * Serves `db` over a private Unix socket in `socketDir`. PGlite is a single session, so the socket serves one
 * connection at a time and clients must use a pool of 1. Closing also closes `db`.
 */
export async function serveOverSocket(db: PGlite, socketDir: string): Promise<EmbeddedPostgres> {
  const socketPath = socketPathFor(socketDir)
  rmSync(socketPath, { force: true })
  const server = new PGLiteSocketServer({ db, path: socketPath })
  await server.start()
  return {
    socketPath,
    async close() {
      await server.stop()
      await db.close()
    },
  }
}

/** The embedded database of a laptop install: PGlite in DATA_DIR/pglite, one process at a time. */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const releaseLock = takeLock(dataDir)
  try {
    const served = await serveOverSocket(await createPGlite(join(dataDir, 'pglite')), dataDir)
    return {
      socketPath: served.socketPath,
      async close() {
        await served.close()
        releaseLock()
      },
    }
  } catch (err) {
    releaseLock()
    throw err
  }
}
