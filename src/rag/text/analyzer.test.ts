import { expect, test } from 'bun:test'
import { stemmer } from 'stemmer'
import { analyze, MAX_TOKEN_CHARS, termFrequencies } from './analyzer.ts'
import { STOPWORDS } from './stopwords.ts'

test.each([
  ['Covid-19 patients were treated', ['covid', '19', 'patient', 'treat']],
  ['IL-6 levels in 1.5 mg doses', ['il', '6', 'level', '1', '5', 'mg', 'dose']],
  ["The patient's T-cells don't respond", ['patient', 'cell', 'respond']],
  ['Vitamin C and hepatitis B', ['vitamin', 'c', 'hepat', 'b']],
  ['Naïve CAFÉ café', ['naïve', 'café', 'café']],
  ['ﬁbrosis', ['fibrosi']],
  ['東京都に住む', ['東京', '京都', '都に', 'に住', '住む']],
  ['猫', ['猫']],
  ['', []],
  ['...!?', []],
])('analyze(%p)', (text, terms) => {
  expect(analyze(text)).toEqual(terms)
})

test('over-long tokens are dropped, not truncated', () => {
  expect(analyze(`ok ${'x'.repeat(MAX_TOKEN_CHARS + 1)} ${'7'.repeat(MAX_TOKEN_CHARS)}`)).toEqual(['ok', '7'.repeat(MAX_TOKEN_CHARS)])
})

test('termFrequencies counts repeats', () => {
  expect(termFrequencies('Cells and cell; the CELL!')).toEqual(new Map([['cell', 3]]))
})

/** What analyze was before the segment scan and the memo: WORD over the whole text, each token on its own. */
function reference(text: string): string[] {
  const WORD = /([\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\u30fc]+)|[[\p{L}\p{M}\p{N}]--[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\u30fc]]+/gv
  const terms: string[] = []
  for (const match of text.normalize('NFKC').toLowerCase().matchAll(WORD)) {
    const token = match[0]
    if (match[1] !== undefined) {
      const chars = [...token]
      if (chars.length === 1) terms.push(token)
      else for (let i = 0; i + 1 < chars.length; i++) terms.push(`${chars[i]}${chars[i + 1]}`)
    } else if (token.length <= MAX_TOKEN_CHARS && !STOPWORDS.has(token)) terms.push(/^[a-z]+$/.test(token) ? stemmer(token) : token)
  }
  return terms
}

test('on 3,000 random texts of words, stop words, digits, accents, CJK, marks and separators: the terms of the reference', () => {
  const pieces = [
    'the', 'The', 'running', 'RUNS', 'cells', 'null', 'a', 'x'.repeat(MAX_TOKEN_CHARS), 'y'.repeat(MAX_TOKEN_CHARS + 1), '19', '1.5',
    'é', 'e\u0301', 'naïve', 'Ǆ', 'ß', 'İ', 'Σ', 'αλφα', 'ﬁ', 'Ⅻ', '½', '٣', '東京', 'に', 'ー', '한국', '😀', '\ud800',
    ' ', '  ', '-', "'", '\n', '\t', '\u00a0', '\u2028', '—', '±', '/', '_', '\u200b', '\u0000',
  ]
  let x = 7
  for (let n = 0; n < 3000; n++) {
    let text = ''
    for (let k = n % 40; k >= 0; k--) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0
      text += pieces[x % pieces.length]
    }
    expect([text, analyze(text)]).toEqual([text, reference(text)])
  }
})
