import { createHash } from 'node:crypto'
import { rmSync } from 'node:fs'
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
