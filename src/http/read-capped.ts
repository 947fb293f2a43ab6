/**
 * Reads a body to its end, refused as soon as `admit` names an error for a chunk (given the bytes so far and the
 * chunk's own): the reader is cancelled rather than drained, since the sender may stream without end.
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, admit: (total: number, chunk: number) => Error | null): Promise<Uint8Array> {
  if (!body) return new Uint8Array()
  const reader = body.getReader()
  const parts: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    const refused = admit(total, value.byteLength)
    if (refused !== null) {
      await reader.cancel().catch(() => {})
      throw refused
    }
    parts.push(value)
  }
  return Buffer.concat(parts, total)
}
