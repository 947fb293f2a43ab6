/** Test-only helpers for the cache suite; nothing in the server imports this. */
import net from 'node:net'
import { createClient } from 'redis'

/** Polls instead of sleeping a fixed time, so slow machines wait longer and fast ones do not wait at all. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 3_000, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await Bun.sleep(stepMs)
  }
  throw new Error(`condition not met within ${timeoutMs} ms`)
}

/**
 * A TCP pass-through in front of Redis, so a test can take "Redis" down and bring it back
 * without touching the real server other suites share.
 */
export class TcpProxy {
  #targetHost: string
  #targetPort: number
  #server: net.Server | undefined
  #sockets = new Set<net.Socket>()
  port = 0

  constructor(targetHost: string, targetPort: number) {
    this.#targetHost = targetHost
    this.#targetPort = targetPort
  }

  /** Listens on the same port as before after a stop, the way a restarted Redis would. */
  async start(): Promise<void> {
    const server = net.createServer((client) => this.#pipe(client))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    const address = server.address()
    if (address && typeof address === 'object') this.port = address.port
    this.#server = server
  }

  /** Refuses new connections and cuts the live ones, as a crashed Redis would. */
  async stop(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    for (const socket of this.#sockets) socket.destroy()
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  #pipe(client: net.Socket): void {
    const upstream = net.connect(this.#targetPort, this.#targetHost)
    const pair = [client, upstream]
    for (const socket of pair) {
      this.#sockets.add(socket)
      socket.on('close', () => {
        this.#sockets.delete(socket)
        for (const other of pair) other.destroy()
      })
      socket.on('error', () => socket.destroy())
    }
    client.pipe(upstream)
    upstream.pipe(client)
  }
}

/** Deletes every key under `prefix` in the Redis at `url` (what a test run left behind). */
export async function dropRedisPrefix(url: string, prefix: string): Promise<void> {
  const raw = createClient({ url })
  await raw.connect()
  for await (const keys of raw.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
    if (keys.length > 0) await raw.del(keys)
  }
  await raw.close()
}
