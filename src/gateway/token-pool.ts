import { countTokens } from './token-count.ts'

/**
 * Token counts of large texts, counted on a worker thread. Counting is linear but not cheap: 4 MB of text that
 * does not repeat took 1.5 s on the server thread (measured), long enough for one request to hold every other
 * tenant's requests and the health checks. Texts up to SYNC_CHARS are counted in place (well under 10 ms); larger
 * ones go to one worker, in turn, so the server thread never waits on a count.
 */
const SYNC_CHARS = 16_384

let worker: Worker | null = null
let seq = 0
const waiting = new Map<number, { resolve: (counts: number[]) => void; reject: (err: Error) => void }>()

function countingWorker(): Worker {
  if (worker) return worker
  const w = new Worker(new URL('./token-worker.ts', import.meta.url))
  w.onmessage = (event: MessageEvent<{ id: number; counts: number[] }>) => {
    const entry = waiting.get(event.data.id)
    waiting.delete(event.data.id)
    entry?.resolve(event.data.counts)
  }
  w.onerror = (event) => {
    for (const entry of waiting.values()) entry.reject(new Error(`the token counter failed: ${event.message}`))
    waiting.clear()
    worker = null
    w.terminate()
  }
  // The worker must not keep the process alive at shutdown.
  w.unref()
  worker = w
  return w
}

/** Token counts of `texts`, in order; large ones counted off the server thread. */
export async function countTokensOf(texts: readonly string[]): Promise<number[]> {
  let chars = 0
  for (const t of texts) chars += t.length
  if (chars <= SYNC_CHARS) return texts.map(countTokens)
  const id = ++seq
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject })
    countingWorker().postMessage({ id, texts })
  })
}

/** One text's count (see countTokensOf). */
export async function countTokensAsync(text: string): Promise<number> {
  return (await countTokensOf([text]))[0] ?? 0
}
