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

/** Reads a server-sent event stream to its end, handing each event with JSON data to `onEvent`; comments are skipped. */
export async function readEvents(res: Response, onEvent: (e: LiveEvent) => void): Promise<void> {
  if (!res.body) return
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffered = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffered += value
    const blocks = buffered.split(/\r?\n\r?\n/)
    buffered = blocks.pop() ?? ''
    for (const block of blocks) {
      let event = 'message'
      const data: string[] = []
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) event = line.slice(6).trim()
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart())
      }
      if (data.length === 0) continue
      try {
        onEvent({ event, data: JSON.parse(data.join('\n')) })
      } catch {
        // A malformed event is skipped; the next reload brings the page up to date anyway.
      }
    }
  }
}
