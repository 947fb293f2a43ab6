import { describe, expect, test } from 'bun:test'
import { countTokens as gatewayCount } from '../../gateway/tokens.ts'
import { type Chunk, chunkSections, DEFAULT_CHUNK_OPTIONS, type Section } from './chunker.ts'
import { countTokens } from '../../gateway/token-count.ts'

/** Deterministic pseudo-random text: a small LCG so failures reproduce. */
function prose(seed: number, sentences: number, prefix = ''): string {
  let x = seed
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n
  }
  const vocab = ['cell', 'protein', 'binds', 'the', 'receptor', 'in', 'vivo', 'mice', 'showed', 'increased', 'IL-6', 'levels', '(p<0.05)', 'and', 'reduced', 'tumour', 'growth', 'by', '37%', 'über', 'naïve']
  const out: string[] = []
  for (let s = 0; s < sentences; s++) {
    const words = Array.from({ length: 4 + rnd(30) }, () => prefix + (vocab[rnd(vocab.length)] as string))
    const sentence = words.join(' ')
    // Capitalised unless prefixed: a sentence break needs a next sentence that does not start in lower case.
    out.push(`${prefix ? sentence : sentence[0]?.toUpperCase() + sentence.slice(1)}${['.', '!', '?'][rnd(3)]}`)
  }
  return out.join(' ')
}

const words = (s: string) => s.split(/\s+/).filter((w) => w !== '')

/** The longest suffix of `a` that starts `b`: the overlap the chunker carried over. */
function carried(a: string, b: string): string {
  for (let k = Math.min(a.length, b.length); k > 0; k--) if (a.endsWith(b.slice(0, k))) return b.slice(0, k)
  return ''
}

function expectWithinLimit(chunks: Chunk[], limit: number) {
  for (const c of chunks) {
    expect(c.tokens).toBeLessThanOrEqual(limit)
    expect(c.text.trim()).not.toBe('')
    expect(c.text).toBe(c.text.trim())
  }
}

describe('sizes', () => {
  test('never above chunkTokens, and tokens is the exact o200k count of the text', () => {
    const sections: Section[] = [
      { text: [prose(1, 40), prose(2, 3), prose(3, 90)].join('\n\n'), heading: 'A' },
      { text: `Table\n${Array.from({ length: 80 }, (_, i) => `row ${i} | ${prose(i, 1)}`).join('\n')}`, sheet: 'S', rows: [1, 80] },
    ]
    for (const [chunkTokens, overlapTokens] of [[300, 50], [64, 16], [20, 0], [8, 3]] as const) {
      const chunks = chunkSections(sections, { chunkTokens, overlapTokens })
      expect(chunks.length).toBeGreaterThan(1)
      expectWithinLimit(chunks, chunkTokens)
      for (const c of chunks) expect(c.tokens).toBe(gatewayCount(c.text))
      expect(chunks.map((c) => c.index)).toEqual(chunks.map((_, i) => i))
    }
  })

  test('defaults are 300 / 50', () => {
    expect(DEFAULT_CHUNK_OPTIONS).toEqual({ chunkTokens: 300, overlapTokens: 50 })
    const chunks = chunkSections([{ text: prose(7, 200) }])
    expectWithinLimit(chunks, 300)
    // Greedy packing fills chunks: a sentence here is at most ~100 tokens, so all but the last are over 200.
    for (const c of chunks.slice(0, -1)) expect(c.tokens).toBeGreaterThan(200)
  })

  test('invalid options are refused', () => {
    expect(() => chunkSections([], { chunkTokens: 0, overlapTokens: 0 })).toThrow(RangeError)
    expect(() => chunkSections([], { chunkTokens: 100, overlapTokens: 100 })).toThrow(RangeError)
    expect(() => chunkSections([], { chunkTokens: 100.5, overlapTokens: 1 })).toThrow(RangeError)
  })
})

