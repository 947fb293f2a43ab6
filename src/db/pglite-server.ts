import { rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import type { PGlite } from '@electric-sql/pglite'

const SSL_REQUEST = 80877103
const CANCEL_REQUEST = 80877102
const TERMINATE = 0x58 // 'X'

/**
 * Serves one PGlite session over a Unix socket to one client at a time (PGlite is a single session; postgres.js
 * connects with a pool of 1), speaking PostgreSQL's wire protocol by handing PGlite the bytes the client sent.
 *
 * It replaces @electric-sql/pglite-socket's server, which gave PGlite each protocol message on its own, each through
 * a queue, a lock, a file-system sync and a socket write of its own: a statement from postgres.js is five messages
 * (Parse, Bind, Describe, Execute, Sync), and a round trip cost 230-290 µs. Here every complete message received so
 * far goes to PGlite in one call (its main loop runs until the input is used up) and its answer leaves in one write:
 * docs/decisions.md has the figures. What the client sends is a client's to send: the protocol's own errors
 * (a malformed message, an unknown type) are PGlite's answers, as a server's would be.
 */
export class PGliteServer {
  #server: Server | null = null
  #client: Socket | null = null
  /** Everything PGlite is asked, in order, whichever client asked: a new client's first message waits for the last's rollback. */
  #queue: Promise<void> = Promise.resolve()

  constructor(
    readonly db: PGlite,
    readonly path: string,
  ) {}

  async start(): Promise<void> {
    await this.db.waitReady
    rmSync(this.path, { force: true })
    const server = createServer((socket) => this.#accept(socket))
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.path, () => {
        server.off('error', reject)
        resolve()
      })
    })
  }

  async stop(): Promise<void> {
    this.#client?.destroy()
    const server = this.#server
    this.#server = null
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  #accept(socket: Socket): void {
    if (this.#client || !this.#server) {
      // One session: a second client is told so and let go, as pglite-socket did.
      socket.end('Too many connections\n')
      return
    }
    this.#client = socket
    socket.setNoDelay(true)
    // What arrived and was not yet handed over; the bytes the next complete message needs (a large statement arrives
    // in many pieces, joined once it is whole rather than at every piece).
    let pending: Buffer = Buffer.alloc(0)
    let pieces: Buffer[] = []
    let piecesBytes = 0
    let want = 1
    let started = false
    const fail = () => void socket.destroy()

    // The complete messages at the head of `pending`, taken off it; the startup phase's messages go alone.
    const take = (): { bytes: Uint8Array; terminate: boolean } | 'ssl' | 'cancel' | null => {
      if (!started) {
        const length = pending.length >= 4 ? pending.readInt32BE(0) : 8
        if (length < 8) throw new Error('malformed startup message')
        if (pending.length < length) {
          want = length
          return null
        }
        const code = pending.readInt32BE(4)
        const message = pending.subarray(0, length)
        pending = pending.subarray(length)
        if (code === SSL_REQUEST) return 'ssl'
        if (code === CANCEL_REQUEST) return 'cancel'
        started = true
        return { bytes: new Uint8Array(message), terminate: false }
      }
      let end = 0
      for (;;) {
        if (pending.length - end < 5) {
          want = end + 5
          break
        }
        if (pending[end] === TERMINATE) {
          const bytes = new Uint8Array(pending.subarray(0, end))
          pending = Buffer.alloc(0)
          return { bytes, terminate: true }
        }
        const length = pending.readInt32BE(end + 1)
        if (length < 4) throw new Error('malformed message length')
        const next = end + 1 + length
        if (next > pending.length) {
          want = next
          break
        }
        end = next
      }
      if (end === 0) return null
      const bytes = new Uint8Array(pending.subarray(0, end))
      pending = pending.subarray(end)
      want -= end
      return { bytes, terminate: false }
    }

    const drain = async () => {
      for (let batch = take(); batch !== null && !socket.destroyed; batch = take()) {
        if (batch === 'ssl') {
          socket.write('N')
          continue
        }
        if (batch === 'cancel') {
          // Not supported (one session has nothing to cancel from a second connection); the request is let go.
          socket.end()
          return
        }
        if (batch.bytes.length > 0) await this.#run(socket, batch.bytes)
        if (batch.terminate) {
          socket.end()
          return
        }
      }
    }

    socket.on('data', (data: Buffer) => {
      pieces.push(data)
      piecesBytes += data.length
      if (pending.length + piecesBytes < want) return
      pending = pending.length === 0 && pieces.length === 1 ? data : Buffer.concat([pending, ...pieces])
      pieces = []
      piecesBytes = 0
      this.#queue = this.#queue.then(drain).catch(fail)
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      if (this.#client === socket) this.#client = null
      // A client gone inside a transaction leaves it open in the one session: rolled back before the next is served.
      this.#queue = this.#queue
        .then(async () => {
          if (this.db.isInTransaction()) await this.db.exec('ROLLBACK')
        })
        .catch(() => {})
    })
  }

  /** One call into PGlite for the messages; its answer is written as one piece. */
  async #run(socket: Socket, bytes: Uint8Array): Promise<void> {
    const out: Buffer[] = []
    await this.db.runExclusive(() => this.db.execProtocolRawStream(bytes, { onRawData: (chunk) => out.push(Buffer.from(chunk)) }))
    if (out.length > 0 && !socket.destroyed) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out))
  }
}
