import { readCapped } from '../http/read-capped.ts'

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
  const over = new Error('over the limit')
  try {
    return new TextDecoder().decode(await readCapped(res.body, (total) => (total > maxBytes ? over : null)))
  } catch (err) {
    if (err === over) return null
    throw err
  }
}