describe('overlap', () => {
  test('each next chunk of a section starts with at most overlapTokens of the previous one, in whole sentences when they fit', () => {
    const chunks = chunkSections([{ text: prose(11, 120) }], { chunkTokens: 120, overlapTokens: 40 })
    expect(chunks.length).toBeGreaterThan(3)
    for (let i = 1; i < chunks.length; i++) {
      const prev = (chunks[i - 1] as Chunk).text
      const next = (chunks[i] as Chunk).text
      const overlap = carried(prev, next)
      expect(overlap.length).toBeGreaterThan(0)
      expect(countTokens(overlap)).toBeLessThanOrEqual(40)
      // Starts at a word boundary of the previous chunk.
      expect(prev.length === overlap.length || prev[prev.length - overlap.length - 1] === ' ').toBe(true)
    }
    // Sentences are at most 34 words here; some carried overlaps are whole sentences.
    expect(chunks.slice(1).some((c, i) => /[.!?]$/.test(carried((chunks[i] as Chunk).text, c.text)))).toBe(true)
  })

  test('no overlap across sections with different headings', () => {
    const chunks = chunkSections([{ text: prose(1, 30, 'a'), heading: 'One' }, { text: prose(2, 30, 'b'), heading: 'Two' }], { chunkTokens: 100, overlapTokens: 40 })
    const firstTwo = chunks.findIndex((c) => c.heading === 'Two')
    expect(words((chunks[firstTwo] as Chunk).text).every((w) => w.startsWith('b'))).toBe(true)
  })
})

describe('structure', () => {
  test('headings, pages and sheets are kept and never mixed in one chunk', () => {
    const sections: Section[] = [
      { text: prose(1, 12, 'a'), heading: 'Intro', page: 1 },
      { text: prose(2, 2, 'b'), heading: 'Intro', page: 2 },
      { text: prose(3, 25, 'c'), heading: 'Methods', page: 2 },
      { text: prose(4, 1, 'd'), sheet: 'Data', rows: [2, 9] },
      { text: prose(5, 1, 'e'), sheet: 'Other', rows: [2, 3] },
    ]
    const meta = { a: ['Intro', 1, undefined], b: ['Intro', 2, undefined], c: ['Methods', 2, undefined], d: [undefined, undefined, 'Data'], e: [undefined, undefined, 'Other'] }
    const chunks = chunkSections(sections, { chunkTokens: 60, overlapTokens: 20 })
    for (const c of chunks) {
      const prefixes = new Set(words(c.text).map((w) => w[0] as keyof typeof meta))
      expect(prefixes.size).toBe(1)
      const [p] = prefixes
      expect([c.heading, c.page, c.sheet]).toEqual(meta[p as keyof typeof meta])
    }
    expect(chunks.filter((c) => c.sheet === 'Data').every((c) => c.rows?.[0] === 2 && c.rows[1] === 9)).toBe(true)
    expect(chunks.filter((c) => c.page === undefined).every((c) => !('page' in c))).toBe(true)
  })

  test('consecutive sections with the same heading and page are packed together; rows span the sections used', () => {
    const chunks = chunkSections(
      [
        { text: 'Alpha one. Alpha two.', sheet: 'S', rows: [1, 10] },
        { text: 'Beta one.', sheet: 'S', rows: [11, 20] },
      ],
      DEFAULT_CHUNK_OPTIONS,
    )
    expect(chunks).toEqual([{ index: 0, text: 'Alpha one. Alpha two.\n\nBeta one.', tokens: countTokens('Alpha one. Alpha two.\n\nBeta one.'), sheet: 'S', rows: [1, 20] }])
  })

  test('paragraph breaks are preferred: small paragraphs are not cut', () => {
    const paras = Array.from({ length: 12 }, (_, i) => prose(100 + i, 2))
    const chunks = chunkSections([{ text: paras.join('\n\n') }], { chunkTokens: 200, overlapTokens: 0 })
    for (const c of chunks) for (const part of c.text.split('\n\n')) expect(paras).toContain(part)
  })

  test('table rows (lines) stay whole when a block is too big', () => {
    const rows = Array.from({ length: 60 }, (_, i) => `r${i} | 12.5 | 7 | ok`)
    const chunks = chunkSections([{ text: rows.join('\n'), sheet: 'T' }], { chunkTokens: 50, overlapTokens: 0 })
    expect(chunks.length).toBeGreaterThan(3)
    for (const c of chunks) for (const line of c.text.split('\n')) expect(rows).toContain(line)
  })
})

