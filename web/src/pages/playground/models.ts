/** The models the playground offers, as the internal API lists them, and what a request on one costs. */
import { formatMicros } from '../../ui.tsx'

export interface PlaygroundModel {
  id: string
  owned_by: string
  /** Served inside a TEE through privatemode. */
  confidential: boolean
  /** USD per 1M tokens. */
  input_price_per_million: number
  output_price_per_million: number
}

export interface Usage {
  prompt_tokens: number
  completion_tokens?: number
  total_tokens?: number
}

/** Dollars per 1M tokens, with enough digits that small prices do not read as zero. */
export const formatPrice = (usd: number) => (usd > 0 && usd < 0.01 ? `$${usd.toPrecision(2)}` : `$${usd.toFixed(2)}`)

export const priceLabel = (m: PlaygroundModel) =>
  m.input_price_per_million === 0 && m.output_price_per_million === 0
    ? 'free'
    : `${formatPrice(m.input_price_per_million)} in / ${formatPrice(m.output_price_per_million)} out per 1M tokens`

/** The same rounding as the server's accounting (micro-dollars, rounded up), so the figure matches the usage pages. */
export function costLabel(m: PlaygroundModel | undefined, usage: Usage): string | null {
  if (!m) return null
  const micros = Math.ceil(usage.prompt_tokens * m.input_price_per_million + (usage.completion_tokens ?? 0) * m.output_price_per_million)
  return formatMicros(micros)
}

/** Embedding models are told apart by name only: the API does not say what a model is for. */
export const looksLikeEmbedding = (id: string) => /embed/i.test(id)
