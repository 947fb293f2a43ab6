/** What a relayed stream produced, for usage accounting. */
export interface StreamOutcome {
  usage: { prompt_tokens: number; completion_tokens: number } | null
  /** Content and tool-call text seen, for counting tokens when the upstream sent no usage. */
  text: string
  ttftMs: number | null
  /** How the stream ended. */
  end: 'done' | 'client_abort' | 'upstream_cut' | 'upstream_garbage' | 'timeout'
}

export interface RelayOptions {
  /** Forward the upstream's usage-only chunk (the client asked for include_usage). */
  keepUsageChunk: boolean
  /** The model id the client used, when the upstream knows it under another name. */
  rewriteModel: string | null
  firstByteTimeoutMs: number
  startedAt: number
  /** Cancels the upstream request. */
  abortUpstream: () => void
  onEnd: (outcome: StreamOutcome) => void
}

const encoder = new TextEncoder()

function errorEvent(message: string, code: string): Uint8Array {
  return encoder.encode(`data: ${JSON.stringify({ error: { message, type: 'server_error', code } })}\n\n`)
}

interface Chunk {
  choices?: { delta?: { content?: string | null; tool_calls?: { function?: { arguments?: string } }[] } }[]
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null
  model?: string
}

/**
 * Relays an upstream SSE stream event by event as it arrives: pull-based, so nothing is buffered beyond one
 * partial event and backpressure reaches the upstream. It watches the events for usage and content, hides the
 * usage chunk the gateway asked for on its own behalf, and ends a broken stream with an OpenAI-style error event.
 * A client that goes away cancels the upstream request; `onEnd` runs exactly once whatever happens.
 */
export function relaySse(upstream: ReadableStream<Uint8Array>, opts: RelayOptions): ReadableStream<Uint8Array> {
  const reader = upstream.getReader()
  const decoder = new TextDecoder()
  const outcome: StreamOutcome = { usage: null, text: '', ttftMs: null, end: 'done' }
  let buffered = ''
  let finished = false
  let sawData = false
  let sawDone = false
  type ReadResult = Awaited<ReturnType<typeof reader.read>>

  const finish = (end: StreamOutcome['end']) => {
    if (finished) return
    finished = true
    outcome.end = end
    opts.onEnd(outcome)
  }

  /** Returns the bytes to forward for one complete event, or null to drop it; throws on garbage. */
  function handleEvent(event: string): string | null {
    const data = event
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n')
    if (!data) return `${event}\n\n`
    if (data === '[DONE]') {
      sawDone = true
      return `${event}\n\n`
    }
    const chunk = JSON.parse(data) as Chunk
    if (chunk.usage && typeof chunk.usage.completion_tokens === 'number')
      outcome.usage = { prompt_tokens: chunk.usage.prompt_tokens ?? 0, completion_tokens: chunk.usage.completion_tokens }
    for (const c of chunk.choices ?? []) {
      const piece = (c.delta?.content ?? '') + (c.delta?.tool_calls ?? []).map((t) => t.function?.arguments ?? '').join('')
      if (piece) {
        outcome.text += piece
        outcome.ttftMs ??= performance.now() - opts.startedAt
      }
    }
    if (chunk.usage && (chunk.choices?.length ?? 0) === 0 && !opts.keepUsageChunk) return null
    if (opts.rewriteModel && chunk.model) return `data: ${JSON.stringify({ ...chunk, model: opts.rewriteModel })}\n\n`
    return `${event}\n\n`
  }

  async function read(): Promise<ReadResult> {
    if (sawData) return reader.read()
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('first byte timeout')), opts.firstByteTimeoutMs)
    })
    try {
      return await Promise.race([reader.read(), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // A pull that enqueues nothing is not called again (the spec calls pull after an enqueue or a new read), so
      // read on until there is something to forward: an upstream chunk can hold only an event that is dropped (the
      // usage chunk asked for on the gateway's behalf) or only part of one.
      for (;;) {
        let result: ReadResult
        try {
          result = await read()
        } catch (err) {
          const timedOut = (err as Error).message === 'first byte timeout'
          opts.abortUpstream()
          controller.enqueue(
            timedOut
              ? errorEvent('The upstream sent nothing in time', 'upstream_timeout')
              : errorEvent('The upstream stream broke off', 'upstream_error'),
          )
          controller.close()
          finish(timedOut ? 'timeout' : 'upstream_cut')
          return
        }
        if (finished) return // the client went away while this read was pending
        if (result.done) {
          if (sawDone) {
            controller.close()
            finish('done')
            return
          }
          // No [DONE]-terminated end: the upstream hung up in the middle.
          controller.enqueue(errorEvent('The upstream stream ended before it was complete', 'upstream_error'))
          controller.close()
          finish('upstream_cut')
          return
        }
        sawData = true
        buffered += decoder.decode(result.value, { stream: true }).replaceAll('\r\n', '\n')
        let out = ''
        let sep: number
        while ((sep = buffered.indexOf('\n\n')) >= 0) {
          const event = buffered.slice(0, sep)
          buffered = buffered.slice(sep + 2)
          try {
            out += handleEvent(event) ?? ''
          } catch {
            opts.abortUpstream()
            if (out) controller.enqueue(encoder.encode(out))
            controller.enqueue(errorEvent('The upstream sent an unreadable event', 'upstream_error'))
            controller.close()
            finish('upstream_garbage')
            return
          }
        }
        if (out) {
          controller.enqueue(encoder.encode(out))
          return
        }
      }
    },
    cancel() {
      opts.abortUpstream()
      void reader.cancel().catch(() => {})
      finish('client_abort')
    },
  })
}
