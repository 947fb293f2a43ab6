import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { PGlite, type Extension } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { PGliteServer } from './pglite-server.ts'

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

/**
 * PGlite's own files, where PGlite cannot find them beside its code: the single binary embeds the wasm and data
 * files (`with { type: 'file' }`) and unpacks pgvector's bundle (see scripts/build.ts), and hands their paths over.
 * Unset, PGlite reads them from node_modules.
 */
export interface PGliteFiles {
  /** pglite.wasm: PostgreSQL */
  wasm: string
  /** initdb.wasm: creates a new data directory */
  initdbWasm: string
  /** pglite.data: PostgreSQL's share/ and lib/ */
  data: string
  /** vector.tar.gz of @electric-sql/pglite-pgvector */
  vector: string
}

async function optionsFrom(files: PGliteFiles) {
  const compile = async (path: string) => WebAssembly.compile(await Bun.file(path).arrayBuffer())
  const [pgliteWasmModule, initdbWasmModule] = await Promise.all([compile(files.wasm), compile(files.initdbWasm)])
  // pgvector's own setup names its bundle beside its code; this one names the given copy.
  const embeddedVector: Extension = {
    name: 'vector',
    setup: async (_pg, emscriptenOpts) => ({ emscriptenOpts, bundlePath: pathToFileURL(files.vector) }),
  }
  return { pgliteWasmModule, initdbWasmModule, fsBundle: Bun.file(files.data), extensions: { vector: embeddedVector } }
}

/**
 * PostgreSQL's settings for the embedded database, over PGlite's own. initdb sizes shared_buffers for a server
 * (128 MB), and in PGlite that memory is WebAssembly memory of this process, resident from the start: with 16 MB the
 * server's idle RSS fell by about 110 MB (`bun bench/footprint.ts`), while the data beyond it stays in the OS page
 * cache (PGlite's files are real files) and the lexical search keeps its postings in memory anyway. 8 or 4 MB saved
 * nothing more. maintenance_work_mem bounds what an index build (pgvector's HNSW) may take, and WebAssembly memory
 * never shrinks: a build at the default 64 MB would leave the process that much larger for good.
 */
export const EMBEDDED_SETTINGS = ['shared_buffers=16MB', 'maintenance_work_mem=16MB']

/** A new PGlite with pgvector, in `dataDir` or (undefined) in memory; from `files` when given. */
export async function createPGlite(dataDir: string | undefined, files?: PGliteFiles): Promise<PGlite> {
  const options = files ? await optionsFrom(files) : { extensions: { vector } }
  const startParams = [...PGlite.defaultStartParams, ...EMBEDDED_SETTINGS.flatMap((s) => ['-c', s])]
  const db = await PGlite.create({ ...(dataDir ? { dataDir } : {}), ...options, startParams })
  await db.exec('CREATE EXTENSION IF NOT EXISTS vector')
  return db
}

/**
 * Serves `db` over a private Unix socket in `socketDir`. PGlite is a single session, so the socket serves one
 * connection at a time and clients must use a pool of 1. Closing also closes `db`.
 */
export async function serveOverSocket(db: PGlite, socketDir: string): Promise<EmbeddedPostgres> {
  const socketPath = socketPathFor(socketDir)
  const server = new PGliteServer(db, socketPath)
  await server.start()
  return {
    socketPath,
    async close() {
      await server.stop()
      await db.close()
    },
  }
}
