/**
 * Reads a server-sent event stream and yields each event's `data` as it arrives. Only what the chat stream uses
 * is handled: `data:` lines (joined when an event has several), blank-line event ends, comments ignored.
 */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      // Line endings may be \r\n; normalising here keeps the event split below simple.
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n')
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = event
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
        if (data.length) yield data.join('\n')
      }
    }
  } finally {
    // Stopping early (Stop button, error event) releases the connection instead of leaving it open.
    await reader.cancel().catch(() => {})
  }
}
