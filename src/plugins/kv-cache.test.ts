/** The kv values kept in memory on the embedded database (kv-cache.ts): what they answer, and when they step aside. */
import { describe, expect, test } from 'bun:test'
import { jsonbText, KvCache } from './kv-cache.ts'

describe('KvCache', () => {
  test('a write is answered, a key never seen is not, a removed key is nothing', () => {
    const cache = new KvCache(1024 * 1024)
    expect(cache.get('p', 'k')).toBeUndefined()
    cache.wrote('p', 'k', '{"b":1,"a":[2]}', 20, null)
    expect(cache.get('p', 'k')).toEqual({ value: { a: [2], b: 1 } })
    // Another plugin's key of the same name is its own.
    expect(cache.get('q', 'k')).toBeUndefined()
    cache.removed('p', 'k')
    expect(cache.get('p', 'k')).toEqual({ value: null })
  })

  test('a read answered before a write of the same plugin is not kept over it', () => {
    const cache = new KvCache(1024 * 1024)
    const ticket = cache.ticket('p')
    cache.wrote('p', 'k', '"new"', 5, null)
    cache.read('p', 'k', ticket, { value: 'old', bytes: 5, expiresAt: null })
    expect(cache.get('p', 'k')).toEqual({ value: 'new' })
    // A read with a current ticket is kept, a row not there as nothing.
    cache.read('p', 'other', cache.ticket('p'), null)
    expect(cache.get('p', 'other')).toEqual({ value: null })
  })

  test('an expired entry reads as nothing; a write whose outcome is unknown is read again', () => {
    const cache = new KvCache(1024 * 1024)
    cache.wrote('p', 'old', '1', 1, Date.now() - 1)
    expect(cache.get('p', 'old')).toEqual({ value: null })
    cache.wrote('p', 'k', '1', 1, null)
    cache.unsure('p', 'k')
    expect(cache.get('p', 'k')).toBeUndefined()
  })

  test('forgetting a plugin drops its entries and no other', () => {
    const cache = new KvCache(1024 * 1024)
    for (const plugin of ['p', 'pp', 'q']) cache.wrote(plugin, 'k', '1', 1, null)
    cache.forget('p')
    expect(cache.get('p', 'k')).toBeUndefined()
    expect(cache.get('pp', 'k')).toEqual({ value: 1 })
    expect(cache.get('q', 'k')).toEqual({ value: 1 })
  })

  test('memory stays within its bound, the least recently read going first; a value over a quarter of it is not kept', () => {
    const cache = new KvCache(64 * 1024)
    const value = JSON.stringify('x'.repeat(1000))
    for (let i = 0; i < 200; i++) {
      cache.wrote('p', `k${i}`, value, 1005, null)
      // k0 is read all along: it stays.
      expect(cache.get('p', 'k0')).toBeDefined()
    }
    expect(cache.size.bytes).toBeLessThanOrEqual(64 * 1024)
    expect(cache.size.entries).toBeGreaterThan(20)
    expect(cache.get('p', 'k1')).toBeUndefined()
    expect(cache.get('p', 'k199')).toBeDefined()
    cache.wrote('p', 'big', JSON.stringify('y'.repeat(20_000)), 20_005, null)
    expect(cache.get('p', 'big')).toBeUndefined()
  })

  test('a value nested past the stack is not kept, and its key is read again', () => {
    const cache = new KvCache(64 * 1024 * 1024)
    cache.wrote('p', 'deep', '1', 1, null)
    const deep = '['.repeat(200_000) + ']'.repeat(200_000)
    cache.wrote('p', 'deep', deep, deep.length, null)
    expect(cache.get('p', 'deep')).toBeUndefined()
  })

  test("jsonb's key order: by length in bytes, then byte by byte; integer-like keys still first once parsed, as JavaScript does", () => {
    expect(jsonbText({ bb: 1, a: 2, é: 3, e: 4, '': 5 })).toBe('{"":5,"a":2,"e":4,"bb":1,"é":3}')
    expect(Object.keys(JSON.parse(jsonbText({ ab: 1, '100': 2, c: 3 })))).toEqual(['100', 'c', 'ab'])
    expect(jsonbText([{ z: [], y: {} }, 'x', 1e21, null])).toBe('[{"y":{},"z":[]},"x",1e+21,null]')
  })
})