describe('hard cases', () => {
  test('a 10,000-word paragraph without punctuation', () => {
    const text = Array.from({ length: 10_000 }, (_, i) => `word${i % 613}`).join(' ')
    const chunks = chunkSections([{ text }], { chunkTokens: 300, overlapTokens: 0 })
    expectWithinLimit(chunks, 300)
    expect(chunks.flatMap((c) => words(c.text))).toEqual(words(text))
    const overlapped = chunkSections([{ text }], DEFAULT_CHUNK_OPTIONS)
    expectWithinLimit(overlapped, 300)
    for (let i = 1; i < overlapped.length; i++) expect(countTokens(carried((overlapped[i - 1] as Chunk).text, (overlapped[i] as Chunk).text))).toBeGreaterThan(30)
  })

  test('CJK without spaces or punctuation, and with full stops', () => {
    const han = '中华人民共和国是一个位于东亚的国家首都北京人口众多历史悠久文化灿烂'
    const text = Array.from({ length: 3_000 }, (_, i) => han[(i * 7) % han.length]).join('')
    const chunks = chunkSections([{ text }], { chunkTokens: 100, overlapTokens: 0 })
    expectWithinLimit(chunks, 100)
    expect(chunks.map((c) => c.text).join('')).toBe(text)
    const withStops = chunkSections([{ text: '我是学生。'.repeat(200) }], { chunkTokens: 50, overlapTokens: 10 })
    expectWithinLimit(withStops, 50)
    for (const c of withStops) expect(c.text.endsWith('。')).toBe(true)
  })

  test('one monstrous token run is cut at hard token boundaries', () => {
    const text = `before ${'a'.repeat(20_000)} after`
    const chunks = chunkSections([{ text }], { chunkTokens: 64, overlapTokens: 0 })
    expectWithinLimit(chunks, 64)
    expect(chunks.map((c) => c.text).join('').replaceAll(' ', '')).toBe(text.replaceAll(' ', ''))
  })

  test('empty and whitespace-only input', () => {
    expect(chunkSections([], DEFAULT_CHUNK_OPTIONS)).toEqual([])
    expect(chunkSections([{ text: '' }, { text: ' \n\n\t \r\n ', heading: 'H' }], DEFAULT_CHUNK_OPTIONS)).toEqual([])
  })

  test('whitespace is normalised', () => {
    const [c] = chunkSections([{ text: '  One\t two \u00a0 three.\r\n\r\n\r\n  Four\u0000five  \nsix  ' }], DEFAULT_CHUNK_OPTIONS)
    expect(c?.text).toBe('One two three.\n\nFour five\nsix')
  })
})

test('deterministic', () => {
  const sections: Section[] = [{ text: prose(5, 80), heading: 'H', page: 3 }, { text: prose(6, 40), page: 4 }]
  const opts = { chunkTokens: 90, overlapTokens: 30 }
  expect(chunkSections(sections, opts)).toEqual(chunkSections(sections, opts))
})

test('with no overlap, every original word appears once and in order', () => {
  const sections: Section[] = [
    { text: [prose(21, 30), prose(22, 1), prose(23, 60)].join('\n\n'), heading: 'A' },
    { text: prose(24, 50), heading: 'B' },
  ]
  for (const chunkTokens of [300, 40, 9]) {
    const chunks = chunkSections(sections, { chunkTokens, overlapTokens: 0 })
    expect(chunks.flatMap((c) => words(c.text))).toEqual(sections.flatMap((s) => words(s.text)))
  }
})

test('code points of several tokens: never split, and an overlap budget below one gives no overlap', () => {
  // 𓀀 (U+13000) is 4 tokens, and 4 per code point is the most there can be.
  const text = '𓀀'.repeat(40)
  expect(countTokens('𓀀')).toBe(4)
  const chunks = chunkSections([{ text }], { chunkTokens: 9, overlapTokens: 3 })
  expectWithinLimit(chunks, 9)
  expect(chunks.map((c) => c.text).join('')).toBe(text)
  expect(chunkSections([{ text }], { chunkTokens: 4, overlapTokens: 0 })).toHaveLength(40)
})
