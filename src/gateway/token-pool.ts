import { WorkerCalls } from '../workers/calls.ts'
import { countTokens } from './token-count.ts'

/**
 * Token counts of large texts, counted on a worker thread. Counting is linear but not cheap: 4 MB of text that
 * does not repeat took 1.5 s on the server thread (measured), long enough for one request to hold every other
 * tenant's requests and the health checks. Texts up to SYNC_CHARS are counted in place (well under 10 ms); larger
 * ones go to one worker, in turn, so the server thread never waits on a count.
 */
const SYNC_CHARS = 16_384

const counter = new WorkerCalls<{ texts: readonly string[] }, number[]>(() => new Worker(new URL('./token-worker.ts', import.meta.url)), 'the token counter')

/** Token counts of `texts`, in order; large ones counted off the server thread. */
export async function countTokensOf(texts: readonly string[]): Promise<number[]> {
  let chars = 0
  for (const t of texts) chars += t.length
  if (chars <= SYNC_CHARS) return texts.map(countTokens)
  return counter.call({ texts })
}

/** One text's count (see countTokensOf). */
export async function countTokensAsync(text: string): Promise<number> {
  return (await countTokensOf([text]))[0] ?? 0
}
