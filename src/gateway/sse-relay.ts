import { truncateTokens } from './answers.ts'
import { countTokens } from './token-count.ts'

/** What a relayed stream produced, for usage accounting. */
export interface StreamOutcome {
  usage: { prompt_tokens: number; completion_tokens: number } | null
  /** Content and tool-call text seen, for counting tokens when the upstream sent no usage. */
  text: string
  ttftMs: number | null
  /** How the stream ended; `capped`: the relay stopped it at the output cap the upstream did not keep to. */
  end: 'done' | 'capped' | 'client_abort' | 'upstream_cut' | 'upstream_garbage' | 'timeout'
}

export interface RelayOptions {
  /** Forward the upstream's usage-only chunk (the client asked for include_usage). */
  keepUsageChunk: boolean
  /** The model id the client used, when the upstream knows it under another name. */
  rewriteModel: string | null
  firstByteTimeoutMs: number
  startedAt: number
  /** Carried by error events, as by the error envelope. */
  requestId: string
  /**
   * Tokens each of `choices` may generate. When set the relay counts what it forwards and ends the stream at the
   * cap (finish_reason "length", the upstream aborted), whatever the upstream does with the max_tokens it was sent.
   */
  cap?: { tokensPerChoice: number; choices: number } | null
  /** The prompt's tokens as estimated, for the usage chunk of a stream the relay ends at the cap. */
  promptTokens?: number
  /** Cancels the upstream request. */
  abortUpstream: () => void
  onEnd: (outcome: StreamOutcome) => void
  /**
   * Called once, when the relay first has something for the client (an event, an error event, the end) or was
   * cancelled first, with when the upstream's first bytes were read (performance.now(); now, when none were). The
   * stream reads ahead of its reader by one piece, so this comes without one.
   */
  onFirstOutput?: (upstreamAt: number) => void
}

const encoder = new TextEncoder()

/** An error after the first byte, in the error envelope's own shape (the HTTP status is already sent). */
function errorEvent(message: string, code: 'upstream_error' | 'upstream_timeout', requestId: string): Uint8Array {
  return encoder.encode(`data: ${JSON.stringify({ error: { message, type: 'server_error', code, param: null, request_id: requestId } })}\n\n`)
}

interface ChoiceDelta {
  index?: number
  delta?: { content?: string | null; tool_calls?: { function?: { arguments?: string } }[] }
  finish_reason?: string | null
}

interface Chunk {
  id?: string
  created?: number
  choices?: ChoiceDelta[]
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null
  model?: string
}

/**
 * The longest event relayed. A chat chunk is a few hundred bytes; a provider that sends a whole answer as one event
 * stays far below this. Beyond it, the stream is an upstream fault: an event that never ends is never buffered whole.
 */
