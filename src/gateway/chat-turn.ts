import { ApiError } from '../http/errors.ts'
import type { ChatCompletionRequest } from './model.ts'
import type { Caller, GatewayService } from './service.ts'

/** One model call's outcome, put together from its stream. */
export interface ChatTurn {
  text: string
  toolCalls: { id: string; name: string; arguments: string }[]
  finishReason: string | null
  promptTokens: number
  completionTokens: number
}

export interface TurnHandlers {
  /** The upstream accepted the call (the gateway's limits, budgets and the provider all said yes): its headers. */
  onOpen?: (res: Response) => void
  /** Each piece of text as it arrives. */
  onText?: (delta: string) => void
}

interface Chunk {
  error?: { message?: string; code?: string }
  usage?: { prompt_tokens?: number; completion_tokens?: number }
  choices?: {
    delta?: { content?: string | null; tool_calls?: { index?: number; id?: string; function?: { name?: string; arguments?: string } }[] }
    finish_reason?: string | null
  }[]
}

/**
 * One streamed chat call through the gateway (so the caller's budgets, rate limits and usage records apply), read
 * into text and tool calls. Platform features that drive a model in a loop (agents, the Responses API) share it.
 * The upstream's bytes are hostile: an unreadable event is an upstream fault (502), not a crash; the gateway has
 * already capped how much it may generate.
 */
export async function chatTurn(
  gateway: GatewayService,
  caller: Caller,
  body: Omit<ChatCompletionRequest, 'stream' | 'stream_options'> & Record<string, unknown>,
  signal: AbortSignal,
  handlers: TurnHandlers = {},
): Promise<ChatTurn> {
  const res = await gateway.chat(caller, { ...body, stream: true, stream_options: { include_usage: true } } as ChatCompletionRequest, signal)
  handlers.onOpen?.(res)
  const turn: ChatTurn = { text: '', toolCalls: [], finishReason: null, promptTokens: 0, completionTokens: 0 }
  const calls = new Map<number, { id: string; name: string; arguments: string }>()
  const decoder = new TextDecoder()
  let buffered = ''
  const take = (event: string) => {
    const data = event
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n')
    if (!data || data === '[DONE]') return
    let parsed: Chunk
    try {
      parsed = JSON.parse(data) as Chunk
    } catch {
      throw new ApiError('upstream_error', "The model's stream sent an unreadable event")
    }
    if (typeof parsed !== 'object' || parsed === null) throw new ApiError('upstream_error', "The model's stream sent an unreadable event")
    if (parsed.error) throw new ApiError('upstream_error', `The model's stream failed: ${parsed.error.message ?? parsed.error.code ?? 'unknown error'}`)
    if (parsed.usage) {
      turn.promptTokens = parsed.usage.prompt_tokens ?? turn.promptTokens
      turn.completionTokens = parsed.usage.completion_tokens ?? turn.completionTokens
    }
    const choice = Array.isArray(parsed.choices) ? parsed.choices[0] : undefined
    if (!choice) return
    if (choice.finish_reason) turn.finishReason = choice.finish_reason
    const content = choice.delta?.content
    if (typeof content === 'string' && content) {
      turn.text += content
      handlers.onText?.(content)
    }
    for (const tc of Array.isArray(choice.delta?.tool_calls) ? choice.delta.tool_calls : []) {
      const i = typeof tc.index === 'number' ? tc.index : 0
      const call = calls.get(i) ?? { id: typeof tc.id === 'string' && tc.id ? tc.id : `call_${crypto.randomUUID().replaceAll('-', '')}`, name: '', arguments: '' }
      if (typeof tc.id === 'string' && tc.id) call.id = tc.id
      if (typeof tc.function?.name === 'string') call.name += tc.function.name
      if (typeof tc.function?.arguments === 'string') call.arguments += tc.function.arguments
      calls.set(i, call)
    }
  }
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true })
    if (buffered.includes('\r')) buffered = buffered.replace(/\r\n?/g, '\n')
    let sep: number
    while ((sep = buffered.indexOf('\n\n')) >= 0) {
      const event = buffered.slice(0, sep)
      buffered = buffered.slice(sep + 2)
      take(event)
    }
  }
  if (buffered.trim()) take(buffered)
  turn.toolCalls = [...calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c)
  return turn
}
