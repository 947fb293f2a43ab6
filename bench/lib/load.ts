/**
 * In-process load generators for the gateway benchmark: an open-loop one that sends at a fixed rate whatever the
 * responses do (so a slow server shows up as latency and queueing, not as a lower offered rate), and a closed-loop
 * fallback for saturation when wrk is not installed.
 *
 * Latency is measured from the moment the request is handed to fetch(). The scheduler's own lateness (actual send
 * minus planned send) is recorded separately as `lag`, so a generator that cannot keep up is visible.
 */

export interface Target {
  url: string
  headers: Record<string, string>
  body: string
  stream: boolean
}

export interface Sample {
  /** Non-streaming: until the whole body was read. Streaming: until the stream ended. */
  totalMs: number
  /** Streaming only: until the first `data:` event carrying non-empty content. */
  ttftMs: number
  /** The gateway's own `Server-Timing: gateway;dur=X`, NaN when absent (direct calls). */
  gatewayMs: number
  /** `Server-Timing: upstream;dur=X`: the upstream's share as the gateway measured it; NaN when absent. */
  upstreamMs: number
}

export interface LoadResult {
  planned: number
  sent: number
  ok: number
  errors: Record<string, number>
  samples: Sample[]
  /** Scheduler lateness per request, ms. */
  lag: number[]
  /** Wall time from the first send to the last response, s. */
  wallS: number
  /** Highest number of requests in flight at once. */
  peakInFlight: number
}

const CONTENT_RE = /"content":"[^"]/
const GATEWAY_DUR_RE = /gateway;dur=([\d.]+)/
const UPSTREAM_DUR_RE = /upstream;dur=([\d.]+)/

function countError(errors: Record<string, number>, kind: string): void {
  errors[kind] = (errors[kind] ?? 0) + 1
}

/** Sends one request and reads the whole response; resolves with a sample or an error kind. */
export async function once(target: Target, timeoutMs: number): Promise<Sample | string> {
  const sent = performance.now()
  let res: Response
  try {
    res = await fetch(target.url, {
      method: 'POST',
      headers: target.headers,
      body: target.body,
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    return (err as Error).name === 'TimeoutError' ? 'timeout' : 'connect'
  }
  const timing = res.headers.get('server-timing') ?? ''
  const dur = GATEWAY_DUR_RE.exec(timing)?.[1]
  const gatewayMs = dur === undefined ? NaN : Number(dur)
  const up = UPSTREAM_DUR_RE.exec(timing)?.[1]
  const upstreamMs = up === undefined ? NaN : Number(up)
  try {
    if (res.status !== 200) {
      await res.arrayBuffer()
      return `http_${res.status}`
    }
    if (!target.stream) {
      const text = await res.text()
      const totalMs = performance.now() - sent
      if (!text.includes('echo:')) return 'bad_body'
      return { totalMs, ttftMs: NaN, gatewayMs, upstreamMs }
    }
    const body = res.body
    if (!body) return 'bad_body'
    const reader = body.getReader()
    const decoder = new TextDecoder()
    let text = ''
    let ttftMs = NaN
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
      if (Number.isNaN(ttftMs) && CONTENT_RE.test(text)) ttftMs = performance.now() - sent
    }
    const totalMs = performance.now() - sent
    if (Number.isNaN(ttftMs) || !text.includes('data: [DONE]')) return 'bad_stream'
    return { totalMs, ttftMs, gatewayMs, upstreamMs }
  } catch (err) {
    return (err as Error).name === 'TimeoutError' ? 'timeout' : 'read'
  }
}

export interface OpenLoopOptions {
  rate: number
  durationS: number
  /** Requests beyond this many in flight are not sent and count as `shed` (protects the generator). */
  maxInFlight: number
  timeoutMs: number
}

/** Fixed-rate (open-loop) load: request i is due at start + i / rate. */
export async function openLoop(target: Target, opts: OpenLoopOptions): Promise<LoadResult> {
  const planned = Math.max(1, Math.round(opts.rate * opts.durationS))
  const interval = 1000 / opts.rate
  const result: LoadResult = { planned, sent: 0, ok: 0, errors: {}, samples: [], lag: [], wallS: 0, peakInFlight: 0 }
  const inFlight = new Set<Promise<void>>()
  const start = performance.now() + 2
  let lastDone = start

  const fire = (due: number): void => {
    if (inFlight.size >= opts.maxInFlight) {
      countError(result.errors, 'shed')
      return
    }
    result.lag.push(performance.now() - due)
    result.sent++
    const p: Promise<void> = once(target, opts.timeoutMs).then((r) => {
      inFlight.delete(p)
      lastDone = performance.now()
      if (typeof r === 'string') countError(result.errors, r)
      else {
        result.ok++
        result.samples.push(r)
      }
    })
    inFlight.add(p)
    if (inFlight.size > result.peakInFlight) result.peakInFlight = inFlight.size
  }

  let i = 0
  while (i < planned) {
    const now = performance.now()
    while (i < planned && start + i * interval <= now) fire(start + i++ * interval)
    if (i >= planned) break
    // Timers have ~1 ms granularity; a request due sooner goes out on the next tick, and its lag is recorded.
    await Bun.sleep(Math.max(1, start + i * interval - performance.now()))
  }
  await Promise.all(inFlight)
  result.wallS = (lastDone - start) / 1000
  return result
}

/** Closed-loop load: `connections` loops, each sending its next request when the previous one finished. */
export async function closedLoop(target: Target, connections: number, durationS: number, timeoutMs: number): Promise<LoadResult> {
  const result: LoadResult = { planned: 0, sent: 0, ok: 0, errors: {}, samples: [], lag: [], wallS: 0, peakInFlight: connections }
  const start = performance.now()
  const end = start + durationS * 1000
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      result.sent++
      const r = await once(target, timeoutMs)
      if (typeof r === 'string') countError(result.errors, r)
      else {
        result.ok++
        result.samples.push(r)
      }
    }
  }
  await Promise.all(Array.from({ length: connections }, loop))
  result.planned = result.sent
  result.wallS = (performance.now() - start) / 1000
  return result
}

/** Several runs against one target as one result (slices of an interleaved phase). */
export function mergeResults(parts: readonly LoadResult[]): LoadResult {
  const out: LoadResult = { planned: 0, sent: 0, ok: 0, errors: {}, samples: [], lag: [], wallS: 0, peakInFlight: 0 }
  for (const p of parts) {
    out.planned += p.planned
    out.sent += p.sent
    out.ok += p.ok
    for (const [k, v] of Object.entries(p.errors)) out.errors[k] = (out.errors[k] ?? 0) + v
    for (const s of p.samples) out.samples.push(s)
    for (const l of p.lag) out.lag.push(l)
    out.wallS += p.wallS
    out.peakInFlight = Math.max(out.peakInFlight, p.peakInFlight)
  }
  return out
}
