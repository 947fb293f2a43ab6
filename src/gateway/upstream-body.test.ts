/**
 * An upstream's body is read no further than its limit: one that declares too much is not read at all, one that
 * never ends is cut just past the limit, and a small compressed one is counted as it inflates (fetch decompresses).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { gzipSync } from 'node:zlib'
import { readCappedText } from './upstream-body.ts'

const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024, 'a'))
const site = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  fetch: (req) =>
    new URL(req.url).pathname === '/bomb'
      ? new Response(bomb, { headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' } })
      : new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } }),
})
afterAll(() => void site.stop(true))

/** A body that never ends, counting what was pulled from it. */
function endless() {
  let pulled = 0
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled += 16 * 1024
      c.enqueue(new Uint8Array(16 * 1024).fill(97))
    },
  })
  return { res: new Response(body), pulled: () => pulled }
}

describe('readCappedText', () => {
  test('a body within the limit is read whole, with or without a declared length', async () => {
    expect(await readCappedText(new Response('{"a":1}', { headers: { 'content-length': '7' } }), 7)).toBe('{"a":1}')
    expect(await readCappedText(new Response(new Blob(['héllo']).stream()), 6)).toBe('héllo')
    expect(await readCappedText(await fetch(`http://127.0.0.1:${site.port}/`), 1024)).toBe('{"ok":true}')
  })

  test('a declared length over the limit is refused before anything is read', async () => {
    const { res, pulled } = endless()
    const declared = new Response(res.body, { headers: { 'content-length': String(1 << 30) } })
    expect(await readCappedText(declared, 1024 * 1024)).toBeNull()
    expect(pulled()).toBeLessThanOrEqual(64 * 1024)
  })

  test('a body that never ends is cut just past the limit', async () => {
    const { res, pulled } = endless()
    expect(await readCappedText(res, 1024 * 1024)).toBeNull()
    expect(pulled()).toBeGreaterThan(1024 * 1024)
    expect(pulled()).toBeLessThan(2 * 1024 * 1024)
  })

  test('a compressed body is counted as it inflates: 8 KB of gzip that would be 8 MB', async () => {
    const res = await fetch(`http://127.0.0.1:${site.port}/bomb`)
    expect(bomb.byteLength).toBeLessThan(64 * 1024)
    expect(await readCappedText(res, 1024 * 1024)).toBeNull()
    expect((await readCappedText(await fetch(`http://127.0.0.1:${site.port}/bomb`), 16 * 1024 * 1024))?.length).toBe(8 * 1024 * 1024)
  })
})
