/**
 * A server-sent event stream fed by a subscription (usually the cache's pub/sub, so events reach a client connected
 * to any replica): the initial events first, then whatever `subscribe` delivers, a comment every 15 s so proxies
 * keep the connection open, and the subscription dropped when the client goes away.
 */
export interface SseEvent {
  event: string
  data: unknown
}

const HEARTBEAT_MS = 15_000

export function eventStream(opts: {
  initial?: SseEvent[]
  subscribe: (send: (e: SseEvent) => void) => Promise<() => Promise<void>>
  signal: AbortSignal
}): Response {
  const encoder = new TextEncoder()
  let cleanup = async () => {}
  const stream = new ReadableStream<Uint8Array>({
    start: async (controller) => {
      const write = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text))
        } catch {
          // Closed by the client in the meantime; the abort handler tidies up.
        }
      }
      const send = (e: SseEvent) => write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`)
      // Subscribed before the client learns the stream is open, so nothing it causes next can be missed; what
      // arrives meanwhile waits behind the initial events.
      let ready = false
      const early: SseEvent[] = []
      const unsubscribe = await opts.subscribe((e) => (ready ? send(e) : early.push(e)))
      // Bun sends the response head with the first body bytes: without them the client would wait for an event.
      write(': open\n\n')
      for (const e of [...(opts.initial ?? []), ...early]) send(e)
      ready = true
      const heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS)
      let done = false
      cleanup = async () => {
        if (done) return
        done = true
        clearInterval(heartbeat)
        await unsubscribe()
      }
      const end = () => {
        void cleanup()
        try {
          controller.close()
        } catch {}
      }
      if (opts.signal.aborted) end()
      else opts.signal.addEventListener('abort', end)
    },
    cancel: () => cleanup(),
  })
  return new Response(stream, {
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' },
  })
}
