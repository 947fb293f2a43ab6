import { WorkerCalls } from '../workers/calls.ts'
import { guardChat, guardEmbeddings, type DlpOptions, type DlpResult } from './dlp.ts'
import { scoreInjection, type InjectionVerdict } from './injection.ts'

/**
 * Data-loss prevention of a request body, large ones on a worker thread. The detectors are linear but not free: a
 * 7 MB prompt took 350 ms on the server thread (measured on SciFact text), long enough to hold every other tenant's
 * requests; bodies up to SYNC_CHARS of text (about 2 ms) are scanned in place.
 */
const SYNC_CHARS = 65_536
/**
 * The prompt-injection heuristics on a user's message, in place up to this many characters (~0.2 ms); beyond, on the
 * same thread as the scans. A message may be a chat request's whole last turn (8 MB by default): 1 MB took 11.5 ms
 * on the server thread.
 */
const INJECTION_SYNC_CHARS = 16_384

/** What the scanning thread is asked: a body's scan, or a text's injection score. */
export type ScanCall = { endpoint: 'chat' | 'embeddings'; body: object; options: DlpOptions } | { injection: string; threshold: number }

const scanner = new WorkerCalls<ScanCall, DlpResult<never> | InjectionVerdict>(
  () => new Worker(new URL('./dlp-worker.ts', import.meta.url)),
  'data-loss prevention',
)

/** The injection heuristics' verdict on a user's text; long texts are scored off the server thread. */
export async function scoreInjectionOf(text: string, threshold: number): Promise<InjectionVerdict> {
  if (text.length <= INJECTION_SYNC_CHARS) return scoreInjection(text, threshold)
  return (await scanner.call({ injection: text, threshold })) as InjectionVerdict
}

/** Characters of text a body carries (its message contents, or its inputs). */
function textSize(endpoint: 'chat' | 'embeddings', body: object): number {
  let n = 0
  const add = (v: unknown) => {
    if (typeof v === 'string') n += v.length
    else if (Array.isArray(v)) for (const x of v) add(typeof x === 'object' && x !== null ? (x as { text?: unknown }).text : x)
  }
  if (endpoint === 'embeddings') add((body as { input?: unknown }).input)
  else for (const m of (body as { messages?: { content?: unknown; tool_calls?: { function?: { arguments?: unknown } }[] }[] }).messages ?? []) {
    add(m.content)
    for (const call of m.tool_calls ?? []) add(call.function?.arguments)
  }
  return n
}

export async function guardBody<T extends object>(endpoint: 'chat' | 'embeddings', body: T, options: DlpOptions): Promise<DlpResult<T>> {
  if (textSize(endpoint, body) <= SYNC_CHARS)
    return endpoint === 'chat' ? (guardChat(body as T & { messages: unknown[] }, options) as DlpResult<T>) : (guardEmbeddings(body as T & { input: unknown }, options) as DlpResult<T>)
  const result = (await scanner.call({ endpoint, body, options })) as DlpResult<never>
  // Nothing found: the caller's own object goes on (the worker's copy is equal, but needless).
  return result.total === 0 ? { body, counts: {}, total: 0 } : (result as DlpResult<T>)
}
