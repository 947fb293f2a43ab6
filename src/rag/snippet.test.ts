/** The snippet: the same stretch as the straightforward word-by-word scan it replaced, found without analysing every word. */
import { expect, test } from 'bun:test'
import { snippet } from './search.ts'
import { analyze } from './text/analyzer.ts'

/** The previous implementation, kept as the reference: every word lowercased and tested against every head. */
function reference(text: string, terms: ReadonlySet<string>): string {
  if (text.length <= 240) return text
  const words = [...text.matchAll(/\S+/g)]
  if (words.length === 0) return text.slice(0, 240)
  const heads = [...terms].map((t) => t.slice(0, 3)).filter((h) => h.length > 0)
  const hit = words.map((w) => {
    const lower = w[0].toLowerCase()
    return heads.some((p) => lower.includes(p)) && analyze(lower).some((t) => terms.has(t))
  })
  let bestStart = 0
  let bestHits = -1
  for (let i = 0, j = 0, hits = 0; i < words.length; i++) {
    while (j < words.length && (j === i || words[j]!.index! + words[j]![0].length - words[i]!.index! <= 240)) hits += hit[j++] ? 1 : 0
    if (hits > bestHits) {
      bestHits = hits
      bestStart = i
    }
    hits -= hit[i] ? 1 : 0
  }
  const from = words[bestStart]!.index!
  let to = from
  for (let j = bestStart; j < words.length && words[j]!.index! + words[j]![0].length - from <= 240; j++) to = words[j]!.index! + words[j]![0].length
  return `${from > 0 ? '… ' : ''}${text.slice(from, to)}${to < text.length ? ' …' : ''}`
}

const VOCABULARY = [
  'patients', 'Patient', 'treated', 'TREATMENT', 'treating', 'IL-6', 'interleukin', '(cells),', 'cell.', 'naïve', 'Vitamin',
  'c', 'b12', 'the', 'of', 'and', 'mortality', 'mortal', 'p<0.05', 'a+b', '[x]', 'café', 'Straße', 'αλφα', '日本語テキスト',
  'anti-inflammatory', 'noninflammatory', 'pretreatment', '日本treatment', 'テキストpatients', 'x²', 'Ⅻcells', 'supercalifragilisticexpialidocious', 'x'.repeat(45), 'treat-' + 'y'.repeat(260), 'z'.repeat(238), 'studies', 'study', 'randomised', 'randomized', 'inflammation',
]
const SPACES = [' ', ' ', ' ', '  ', '\n', '\t', '\u00a0', '\u2003', '\u3000', ' \n\n ']

function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
}

test('matches the word-by-word reference on 20,000 generated texts and queries', () => {
  const r = rng(42)
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!
  let differing = 0
  for (let n = 0; n < 20_000; n++) {
    const words = Array.from({ length: 5 + Math.floor(r() * 200) }, () => pick(VOCABULARY))
    const text = (r() < 0.2 ? pick(SPACES) : '') + words.map((w) => w + pick(SPACES)).join('')
    const terms = new Set(analyze(Array.from({ length: 1 + Math.floor(r() * 6) }, () => pick(VOCABULARY)).join(' ')))
    if (snippet(text, terms) !== reference(text, terms)) differing++
  }
  expect(differing).toBe(0)
})

test('edge cases: only spaces, one long word, terms that are not words, no terms', () => {
  const spaces = ' '.repeat(300)
  expect(snippet(spaces, new Set(['x']))).toBe(reference(spaces, new Set(['x'])))
  const long = 'a'.repeat(500)
  expect(snippet(long, new Set(['aaa']))).toBe(reference(long, new Set(['aaa'])))
  const text = 'lorem ipsum dolor sit amet '.repeat(20) + 'the (a.b)* [c] term appears here ' + 'lorem ipsum '.repeat(20)
  for (const terms of [new Set(['(a.b)*', '[c]', '\\', '']), new Set<string>(), new Set(['term'])]) expect(snippet(text, terms)).toBe(reference(text, terms))
  expect(snippet(text, new Set(['term']))).toContain(' term ')
  // The best window starts at a matching word longer than the window itself.
  const around = 'lorem '.repeat(50) + 'treatment-' + 'y'.repeat(300) + ' ipsum'.repeat(50)
  const treatment = new Set(analyze('treatment'))
  expect(snippet(around, treatment)).toBe(reference(around, treatment))
  expect(snippet(around, treatment)).toBe('…  …')
})
