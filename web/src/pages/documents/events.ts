/**
 * Follows a collection's server-sent events (GET /collections/:id/events) through authorizedFetch, so the bearer
 * token goes along (EventSource cannot send one). Resolves when the stream ends for any reason but an abort; the
 * caller then falls back to polling.
 */
import { authorizedFetch } from '../../api.ts'
import { readEvents } from '../../live.ts'
import { RAG, type DocEvent } from './types.ts'

/**
 * @example
 * const stop = new AbortController()
 * await followEvents(id, { onOpen: () => setLive(true), onEvent: apply }, stop.signal)
 * startPolling() // the stream ended
 */
export async function followEvents(collectionId: string, handlers: { onOpen(): void; onEvent(e: DocEvent): void }, signal: AbortSignal): Promise<void> {
  try {
    const res = await authorizedFetch(`${RAG}/collections/${collectionId}/events`, { headers: { accept: 'text/event-stream' }, signal })
    handlers.onOpen()
    await readEvents(res, (e) => e.event === 'document' && handlers.onEvent(e.data as DocEvent))
  } catch {
    // Aborted, refused or cut off: the caller polls instead (or has left the page).
  }
}
