/**
 * Follows a server-sent event stream of the internal API (EventSource cannot send the bearer token, so this reads
 * the stream with fetch), reconnecting with backoff until stopped. `onOpen` runs on every (re)connection: the
 * moment to reload whatever the events update, since events sent while disconnected are gone.
 */
import { authorizedFetch } from './api.ts'

export interface LiveEvent {
  event: string
  data: unknown
}

/**
 * @example
 * const stop = follow('/api-internal/v1/analytics/events', { onEvent: () => refetch(), onOpen: () => refetch() })
 * onCleanup(stop)
 */
export function follow(path: string, handlers: { onEvent: (e: LiveEvent) => void; onOpen?: () => void; onState?: (live: boolean) => void }): () => void {
  const controller = new AbortController()
  let attempt = 0

  async function connect(): Promise<void> {
    while (!controller.signal.aborted) {
      try {
        const res = await authorizedFetch(path, { headers: { accept: 'text/event-stream' }, signal: controller.signal })
        attempt = 0
        handlers.onState?.(true)
        handlers.onOpen?.()
        await readEvents(res, handlers.onEvent)
      } catch {
        // Network errors, an ended session, a restarted server: wait and try again; the page shows "reconnecting".
      }
      handlers.onState?.(false)
      if (controller.signal.aborted) return
      attempt++
      await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))))
    }
  }

  void connect()
  return () => controller.abort()
}

/**
 * The events of a server-sent event stream as they arrive: `event` (default "message") and the joined `data` lines;
 * comments and events without data are skipped. Stopping early releases the connection.
 */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffered = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      // Line endings may be \r\n; normalising keeps the split into events simple.
      buffered += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n')
      let end: number
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        let event = 'message'
        const data: string[] = []
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim()
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
        }
        if (data.length) yield { event, data: data.join('\n') }
      }
    }
  } finally {
    await reader.cancel().catch(() => {})
  }
}

/** Reads a stream to its end, handing each event whose data is JSON to `onEvent`. */
export async function readEvents(res: Response, onEvent: (e: LiveEvent) => void): Promise<void> {
  if (!res.body) return
  for await (const e of sseEvents(res.body)) {
    let data: unknown
    try {
      data = JSON.parse(e.data)
    } catch {
      // A malformed event is skipped; the next reload brings the page up to date anyway.
      continue
    }
    onEvent({ event: e.event, data })
  }
}
