/**
 * Reads the test chat's server-sent events (`event: start|delta|done|error` + one `data:` JSON line each, see
 * src/chatbots/index.ts) and yields them as they arrive. Only what that stream sends is handled.
 */
export interface StreamEvent {
  event: string
  data: unknown
}

export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n')
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        let event = 'message'
        const data: string[] = []
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim()
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
        }
        if (!data.length) continue
        const text = data.join('\n')
        let parsed: unknown = text
        try {
          parsed = JSON.parse(text)
        } catch {
          // Left as text: every event this stream sends is JSON, so this only guards against a proxy's noise.
        }
        yield { event, data: parsed }
      }
    }
  } finally {
    // Leaving early (an error event, the page closing) releases the connection.
    await reader.cancel().catch(() => {})
  }
}
