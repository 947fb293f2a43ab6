/**
 * The mock OpenAI upstream in a process of its own, so the load generator's event loop and the upstream do not
 * share a thread. Prints one JSON line `{"url": ".../v1"}` once listening; SIGTERM stops it.
 *
 * Env: UPSTREAM_DELAY_MS (fixed delay before each response), UPSTREAM_CHUNK_DELAY_MS (between SSE chunks).
 */
import { startUpstream } from '../../test/fixtures/upstream.ts'

const up = await startUpstream({
  models: ['mock-chat'],
  delayMs: Number(process.env.UPSTREAM_DELAY_MS ?? 0),
  streamChunkDelayMs: Number(process.env.UPSTREAM_CHUNK_DELAY_MS ?? 0),
})
// The fixture records every request for tests; under load that is only a growing heap.
const trim = setInterval(() => (up.requests.length = 0), 1000)
console.log(JSON.stringify({ url: up.url }))

process.on('SIGTERM', () => {
  clearInterval(trim)
  void up.stop().finally(() => process.exit(0))
})
