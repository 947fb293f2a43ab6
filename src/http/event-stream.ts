import { ApiError, errorBody, type ErrorBody } from './errors.ts'
import { requestIdOf } from './request-meta.ts'
import type { Logger } from '../log.ts'

export type SendEvent = (event: string | null, data: unknown) => void

const HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' }

/** The platform's error envelope for what ended a stream; anything but an ApiError is a bug, logged and not described. */
function envelope(err: unknown, request: Request, log: Logger): ErrorBody {
  const requestId = requestIdOf(request)
  if (err instanceof ApiError) return errorBody(err.status, err.code, err.message, requestId, err.param)
  log.error({ err, request_id: requestId }, 'chat stream failed')
  return errorBody(500, 'internal_error', 'Internal server error; quote the request id when reporting it', requestId)
}

/**
 * Server-sent events from a producer, answered only once the producer sends its first event. Until then nothing has
 * left, so a refusal (validation, an unknown or deleted conversation, the gateway's limits and budgets) is thrown
 * and answered with its real status and the error envelope. After it the status is sent and cannot change: an error
 * ends the stream with an `error` event carrying the same envelope (`{error: {message, type, code, param,
 * request_id}}`). A client that went away is not written to any more.
 *
 * @example
 * return streamEvents(request, log, async (send) => send("done", await work()))
 */
export async function streamEvents(request: Request, log: Logger, produce: (send: SendEvent) => Promise<void>): Promise<Response> {
  const encoder = new TextEncoder()
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined
  // `start` runs inside the constructor, so the controller is there before the producer can send.
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) })
  let opened = false
  let open = () => {}
  const first = new Promise<void>((resolve) => (open = resolve))
  const write = (text: string) => {
    try {
      controller?.enqueue(encoder.encode(text))
    } catch {
      // The client went away; its request signal stops the work.
    }
  }
  const send: SendEvent = (event, data) => {
    opened = true
    open()
    write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)
  }
  const close = () => {
    try {
      controller?.close()
    } catch {}
  }
  const produced = produce(send).then(close, (err: unknown) => {
    if (!opened) throw err
    send('error', envelope(err, request, log))
    close()
  })
  // Whichever comes first: the first event (stream it), or the producer's end (rethrows a refusal; an empty stream
  // otherwise).
  await Promise.race([first, produced])
  return new Response(stream, { headers: HEADERS })
}
