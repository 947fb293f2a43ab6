import { describe, expect, test } from 'bun:test'
import { relaySse, type StreamOutcome } from './sse-relay.ts'

const chunk = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`
const USAGE = `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } })}\n\n`

/** An upstream body that hands out each piece in its own read, a tick apart, as a network would. */
function upstream(pieces: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  let i = 0
  return new ReadableStream({
    async pull(controller) {
      await Bun.sleep(2)
      if (i < pieces.length) controller.enqueue(encoder.encode(pieces[i++]))
      else controller.close()
    },
  })
}

async function relay(pieces: string[], keepUsageChunk = false) {
  let outcome: StreamOutcome | undefined
  let aborted = false
  const body = relaySse(upstream(pieces), {
    requestId: 'req-test',
    keepUsageChunk,
    rewriteModel: null,
    firstByteTimeoutMs: 5000,
    startedAt: performance.now(),
    abortUpstream: () => (aborted = true),
    onEnd: (o) => (outcome = o),
  })
  const text = await new Response(body).text()
  return { text, outcome, aborted }
}

describe('relaySse', () => {
  test('an upstream read that holds only the hidden usage chunk does not stall the stream', async () => {
    const { text, outcome } = await relay([chunk('Hel'), chunk('lo'), USAGE, 'data: [DONE]\n\n'])
    expect(text).toBe(chunk('Hel') + chunk('lo') + 'data: [DONE]\n\n')
    expect(outcome).toMatchObject({ end: 'done', text: 'Hello', usage: { prompt_tokens: 5, completion_tokens: 2 } })
  })

  test('events split across reads are put together; comments pass through', async () => {
    const whole = chunk('split') + ': keep-alive\n\n' + USAGE + 'data: [DONE]\n\n'
    const pieces = [whole.slice(0, 7), whole.slice(7, 30), whole.slice(30, 31), whole.slice(31)]
    const { text, outcome } = await relay(pieces, true)
    expect(text).toBe(whole)
    expect(outcome?.end).toBe('done')
  })

  test('an upstream that hangs up before [DONE] ends with an error event', async () => {
    const { text, outcome } = await relay([chunk('half'), USAGE])
    expect(text).toContain(chunk('half'))
    expect(text).toContain('"code":"upstream_error"')
    expect(outcome?.end).toBe('upstream_cut')
  })

  test('garbage ends the stream with an error event and cancels the upstream', async () => {
    const { text, outcome, aborted } = await relay([chunk('ok'), 'data: {not json\n\n', chunk('never')])
    expect(text).toContain(chunk('ok'))
    expect(text).not.toContain('never')
    expect(text).toContain('unreadable')
    expect(outcome?.end).toBe('upstream_garbage')
    expect(aborted).toBe(true)
  })
})

describe('the first output', () => {
  const options = (onFirstOutput: (upstreamAt: number) => void, onEnd: (o: StreamOutcome) => void = () => {}) => ({
    requestId: 'req-first',
    keepUsageChunk: false,
    rewriteModel: null,
    firstByteTimeoutMs: 5000,
    startedAt: performance.now(),
    abortUpstream: () => {},
    onEnd,
    onFirstOutput,
  })

  test('is told once, without a reader, when the first event is ready, with when the upstream sent its first bytes', async () => {
    let told = 0
    let upstreamAt = 0
    const created = performance.now()
    // The upstream's first bytes come 100 ms after the relay starts, and hold no event yet.
    const slow = new ReadableStream<Uint8Array>({
      async start(controller) {
        await Bun.sleep(100)
        controller.enqueue(new TextEncoder().encode(': warming up\n'))
        await Bun.sleep(50)
        for (const piece of ['\n', chunk('first'), chunk('second'), 'data: [DONE]\n\n']) controller.enqueue(new TextEncoder().encode(piece))
        controller.close()
      },
    })
    const body = relaySse(slow, options((at) => ((upstreamAt = at), told++)))
    const until = Date.now() + 5000
    while (told === 0 && Date.now() < until) await Bun.sleep(1)
    const toldAt = performance.now()
    expect(told).toBe(1)
    // The upstream's share ends at its first bytes (100 ms), not at the first output (150 ms, the comment completed).
    expect(upstreamAt - created).toBeGreaterThanOrEqual(95)
    expect(upstreamAt - created).toBeLessThan(toldAt - created - 30)
    expect(await new Response(body).text()).toBe(': warming up\n\n' + chunk('first') + chunk('second') + 'data: [DONE]\n\n')
    expect(told).toBe(1)
  })

  test('the reader gets the first event first, once', async () => {
    let told = 0
    const body = relaySse(upstream(['', chunk('first'), chunk('second'), 'data: [DONE]\n\n']), options(() => told++))
    const until = Date.now() + 5000
    while (told === 0 && Date.now() < until) await Bun.sleep(1)
    expect(told).toBe(1)
    expect(await new Response(body).text()).toBe(chunk('first') + chunk('second') + 'data: [DONE]\n\n')
    expect(told).toBe(1)
  })

  test('an end, an error or a cancel before any event is told too; a cancel is the client abort', async () => {
    for (const pieces of [['data: [DONE]\n\n'], [chunk('half')]]) {
      let told = 0
      const body = relaySse(upstream(pieces), options(() => told++))
      while (told === 0) await Bun.sleep(1)
      await new Response(body).text()
      expect(told).toBe(1)
    }
    let told = 0
    let outcome: StreamOutcome | undefined
    const never = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) })
    const body = relaySse(never, options(() => told++, (o) => (outcome = o)))
    await Bun.sleep(5)
    expect(told).toBe(0)
    await body.cancel()
    expect(told).toBe(1)
    expect(outcome?.end).toBe('client_abort')
  })
})
