/** guardedStream: the guard's checks with the body handed over as it arrives (MCP's event streams), capped as read. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { guardedFetch, guardedStream, NetDenied, type NetLimits } from './net-guard.ts'

const limits: NetLimits = { maxResponseBytes: 1 << 20, timeoutMs: 5_000, maxRedirects: 3 }
let server: ReturnType<typeof Bun.serve>
let host: string
let release: () => void = () => {}
let cancelled = 0

beforeAll(() => {
  server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname
      const encoder = new TextEncoder()
      if (path === '/events') {
        // One event now, the second only once the test has read the first.
        const gate = new Promise<void>((resolve) => (release = resolve))
        return new Response(
          new ReadableStream({
            async start(c) {
              c.enqueue(encoder.encode('data: one\n\n'))
              await gate
              c.enqueue(encoder.encode('data: two\n\n'))
              c.close()
            },
          }),
          { headers: { 'content-type': 'text/event-stream' } },
        )
      }
      if (path === '/endless' || path === '/stalls') {
        let sent = false
        return new Response(
          new ReadableStream({
            async pull(c) {
              if (path === '/stalls' && sent) return new Promise<void>(() => {})
              sent = true
              c.enqueue(new Uint8Array(32 * 1024))
              await Bun.sleep(1)
            },
            cancel() {
              cancelled++
            },
          }),
        )
      }
      if (path === '/redirect') return new Response(null, { status: 307, headers: { location: '/events' } })
      return new Response('ok')
    },
  })
  host = `127.0.0.1:${server.port}`
})
afterAll(() => server.stop(true))

async function denial(p: Promise<unknown>): Promise<NetDenied> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(NetDenied)
  return err as NetDenied
}

describe('guardedStream', () => {
  test('hands events over as they arrive, before the response has ended', async () => {
    const res = await guardedStream({ url: `http://${host}/events` }, { hosts: [host] }, limits)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: one\n\n')
    release()
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: two\n\n')
    expect((await reader.read()).done).toBe(true)
  })

  test('follows a redirect within the grant, as guardedFetch does', async () => {
    const res = await guardedStream({ url: `http://${host}/redirect` }, { hosts: [host] }, limits)
    const reader = res.body!.getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: one\n\n')
    release()
    await reader.cancel()
  })

  test('a body over maxResponseBytes fails the stream once the cap is passed, and the connection goes', async () => {
    const before = cancelled
    const res = await guardedStream({ url: `http://${host}/endless` }, { hosts: [host] }, { ...limits, maxResponseBytes: 100_000 })
    const err = await denial(new Response(res.body).arrayBuffer())
    expect(err.reason).toBe('response_too_large')
    for (let i = 0; i < 50 && cancelled === before; i++) await Bun.sleep(10)
    expect(cancelled).toBeGreaterThan(before)
  })

  test('timeoutMs covers the body: a stream that stalls fails with a timeout', async () => {
    const started = performance.now()
    const res = await guardedStream({ url: `http://${host}/stalls` }, { hosts: [host] }, { ...limits, timeoutMs: 300 })
    const err = await denial(new Response(res.body).arrayBuffer())
    expect(err.reason).toBe('timeout')
    expect(performance.now() - started).toBeLessThan(2_000)
  })

  test('publicOnly: even a host named exactly may not be a private address (both guards)', async () => {
    expect((await denial(guardedStream({ url: `http://${host}/` }, { hosts: [host], publicOnly: true }, limits))).reason).toBe('private_address')
    expect((await denial(guardedFetch({ url: `http://${host}/` }, { hosts: [host], publicOnly: true }, limits))).reason).toBe('private_address')
    expect(await (await guardedStream({ url: `http://${host}/` }, { hosts: [host] }, limits)).text()).toBe('ok')
  })
})