const MAX_EVENT_CHARS = 8 * 1024 * 1024
/** Bytes read and dropped after [DONE] before the upstream is cut. */
const AFTER_DONE_BYTES = 64 * 1024

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
  /** Where the next search for an event's end starts: what was searched already is not searched again. */
  let scanFrom = 0
  let finished = false
  let sawData = false
  let sawDone = false
  type ReadResult = Awaited<ReturnType<typeof reader.read>>
  const cap = opts.cap ?? null
  /** Tokens relayed per choice index, and the choices that reached the cap. */
  const relayed = new Map<number, number>()
  const full = new Set<number>()
  let capped = false
  let lastChunk: Chunk | null = null

  /** The usage chunk a client that asked for include_usage gets when the relay ends a capped stream itself. */
  function cappedUsage(): string {
    if (!opts.keepUsageChunk) return ''
    const completion = [...relayed.values()].reduce((a, b) => a + b, 0)
    const prompt = opts.promptTokens ?? 0
    const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
    return `data: ${JSON.stringify({ id: lastChunk?.id, object: 'chat.completion.chunk', created: lastChunk?.created, model: opts.rewriteModel ?? lastChunk?.model, choices: [], usage })}\n\n`
  }

  /**
   * Applies the cap to one chunk's choices (in place). `changed`: the chunk differs from what the upstream sent (a
   * choice dropped or cut), so it must be serialised again; `full`: every choice is now at its cap.
   */
  function hold(chunk: Chunk): { changed: boolean; full: boolean } {
    if (cap === null || !Array.isArray(chunk.choices)) return { changed: false, full: false }
    let changed = false
    if (full.size > 0) {
      const kept = chunk.choices.filter((c) => !full.has(c.index ?? 0))
      changed = kept.length !== chunk.choices.length
      chunk.choices = kept
    }
    for (const c of chunk.choices) {
      const index = c.index ?? 0
      const used = relayed.get(index) ?? 0
      const toolCalls = c.delta?.tool_calls
      const args = toolCalls?.length ? toolCalls.map((t) => t.function?.arguments ?? '').join('') : ''
      const argTokens = args ? countTokens(args) : 0
      const content = c.delta?.content ?? ''
      const room = cap.tokensPerChoice - used - argTokens
      const cut = truncateTokens(content, Math.max(0, room))
      if (c.delta && typeof c.delta.content === 'string' && cut.truncated) {
        c.delta.content = cut.text
        changed = true
      }
      relayed.set(index, used + cut.tokens + argTokens)
      if (cut.truncated || (relayed.get(index) ?? 0) >= cap.tokensPerChoice) {
        full.add(index)
        if (c.finish_reason !== 'length') changed = true
        c.finish_reason = 'length'
      }
    }
    return { changed, full: full.size >= cap.choices }
  }

  const finish = (end: StreamOutcome['end']) => {
    if (finished) return
    finished = true
    outcome.end = end
    opts.onEnd(outcome)
  }

  /** Returns the bytes to forward for one complete event, or null to drop it; throws on garbage. */
  function handleEvent(event: string): string | null {
    // The usual event is one `data: ` line; anything else (comments, several data lines, other fields) is split.
    const data =
      event.startsWith('data: ') && !event.includes('\n')
        ? event.slice(6).trimStart()
        : event
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
    // What hold() changed is known from hold() itself: comparing the choices serialised before and after cost two
    // JSON.stringify calls per event.
    const held = hold(chunk)
    if (held.full) capped = true
    const changed = held.changed
    lastChunk = chunk
    for (const c of chunk.choices ?? []) {
      const piece = (c.delta?.content ?? '') + (c.delta?.tool_calls ?? []).map((t) => t.function?.arguments ?? '').join('')
      if (piece) {
        outcome.text += piece
        outcome.ttftMs ??= performance.now() - opts.startedAt
      }
    }
    if (chunk.usage && (chunk.choices?.length ?? 0) === 0 && !opts.keepUsageChunk) return null
    if (changed && (chunk.choices?.length ?? 0) === 0 && !chunk.usage) return null
    if (opts.rewriteModel && chunk.model) return `data: ${JSON.stringify({ ...chunk, model: opts.rewriteModel })}\n\n`
    if (changed) return `data: ${JSON.stringify(chunk)}\n\n`
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

  let first = opts.onFirstOutput
  let firstReadAt: number | undefined
  const firstOutput = () => {
    first?.(firstReadAt ?? performance.now())
    first = undefined
  }
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      // Until the first output, enqueue and close say so as well.
      const controller = first
        ? {
            enqueue: (chunk: Uint8Array) => {
              ctl.enqueue(chunk)
              firstOutput()
            },
            close: () => {
              ctl.close()
              firstOutput()
            },
          }
        : ctl
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
              ? errorEvent('The upstream sent nothing in time', 'upstream_timeout', opts.requestId)
              : errorEvent('The upstream stream broke off', 'upstream_error', opts.requestId),
          )
          controller.close()
          finish(timedOut ? 'timeout' : 'upstream_cut')
          return
        }
        if (finished) return // the client went away while this read was pending
        firstReadAt ??= performance.now()
        if (result.done) {
          if (sawDone) {
            controller.close()
            finish('done')
            return
          }
          // No [DONE]-terminated end: the upstream hung up in the middle.
          controller.enqueue(errorEvent('The upstream stream ended before it was complete', 'upstream_error', opts.requestId))
          controller.close()
          finish('upstream_cut')
          return
        }
        sawData = true
        buffered += decoder.decode(result.value, { stream: true }).replaceAll('\r\n', '\n')
        let out = ''
        let sep: number
        while ((sep = buffered.indexOf('\n\n', scanFrom)) >= 0) {
          const event = buffered.slice(0, sep)
          buffered = buffered.slice(sep + 2)
          scanFrom = 0
          try {
            out += handleEvent(event) ?? ''
            if (capped) {
              // Every choice is at its cap: the client gets a proper end, and the upstream is stopped. The outcome is
              // recorded first, so the usage is on record before the client can see the end.
              opts.abortUpstream()
              void reader.cancel().catch(() => {})
              finish('capped')
              controller.enqueue(encoder.encode(`${out}${cappedUsage()}data: [DONE]\n\n`))
              controller.close()
              return
            }
          } catch {
            opts.abortUpstream()
            if (out) controller.enqueue(encoder.encode(out))
            controller.enqueue(errorEvent('The upstream sent an unreadable event', 'upstream_error', opts.requestId))
            controller.close()
            finish('upstream_garbage')
            return
          }
        }
        scanFrom = Math.max(0, buffered.length - 1)
        if (buffered.length > MAX_EVENT_CHARS) {
          // An event that never ends would be kept whole in memory: the upstream is at fault, as for garbage.
          opts.abortUpstream()
          void reader.cancel().catch(() => {})
          if (out) controller.enqueue(encoder.encode(out))
          controller.enqueue(errorEvent(`The upstream sent an event of more than ${MAX_EVENT_CHARS / (1024 * 1024)} MB`, 'upstream_error', opts.requestId))
          controller.close()
          finish('upstream_garbage')
          return
        }
        if (sawDone) {
          // The end, recorded before the client sees [DONE]: an answer the client has is one the ledger has.
          finish('done')
          // What follows [DONE] (normally nothing) is read and dropped, so the upstream connection can be reused;
          // past a little, the upstream is just sending, and is cut.
          void (async () => {
            let left = AFTER_DONE_BYTES
            for (let r = await reader.read(); !r.done; r = await reader.read())
              if ((left -= r.value.byteLength) < 0) return void (await reader.cancel())
          })().catch(() => {})
          if (out) controller.enqueue(encoder.encode(out))
          controller.close()
          return
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
      firstOutput()
    },
  })
}
