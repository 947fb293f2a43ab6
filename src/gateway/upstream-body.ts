/**
 * An upstream's body read no further than a limit. Its bytes are hostile like a client's: a body that never ends, or
 * a small compressed one that inflates to gigabytes (fetch decompresses as it reads), must not fill the server's
 * memory or hold its thread while it is parsed.
 *
 * @example
 * const text = await readCappedText(res, 128 << 20)
 * if (text === null) throw new ApiError('upstream_error', 'the answer is over 128 MB')
 */
export async function readCappedText(res: Response, maxBytes: number): Promise<string | null> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN)
  const encoded = res.headers.has('content-encoding')
  if (!encoded && declared > maxBytes) {
    await res.body?.cancel().catch(() => {})
    return null
  }
  // Unencoded with a length: the framing ends the body there, so the native read is bounded (and the fastest).
  if (!encoded && Number.isFinite(declared)) return res.text()
  if (res.body === null) return ''
  const reader = res.body.getReader()
  const parts: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel().catch(() => {})
      return null
    }
    parts.push(value)
  }
  return new TextDecoder().decode(Buffer.concat(parts, total))
}
