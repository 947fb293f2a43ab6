import { stemmer } from 'stemmer'
import { RangeMemo } from '../../text/range-memo.ts'
import { STOPWORDS } from './stopwords.ts'

/**
 * Longer "words" are base64, hashes, URLs run together or table garbage: no one searches for them, and each distinct
 * one would add a posting list to the index.
 */
export const MAX_TOKEN_CHARS = 40

// Han and kana are written without spaces, so a letter run there is a whole sentence; those runs are indexed as
// overlapping character bigrams (as Lucene's CJKAnalyzer does) instead of one giant, unmatchable token.
// Marks (\p{M}) stay inside the word so a decomposed "é" does not split it; NFKC below composes most of them anyway.
const WORD = /([\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\u30fc]+)|[[\p{L}\p{M}\p{N}]--[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\u30fc]]+/gv
const ASCII_LETTERS = /^[a-z]+$/

/**
 * Index terms of a text, in order and with repeats: NFKC + lowercase, split at anything that is not a letter, mark
 * or digit ("IL-6" -> "il", "6"; "1.5" -> "1", "5"; "don't" -> "don", "t"), English stop words dropped, Porter
 * stems for plain ASCII words. Query and documents must go through the same function, and changing it means
 * re-indexing.
 *
 * Choices measured with BM25 on SciFact train (nDCG@10, `bun src/rag/text/bm25-check.ts`): one-letter tokens are
 * kept ("hepatitis b", "vitamin c"; +0.002 over dropping them), NLTK's stop list (+0.002 over Lucene's), no
 * stemming costs 0.03. Keeping "il-6" or "1.5" whole as well as, or instead of, the split pieces did not help.
 * @example analyze('Covid-19 patients were treated') // ['covid', '19', 'patient', 'treat']
 */
export function analyze(text: string): string[] {
  const normal = text.normalize('NFKC').toLowerCase()
  const terms: string[] = []
  // No token spans an ASCII character that is not a letter or digit, so the text is taken in segments between
  // those. A segment of ASCII letters and digits is one token, looked up where it stands (RangeMemo) instead of
  // matched, made as a string and hashed; any other segment goes through WORD. SciFact's abstracts: see `words`.
  let start = 0
  let ascii = true
  for (let i = 0; i <= normal.length; i++) {
    const c = i < normal.length ? normal.charCodeAt(i) : 32
    if (c >= 128) {
      ascii = false
      continue
    }
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) continue
    if (i > start) {
      if (!ascii) wordTerms(normal.slice(start, i), terms)
      else {
        const term = termAt(normal, start, i)
        if (term !== '') terms.push(term)
      }
    }
    start = i + 1
    ascii = true
  }
  return terms
}

/** The terms of WORD's tokens in `segment`, appended to `terms`. */
function wordTerms(segment: string, terms: string[]): void {
  for (const match of segment.matchAll(WORD)) {
    const token = match[0]
    if (match[1] !== undefined) pushBigrams(token, terms)
    else {
      const term = termAt(token, 0, token.length)
      if (term !== '') terms.push(term)
    }
  }
}

/** The index term of the word `text[start, end)`, '' for none (too long to index, or a stop word). */
function termAt(text: string, start: number, end: number): string {
  return end - start > MAX_TOKEN_CHARS ? '' : words.get(text, start, end)
}

/**
 * Index terms by word: '' for a stop word, a Porter stem for a plain ASCII word (the rules are English suffix rules:
 * applied to "naïve" or "αλφα" they only mangle), the word itself otherwise. The stemmer runs up to a dozen regular
 * expressions a word and words repeat, so they are kept. SciFact's 5,183 abstracts, in process: 597–778 ms as the
 * split and stemmer alone, 279–344 with a Map of stems; with the segment scan and this memo, a median of 258–264 ms
 * against 426–510 for the Map of stems (two runs of eight interleaved rounds each).
 */
const words = new RangeMemo<string>(1 << 16, (word) => (STOPWORDS.has(word) ? '' : ASCII_LETTERS.test(word) ? stemmer(word) : word))

/** Term -> count, the per-document input of a BM25 index. */
export function termFrequencies(text: string): Map<string, number> {
  const tf = new Map<string, number>()
  for (const term of analyze(text)) tf.set(term, (tf.get(term) ?? 0) + 1)
  return tf
}

function pushBigrams(run: string, out: string[]): void {
  const chars = [...run]
  if (chars.length === 1) {
    out.push(run)
    return
  }
  for (let i = 0; i + 1 < chars.length; i++) out.push(`${chars[i]}${chars[i + 1]}`)
}
