// The thread that owns the embedded PGlite and serves it over its Unix socket (see startEmbeddedPostgres).
import { createPGlite, serveOverSocket, type EmbeddedPostgres, type PGliteFiles } from './pglite.ts'

declare const self: Worker

let served: EmbeddedPostgres | undefined

type Command = { type: 'start'; dataDir: string; socketDir: string; files?: PGliteFiles } | { type: 'stop' }

self.onmessage = async (e: MessageEvent<Command>) => {
  try {
    if (e.data.type === 'start') {
      served = await serveOverSocket(await createPGlite(e.data.dataDir, e.data.files), e.data.socketDir)
      // A first start ran initdb in a WebAssembly instance of its own, now garbage: collected now, its memory goes
      // back to the system at once instead of whenever this thread's heap next fills (`bun bench/footprint.ts`).
      Bun.gc(true)
      self.postMessage({ type: 'ready', socketPath: served.socketPath })
    } else {
      await served?.close()
      self.postMessage({ type: 'stopped' })
    }
  } catch (err) {
    self.postMessage({ type: 'error', message: (err as Error).message })
  }
}
