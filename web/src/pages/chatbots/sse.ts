/**
 * Reads the test chat's server-sent events (`event: start|delta|done|error` + one `data:` JSON line each, see
 * src/chatbots/index.ts) and yields them as they arrive. Only what that stream sends is handled.
 */
import { sseEvents } from '../../live.ts'

export interface StreamEvent {
  event: string
  data: unknown
}

export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent> {
  for await (const e of sseEvents(body)) {
    let parsed: unknown = e.data
    try {
      parsed = JSON.parse(e.data)
    } catch {
      // Left as text: every event this stream sends is JSON, so this only guards against a proxy's noise.
    }
    yield { event: e.event, data: parsed }
  }
}
