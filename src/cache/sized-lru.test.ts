import { describe, expect, test } from 'bun:test'
import { SizedLru } from './sized-lru.ts'

const kept = (lru: SizedLru<number, string>) => [...lru.keys()]

describe('SizedLru', () => {
  test('keeps entries within its budget, dropping the least recently used first', () => {
    const lru = new SizedLru<number, string>(100)
    lru.set(1, 'a', 40)
    lru.set(2, 'b', 40)
    expect(lru.get(1)).toBe('a')
    // 3 pushes out 2, which was used longer ago than 1.
    lru.set(3, 'c', 40)
    expect(kept(lru)).toEqual([1, 3])
    expect(lru.get(2)).toBeUndefined()
    expect(lru.bytes).toBe(80)
    // Set again: counted once, and now the most recently used.
    lru.set(1, 'A', 10)
    expect(kept(lru)).toEqual([3, 1])
    expect([lru.size, lru.bytes]).toEqual([2, 50])
    // A large entry pushes out the oldest until the budget holds (exactly: 10 + 90), and no more.
    lru.set(4, 'd', 90)
    expect(kept(lru)).toEqual([1, 4])
    expect(lru.bytes).toBe(100)
    lru.set(5, 'e', 95)
    expect(kept(lru)).toEqual([5])
  })

  test('keeps nothing with a budget of 0, nor an entry over its largest size, which also drops the older value', () => {
    const none = new SizedLru<number, string>(0)
    expect(none.set(1, 'a', 0)).toBe(false)
    expect([none.size, none.get(1)]).toEqual([0, undefined])

    const small = new SizedLru<number, string>(10)
    expect(small.set(1, 'a', 5)).toBe(true)
    expect(small.set(2, 'b', 11)).toBe(false)
    expect(kept(small)).toEqual([1])
    expect(small.set(1, 'A', 11)).toBe(false)
    expect([small.size, small.bytes]).toEqual([0, 0])

    const quarter = new SizedLru<number, string>(100, 25)
    expect(quarter.set(1, 'a', 26)).toBe(false)
    expect(quarter.set(1, 'a', 25)).toBe(true)
  })

  test('with no largest size, an entry over the budget stays alone until another comes', () => {
    const lru = new SizedLru<number, string>(100, Infinity)
    lru.set(1, 'a', 30)
    lru.set(2, 'b', 150)
    expect(kept(lru)).toEqual([2])
    expect(lru.bytes).toBe(150)
    lru.set(3, 'c', 10)
    expect(kept(lru)).toEqual([3])
  })

  test('an entry that grows in place is counted again, becomes the most recently used, and pushes others out', () => {
    const lru = new SizedLru<number, string>(100, Infinity)
    lru.set(1, 'a', 30)
    lru.set(2, 'b', 30)
    lru.set(3, 'c', 30)
    lru.resize(1, 50)
    expect(kept(lru)).toEqual([3, 1])
    expect(lru.bytes).toBe(80)
    lru.resize(1, 10)
    expect(lru.bytes).toBe(40)
    // A key not there is no entry to resize.
    lru.resize(9, 10)
    expect(kept(lru)).toEqual([3, 1])
    // Grown past the budget alone, it stays: the others go.
    lru.resize(3, 120)
    expect(kept(lru)).toEqual([3])
    expect(lru.bytes).toBe(120)
  })

  test('delete returns whether the key was there; deleting while iterating the keys visits each once', () => {
    const lru = new SizedLru<string, number>(1000)
    for (const key of ['p:1', 'q:1', 'p:2', 'q:2']) lru.set(key, 1, 10)
    expect(lru.delete('nope')).toBe(false)
    const seen: string[] = []
    for (const key of lru.keys()) {
      seen.push(key)
      if (key.startsWith('p:')) expect(lru.delete(key)).toBe(true)
    }
    expect(seen).toEqual(['p:1', 'q:1', 'p:2', 'q:2'])
    expect([...lru.keys()]).toEqual(['q:1', 'q:2'])
    expect(lru.bytes).toBe(20)
  })

  test('a value that is undefined-like is still an entry (null, 0, empty string)', () => {
    const lru = new SizedLru<number, unknown>(100)
    lru.set(1, null, 1)
    lru.set(2, 0, 1)
    lru.set(3, '', 1)
    expect([lru.get(1), lru.get(2), lru.get(3)]).toEqual([null, 0, ''])
    expect(lru.size).toBe(3)
  })
})
