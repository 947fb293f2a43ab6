import { stemmer } from 'stemmer'
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
  const terms: string[] = []
  for (const match of text.normalize('NFKC').toLowerCase().matchAll(WORD)) {
    const token = match[0]
    if (match[1] !== undefined) {
      pushBigrams(token, terms)
      continue
    }
    if (token.length > MAX_TOKEN_CHARS || STOPWORDS.has(token)) continue
    // The Porter rules are English suffix rules: applied to "naïve" or "αλφα" they only mangle.
    terms.push(ASCII_LETTERS.test(token) ? stem(token) : token)
  }
  return terms
}

/**
 * Porter stems of the words seen, since words repeat (Zipf) and the stemmer runs up to a dozen regular expressions a
 * word: SciFact's 5,183 abstracts analysed in 279–344 ms instead of 597–778 (three passes each, in process). Bounded
 * like the tokenizer's memo, cleared when full: the common words come back within a page.
 */
const stems = new Map<string, string>()
const STEMS_LIMIT = 100_000

function stem(word: string): string {
  let s = stems.get(word)
  if (s !== undefined) return s
  s = stemmer(word)
  if (stems.size >= STEMS_LIMIT) stems.clear()
  stems.set(word, s)
  return s
}

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
