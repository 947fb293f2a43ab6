import { countTokens } from './token-count.ts'
import { countTokensOf } from './token-pool.ts'

export { countTokens }

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

/** estimateChatPromptTokens, with large prompts counted off the server thread. */
export async function estimateChatPromptTokensAsync(messages: readonly { content?: Content; name?: string }[], tools?: unknown): Promise<number> {
  const texts: string[] = []
  for (const m of messages) texts.push(contentText(m.content), m.name ?? '')
  if (tools) texts.push(JSON.stringify(tools))
  const counts = await countTokensOf(texts)
  let tokens = 3 + 4 * messages.length
  for (const n of counts) tokens += n
  return Math.ceil(tokens * 1.1) + 16
}

/** estimateEmbeddingTokens, with large inputs counted off the server thread. */
export async function estimateEmbeddingTokensAsync(input: string | readonly string[] | readonly number[] | readonly number[][]): Promise<number> {
  const items = typeof input === 'string' ? [input] : input
  const texts = items.filter((i): i is string => typeof i === 'string')
  let tokens = (await countTokensOf(texts)).reduce((a, b) => a + b, 0)
  for (const item of items) if (typeof item !== 'string') tokens += Array.isArray(item) ? item.length : 1
  return Math.ceil(tokens * 1.1) + 8
}

export function estimateEmbeddingTokens(input: string | readonly string[] | readonly number[] | readonly number[][]): number {
  const items = typeof input === 'string' ? [input] : input
  let tokens = 0
  for (const item of items) tokens += typeof item === 'string' ? countTokens(item) : Array.isArray(item) ? item.length : 1
  return Math.ceil(tokens * 1.1) + 8
}
