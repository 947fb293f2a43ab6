/**
 * Follows a collection's server-sent events (GET /collections/:id/events) through authorizedFetch, so the bearer
 * token goes along (EventSource cannot send one). Resolves when the stream ends for any reason but an abort; the
 * caller then falls back to polling.
 */
import { authorizedFetch } from '../../api.ts'
import { RAG, type DocEvent } from './types.ts'

/** Parses one SSE block ("event: x\ndata: {...}"); comments (": keep-alive") and other events give null. */
function parseBlock(block: string): DocEvent | null {
  let event = 'message'
  const data: string[] = []
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith('event:')) event = line.slice(6).trim()
    else if (line.startsWith('data:')) data.push(line.slice(5).trimStart())
  }
  if (event !== 'document' || data.length === 0) return null
  try {
    return JSON.parse(data.join('\n')) as DocEvent
  } catch {
    return null
  }
}

/**
 * @example
 * const stop = new AbortController()
 * await followEvents(id, { onOpen: () => setLive(true), onEvent: apply }, stop.signal)
 * startPolling() // the stream ended
 */
export async function followEvents(collectionId: string, handlers: { onOpen(): void; onEvent(e: DocEvent): void }, signal: AbortSignal): Promise<void> {
  try {
    const res = await authorizedFetch(`${RAG}/collections/${collectionId}/events`, { headers: { accept: 'text/event-stream' }, signal })
    if (!res.body) return
    handlers.onOpen()
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buffer += value
      const blocks = buffer.split(/\r?\n\r?\n/)
      buffer = blocks.pop() ?? ''
      for (const block of blocks) {
        const event = parseBlock(block)
        if (event) handlers.onEvent(event)
      }
    }
  } catch {
    // Aborted, refused or cut off: the caller polls instead (or has left the page).
  }
}
