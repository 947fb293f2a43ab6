import { ApiError } from '../http/errors.ts'
import { preTokens } from './token-count.ts'

/**
 * What the gateway does to upstream answers before they reach the client: the output cap held against an
 * upstream that ignores it, and embeddings encoded and shortened as the client asked.
 */

/**
 * The first `max` tokens of `text` (cut at a pre-token boundary, so possibly a little fewer), and whether anything
 * was cut. Work stops at the cap, whatever the length of the text.
 */
export function truncateTokens(text: string, max: number): { text: string; tokens: number; truncated: boolean } {
  let tokens = 0
  let end = 0
  for (const piece of preTokens(text)) {
    if (tokens + piece.tokens > max) return { text: text.slice(0, end), tokens, truncated: true }
    tokens += piece.tokens
    end += piece.text.length
  }
  return { text, tokens, truncated: false }
}

interface Choice {
  message?: { content?: unknown; tool_calls?: { function?: { arguments?: unknown } }[] }
  finish_reason?: unknown
}

/**
 * Cuts each choice's content to `cap` tokens (finish_reason "length") when `cap` is set, and returns the text the
 * answer holds (content and tool-call arguments), for counting when the upstream sent no usage.
 */
export function capChoices(answer: Record<string, unknown>, cap: number | null): { text: string; capped: boolean } {
  const choices = Array.isArray(answer.choices) ? (answer.choices as Choice[]) : []
  let text = ''
  let capped = false
  for (const choice of choices) {
    const message = choice?.message
    if (typeof message !== 'object' || message === null) continue
    if (typeof message.content === 'string') {
      // Every token holds at least one character: text no longer than the cap is within it, uncounted.
      if (cap !== null && message.content.length > cap) {
        const cut = truncateTokens(message.content, cap)
        if (cut.truncated) {
          message.content = cut.text
          choice.finish_reason = 'length'
          capped = true
        }
      }
      text += message.content
    }
    for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : [])
      if (typeof call?.function?.arguments === 'string') text += call.function.arguments
  }
  return { text, capped }
}

export interface EmbeddingAnswer {
  object?: string
  model?: string
  data: { object?: string; index: number; embedding: unknown }[]
  usage?: { prompt_tokens?: number; total_tokens?: number }
}

/** A float32 vector as OpenAI's base64 encoding: little-endian float32s. */
function toBase64(vector: readonly number[]): string {
  const bytes = new Uint8Array(vector.length * 4)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i] ?? 0, true)
  return Buffer.from(bytes).toString('base64')
}

function fromBase64(text: string): number[] {
  const bytes = Buffer.from(text, 'base64')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out = new Array<number>(Math.floor(bytes.byteLength / 4))
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true)
  return out
}

/** The first `dimensions` components, scaled back to unit length (how Matryoshka embeddings are shortened). */
function shorten(vector: number[], dimensions: number): number[] {
  const head = vector.slice(0, dimensions)
  const norm = Math.sqrt(head.reduce((sum, x) => sum + x * x, 0))
  return norm > 0 ? head.map((x) => x / norm) : head
}

/**
 * The embeddings answer as the client asked for it: `dimensions` honoured (by the upstream, or here by shortening
 * and re-normalising for a model whose settings allow it; otherwise a 400 naming the model) and encoded as floats
 * or base64, whichever the upstream sent.
 */
export function encodeEmbeddings(
  answer: EmbeddingAnswer,
  want: { format: 'float' | 'base64'; dimensions: number | null; truncatable: boolean; model: string },
): EmbeddingAnswer {
  const data = answer.data.map((d) => {
    let vector = typeof d.embedding === 'string' ? fromBase64(d.embedding) : Array.isArray(d.embedding) ? (d.embedding as number[]) : null
    if (vector === null) throw new ApiError('upstream_error', 'The embeddings provider sent no vector')
    if (want.dimensions !== null && vector.length !== want.dimensions) {
      if (!want.truncatable || vector.length < want.dimensions)
        throw new ApiError(
          'invalid_request',
          `The model '${want.model}' returns ${vector.length} dimensions and cannot be asked for ${want.dimensions}` +
            (want.truncatable ? '' : ' (its settings do not allow shortening its vectors)'),
          'dimensions',
        )
      vector = shorten(vector, want.dimensions)
    }
    return { ...d, object: d.object ?? 'embedding', embedding: want.format === 'base64' ? toBase64(vector) : vector }
  })
  return { ...answer, data }
}
