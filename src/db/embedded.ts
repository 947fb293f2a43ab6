import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { binaryPGliteFiles } from '../runtime/binary.ts'
import type { EmbeddedPostgres } from './pglite.ts'

export type { EmbeddedPostgres } from './pglite.ts'

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

type WorkerReply = { type: 'ready'; socketPath: string } | { type: 'stopped' } | { type: 'error'; message: string }

/**
 * The embedded database of a laptop install: PGlite in DATA_DIR/pglite, one process at a time. PGlite executes
 * queries in WebAssembly on the thread that owns it, so it runs on a worker thread: queries no longer stall the
 * HTTP server's event loop, and the second core can work on them.
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const releaseLock = takeLock(dataDir)
  const worker = new Worker(new URL('./pglite-worker.ts', import.meta.url).href)
  const next = () =>
    new Promise<WorkerReply>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<WorkerReply>) => resolve(e.data)
      worker.onerror = (e) => reject(new Error(`embedded database worker failed: ${e.message}`))
    })
  try {
    const ready = next()
    // The single binary hands over PGlite's embedded files; from a checkout PGlite reads its own.
    worker.postMessage({ type: 'start', dataDir: join(dataDir, 'pglite'), socketDir: dataDir, files: binaryPGliteFiles() })
    const reply = await ready
    if (reply.type !== 'ready') throw new Error(reply.type === 'error' ? reply.message : 'embedded database did not start')
    return {
      socketPath: reply.socketPath,
      async close() {
        const stopped = next()
        worker.postMessage({ type: 'stop' })
        await stopped
        worker.terminate()
        releaseLock()
      },
    }
  } catch (err) {
    worker.terminate()
    releaseLock()
    throw err
  }
}
