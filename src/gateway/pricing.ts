/** USD per 1M tokens. */
export interface Prices {
  input: number
  output: number
}

/**
 * Defaults for the models privatemode's proxy serves, so budgets work out of the box. They are list-price
 * estimates, not quotes: set the real ones per model through the admin API (`PUT /api-internal/v1/llm/model-settings/{id}`).
 */
export const PRIVATEMODE_DEFAULT_PRICES: Record<string, Prices> = {
  'gpt-oss-120b': { input: 0.5, output: 2 },
  'gemma-3-27b': { input: 0.5, output: 2 },
  'qwen3-coder-30b-a3b': { input: 0.5, output: 2 },
  'qwen3-embedding-4b': { input: 0.05, output: 0 },
}

/** A model that nobody priced costs nothing, as on a self-hosted upstream; privatemode models get the defaults. */
export function defaultPrices(modelId: string, confidential: boolean): Prices {
  if (!confidential) return { input: 0, output: 0 }
  const key = Object.keys(PRIVATEMODE_DEFAULT_PRICES).find((k) => modelId === k || modelId.endsWith(`/${k}`))
  return (key && PRIVATEMODE_DEFAULT_PRICES[key]) || { input: 0.5, output: 2 }
}

/** Micro-USD, rounded up: a price per 1M tokens in USD is exactly micro-USD per token. */
export function costMicros(prices: Prices, promptTokens: number, completionTokens: number): number {
  return Math.ceil(promptTokens * prices.input + completionTokens * prices.output)
}
