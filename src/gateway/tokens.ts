import { countTokens } from './token-count.ts'

export { countTokens }

/** Loading the ranks takes a fraction of a second; the server warms them up at start-up, off the request path. */
export function warmTokenizer(): void {
  countTokens('warm up')
}

type Content = string | null | undefined | { type?: string; text?: string }[]

function contentText(content: Content): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content.map((part) => (typeof part?.text === 'string' ? part.text : '')).join(' ')
}

/**
 * Prompt tokens of a chat request, counted with o200k and padded: the upstream's own tokenizer may count a little
 * more, and the estimate must bound the real cost from above. 4 tokens per message cover the chat template.
 */
export function estimateChatPromptTokens(messages: readonly { content?: Content; name?: string }[], tools?: unknown): number {
  let tokens = 3
  for (const m of messages) tokens += 4 + countTokens(contentText(m.content)) + (m.name ? countTokens(m.name) : 0)
  if (tools) tokens += countTokens(JSON.stringify(tools))
  return Math.ceil(tokens * 1.1) + 16
}

export function estimateEmbeddingTokens(input: string | readonly string[] | readonly number[] | readonly number[][]): number {
  const items = typeof input === 'string' ? [input] : input
  let tokens = 0
  for (const item of items) tokens += typeof item === 'string' ? countTokens(item) : Array.isArray(item) ? item.length : 1
  return Math.ceil(tokens * 1.1) + 8
}
