import { expect, test } from 'bun:test'
import { RangeMemo } from './range-memo.ts'

test('a value per distinct string, found where the string stands, computed once until the memo fills and starts again', () => {
  const computed: string[] = []
  const memo = new RangeMemo<number>(4, (key) => {
    computed.push(key)
    return key.length * 10 + key.charCodeAt(0)
  })
  const text = 'abc abd abc ab abcd'
  const at = (word: string, from = 0) => memo.get(text, text.indexOf(word, from), text.indexOf(word, from) + word.length)
  expect(at('abc')).toBe(30 + 97)
  expect(at('abd')).toBe(30 + 97)
  expect(at('abc', 8)).toBe(30 + 97)
  expect(memo.get('xabcx', 1, 4)).toBe(30 + 97)
  expect(computed).toEqual(['abc', 'abd'])
  // Prefixes, extensions and strings of one hash apart are other keys.
  expect(at('ab ')).toBe(20 + 97 + 1 * 10)
  expect(at('abcd')).toBe(40 + 97)
  expect(computed).toEqual(['abc', 'abd', 'ab ', 'abcd'])
  // Full at 4: the fifth string empties it, and what was kept is computed again, with the same value.
  expect(memo.get('zz', 0, 2)).toBe(20 + 122)
  expect(at('abc')).toBe(30 + 97)
  expect(computed).toEqual(['abc', 'abd', 'ab ', 'abcd', 'zz', 'abc'])
})

test('thousands of keys through a small table keep their own values', () => {
  const memo = new RangeMemo<string>(64, (key) => key.toUpperCase())
  for (let round = 0; round < 3; round++)
    for (let i = 0; i < 5000; i++) {
      const word = `w${i.toString(36)}`
      const text = `..${word}..`
      expect(memo.get(text, 2, 2 + word.length)).toBe(word.toUpperCase())
    }
})

test('the limit is a power of two', () => {
  expect(() => new RangeMemo(100, () => 0)).toThrow(RangeError)
})
