import { availableParallelism } from 'node:os'
import { WorkerCalls } from '../workers/calls.ts'
import type { PageRequest, PageText, Prepared, PrepareRequest } from './prepare.ts'

/** A thread that prepared nothing for this long is stopped (started again with the next document). */
const IDLE_MS = 60_000

/**
 * Threads that prepare documents (prepare.ts) off the server thread: as many as the documents a replica indexes at
 * once (INGEST_CONCURRENCY, at most the cores), so one large file does not hold up every other. They start with the
 * first document and stop after a minute without one, so a server that is not ingesting keeps no memory for them.
 * They also read the pages `web_fetch` tools fetch: a remote host's bytes, parsed as HTML or PDF.
 */
export class PreparePool {
  readonly #threads: WorkerCalls<PrepareRequest | PageRequest, Prepared | PageText>[]

  constructor(threads: number, idleMs = IDLE_MS) {
    const n = Math.max(1, Math.min(threads, availableParallelism()))
    this.#threads = Array.from(
      { length: n },
      () => new WorkerCalls<PrepareRequest | PageRequest, Prepared | PageText>(() => new Worker(new URL('./prepare-worker.ts', import.meta.url)), 'document preparation', { idleMs }),
    )
  }

  /** Threads running now (for tests). */
  get running(): number {
    return this.#threads.filter((t) => t.running).length
  }

  /** The document prepared on the thread with the least work waiting. */
  prepare(request: PrepareRequest): Promise<Prepared> {
    return this.#call(request) as Promise<Prepared>
  }

  /** The text of a page a tool fetched (the bytes are handed over when they are a whole buffer). */
  readPage(request: Omit<PageRequest, 'page'>): Promise<PageText> {
    return this.#call({ ...request, page: true }) as Promise<PageText>
  }

  #call(request: PrepareRequest | PageRequest): Promise<Prepared | PageText> {
    const thread = this.#threads.reduce((a, b) => (b.pending < a.pending ? b : a))
    const { bytes } = request
    // Handed over rather than copied when the bytes are all of their buffer (a large file's); a small Buffer can be
    // a slice of a pool that other Buffers share, and is copied.
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
    return thread.call(request, whole ? [bytes.buffer as ArrayBuffer] : [])
  }
}
