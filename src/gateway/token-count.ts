/**
 * o200k token counts, equal to js-tiktoken's (special-token text counted as text), for the gateway's estimates and
 * for chunking whole document sets. js-tiktoken itself is too slow for either: it builds the o200k regex on every call and merges byte
 * pairs by re-joining arrays, quadratic in the length of a pre-token: counting SciFact (7.7 M chars) takes 3.1 s,
 * 1,000 CJK characters without a space take 1 s and 10,000 'a's take 10 s. Here the pre-token split is the same
 * regex, counts are memoised per pre-token (natural text repeats its words), and a miss runs BPE on a byte string
 * with a heap, O(n log n). Same ranks, same merge order (lowest rank, then leftmost), so the same counts: the test
 * compares both on real text. On the gateway the quadratic case was a denial of service: one prompt of 20,000 'a's
 * held the event loop for tens of seconds.
 */

import { RangeMemo } from '../text/range-memo.ts'

interface Encoding {
  pat_str: string
  bpe_ranks: string
}
let o200k: Encoding | undefined
let preTokenPattern: RegExp | undefined

/**
 * js-tiktoken's o200k module (2.3 MB of source, 7 MB resident) is loaded on first use, synchronously, so a server
 * that counts no tokens never holds it; the first count pays ~20 ms for the module and ~60 ms for the rank table.
 */
function encoding(): Encoding {
  if (!o200k) {
    // The CommonJS build (what require resolves to) exports the object itself; the ES module has it as default.
    const loaded = require('js-tiktoken/ranks/o200k_base') as Encoding & { default?: Encoding }
    o200k = loaded.default ?? loaded
  }
  return o200k
}

/** The pre-token split; its groups only match, so as non-capturing groups they allocate nothing per match. */
function preTokenRegex(): RegExp {
  preTokenPattern ??= new RegExp(encoding().pat_str.replaceAll("('s", "(?:'s"), 'gu')
  return preTokenPattern
}
const ASCII = /^[\x00-\x7f]*$/
const MEMO_MAX_CHARS = 64
const SHORT_PIECE = 24

/**
 * Pre-token counts, looked up where the pre-token stands in the text being counted (RangeMemo): a Map keyed by the
 * matched pieces cost 0.2 µs a lookup, more than the split itself (SciFact's 1.4 M pre-tokens: split 90 ms, split and
 * Map 370 ms, in process). With the sticky split below, counting SciFact's abstracts went from a median of 343 ms to
 * 170 (eight interleaved rounds each, in process). Long pre-tokens are one-offs (CJK clauses, garbage, prefixes
 * tried by a hard split): counted, not kept.
 */
const pieces = new RangeMemo<number>(1 << 17, countPreToken)
const countRange = (text: string, start: number, end: number): number =>
  end - start > MEMO_MAX_CHARS ? countPreToken(text.slice(start, end)) : pieces.get(text, start, end)

/**
 * The o200k ranks, looked up by a byte string's slice without making the slice: token bytes in one array, a rank
 * per token, and an open-addressing hash table of token numbers. About 5 MB, built in ~60 ms; a Map of 200,000
 * strings (what this replaced) took 45 MB of resident memory and 150 ms, and its 400,000 heap objects made every
 * full garbage collection of the server walk them (`bun bench/footprint.ts`).
 */
class RankTable {
  readonly #bytes: Uint8Array
  /** Token i's bytes are #bytes[#starts[i] .. #starts[i + 1]). */
  readonly #starts: Uint32Array
  readonly #ranks: Int32Array
  /** Token number + 1 per slot, 0 when empty. */
  readonly #slots: Int32Array
  readonly #mask: number

  constructor(encoded: string) {
    // Lines of `<ignored> <first rank> <base64 token> <base64 token> ...`, scanned in place: splitting them made
    // 200,000 short-lived strings, whose heap the process kept afterwards.
    let count = 0
    let size = 0
    forEachToken(encoded, (from, to) => {
      count++
      size += base64Length(encoded, from, to)
    })
    this.#bytes = new Uint8Array(size)
    this.#starts = new Uint32Array(count + 1)
    this.#ranks = new Int32Array(count)
    let capacity = 1
    while (capacity < count * 2) capacity *= 2
    this.#slots = new Int32Array(capacity)
    this.#mask = capacity - 1
    let token = 0
    let at = 0
    forEachToken(encoded, (from, to, rank) => {
      const start = at
      this.#starts[token] = start
      at = decodeBase64(encoded, from, to, this.#bytes, at)
      this.#ranks[token] = rank
      this.#insert(token, start, at)
      token++
    })
    this.#starts[token] = at
  }

  #insert(token: number, start: number, end: number): void {
    let h = 0x811c9dc5
    for (let i = start; i < end; i++) h = Math.imul(h ^ (this.#bytes[i] as number), 0x01000193)
    let slot = h & this.#mask
    while (this.#slots[slot] !== 0) slot = (slot + 1) & this.#mask
    this.#slots[slot] = token + 1
  }

  /** The rank of the token whose bytes are `text`'s chars [start, end) (one char per byte), or -1. */
  rank(text: string, start: number, end: number): number {
    let h = 0x811c9dc5
    for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
    const length = end - start
    for (let slot = h & this.#mask; ; slot = (slot + 1) & this.#mask) {
      const entry = this.#slots[slot] as number
      if (entry === 0) return -1
      const token = entry - 1
      const from = this.#starts[token] as number
      if ((this.#starts[token + 1] as number) - from !== length) continue
      let i = 0
      while (i < length && this.#bytes[from + i] === text.charCodeAt(start + i)) i++
      if (i === length) return this.#ranks[token] as number
    }
  }
}

const BASE64 = new Int8Array(128).fill(-1)
for (let i = 0; i < 64; i++) BASE64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i

/** Calls `fn` with each token's base64 text (`encoded` from `from` to `to`) and its rank. */
function forEachToken(encoded: string, fn: (from: number, to: number, rank: number) => void): void {
  for (let line = 0; line < encoded.length; ) {
    let end = encoded.indexOf('\n', line)
    if (end < 0) end = encoded.length
    const first = encoded.indexOf(' ', line)
    const second = first < 0 || first >= end ? -1 : encoded.indexOf(' ', first + 1)
    if (second >= 0 && second < end) {
      let rank = Number.parseInt(encoded.slice(first + 1, second), 10)
      for (let from = second + 1; from < end; ) {
        let to = encoded.indexOf(' ', from)
        if (to < 0 || to > end) to = end
        if (to > from) fn(from, to, rank++)
        from = to + 1
      }
    }
    line = end + 1
  }
}

function base64Length(s: string, from: number, to: number): number {
  let pad = 0
  while (to - pad > from && s.charCodeAt(to - 1 - pad) === 61) pad++
  return ((to - from - pad) * 3) >> 2
}

/** Decodes standard base64 (`s` from `from` to `to`) into `out` at `at`; returns the offset after the last byte. */
function decodeBase64(s: string, from: number, to: number, out: Uint8Array, at: number): number {
  let bits = 0
  let value = 0
  for (let i = from; i < to; i++) {
    const d = BASE64[s.charCodeAt(i)] ?? -1
    if (d < 0) continue
    value = ((value << 6) | d) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[at++] = (value >> bits) & 0xff
    }
  }
  return at
}

let table: RankTable | undefined

/** Built on first use (see RankTable). */
function ranks(): RankTable {
  table ??= new RankTable(encoding().bpe_ranks)
  return table
}

/**
 * Whole short texts and their counts: a system prompt, a tool list or a chatbot's template repeats on every request,
 * and looking one up costs a fraction of splitting it again. Small (at most 1,000 texts of 2,048 characters) and
 * cleared when full, like the pre-token memo.
 */
const textMemo = new Map<string, number>()
const TEXT_MEMO_LIMIT = 1_000
const TEXT_MEMO_MAX_CHARS = 2_048

export function countTokens(text: string): number {
  if (text.length > TEXT_MEMO_MAX_CHARS) return countPieces(text)
  let n = textMemo.get(text)
  if (n !== undefined) return n
  n = countPieces(text)
  if (textMemo.size >= TEXT_MEMO_LIMIT) textMemo.clear()
  textMemo.set(text, n)
  return n
}

/**
 * Sticky: the pre-tokens cover the text, each starting where the last ended (every character is a letter, a
 * number, a space or something else, and each of those starts a match), so `test` finds them in turn and gives
 * their ends without building a match array (SciFact: see `pieces`).
 */
function stickyPreTokenRegex(): RegExp {
  stickyPattern ??= new RegExp(preTokenRegex().source, 'uy')
  return stickyPattern
}
let stickyPattern: RegExp | undefined

function countPieces(text: string): number {
  let total = 0
  const sticky = stickyPreTokenRegex()
  let at = 0
  sticky.lastIndex = 0
  while (at < text.length && sticky.test(text)) {
    // The match's place, not its text: looked up where it stands.
    total += countRange(text, at, sticky.lastIndex)
    at = sticky.lastIndex
  }
  if (at < text.length) {
    // Not expected (see above); should a character ever start no match, the rest is split the general way.
    const split = preTokenRegex()
    split.lastIndex = at
    for (let m = split.exec(text); m !== null; m = split.exec(text)) total += countRange(text, m.index, split.lastIndex)
  }
  return total
}

/** The pre-tokens of a text, each with its count: where a hard split may cut. Their counts sum to `countTokens`. */
export function* preTokens(text: string): Generator<{ text: string; tokens: number }> {
  // matchAll iterates a copy of the regex, so countTokens may run between two yields.
  for (const [piece] of text.matchAll(preTokenRegex())) yield { text: piece, tokens: countRange(piece, 0, piece.length) }
}

/** A pre-token's count by byte-pair merging (`pieces` keeps them). */
function countPreToken(piece: string): number {
  return bytePairCount(ASCII.test(piece) ? piece : byteString(new TextEncoder().encode(piece)), ranks())
}

function byteString(bytes: Uint8Array): string {
  let out = ''
  // Spreading a whole megabyte into one call would overflow the argument limit.
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192))
  return out
}

/**
 * Number of parts tiktoken's byte-pair merge leaves: repeatedly merge the adjacent pair whose bytes form the
 * lowest-ranked token, leftmost first on ties. Parts are a linked list over byte offsets; the heap holds candidate
 * pairs keyed by (rank, left offset) and stale entries are skipped when popped.
 */
function bytePairCount(bytes: string, ranks: RankTable): number {
  const n = bytes.length
  if (n <= 1 || ranks.rank(bytes, 0, n) >= 0) return Math.min(n, 1)
  if (n <= SHORT_PIECE) return shortBytePairCount(bytes, ranks)
  // next[i]: start of the part after the part starting at i (n at the end); prev likewise; alive marks part starts.
  const next = new Int32Array(n)
  const prev = new Int32Array(n)
  const alive = new Uint8Array(n).fill(1)
  for (let i = 0; i < n; i++) {
    next[i] = i + 1
    prev[i] = i - 1
  }
  const heap = new PairHeap()
  const pairRank = (i: number): number => {
    const j = next[i] as number
    if (j >= n) return -1
    return ranks.rank(bytes, i, next[j] as number)
  }
  const offer = (i: number) => {
    const r = pairRank(i)
    if (r >= 0) heap.push(r, i)
  }
  for (let i = 0; i + 1 < n; i++) offer(i)
  let parts = n
  for (let top = heap.pop(); top; top = heap.pop()) {
    const [rank, i] = top
    // Stale: the left part was merged away, or it has grown or its neighbour changed since this pair was offered.
    if (!alive[i] || pairRank(i) !== rank) continue
    const j = next[i] as number
    alive[j] = 0
    next[i] = next[j] as number
    if ((next[j] as number) < n) prev[next[j] as number] = i
    parts--
    const p = prev[i] as number
    if (p >= 0) offer(p)
    offer(i)
  }
  return parts
}

/** The same merge by scanning all pairs each round: quadratic, but cheaper than the heap for a word. */
function shortBytePairCount(bytes: string, ranks: RankTable): number {
  const starts: number[] = []
  for (let i = 0; i <= bytes.length; i++) starts.push(i)
  for (;;) {
    let best = -1
    let bestRank = Infinity
    for (let k = 0; k + 2 < starts.length; k++) {
      const r = ranks.rank(bytes, starts[k] as number, starts[k + 2] as number)
      if (r >= 0 && r < bestRank) {
        bestRank = r
        best = k
      }
    }
    if (best < 0) return starts.length - 1
    starts.splice(best + 1, 1)
  }
}

/** Binary min-heap of (rank, offset) pairs. */
class PairHeap {
  #ranks: number[] = []
  #offsets: number[] = []

  push(rank: number, offset: number): void {
    const r = this.#ranks
    const o = this.#offsets
    let i = r.length
    r.push(rank)
    o.push(offset)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#less(i, parent)) break
      this.#swap(i, parent)
      i = parent
    }
  }

  pop(): [number, number] | undefined {
    const r = this.#ranks
    const o = this.#offsets
    if (r.length === 0) return undefined
    const top: [number, number] = [r[0] as number, o[0] as number]
    const lastRank = r.pop() as number
    const lastOffset = o.pop() as number
    if (r.length > 0) {
      r[0] = lastRank
      o[0] = lastOffset
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let least = i
        if (left < r.length && this.#less(left, least)) least = left
        if (right < r.length && this.#less(right, least)) least = right
        if (least === i) break
        this.#swap(i, least)
        i = least
      }
    }
    return top
  }

  #less(a: number, b: number): boolean {
    const ra = this.#ranks[a] as number
    const rb = this.#ranks[b] as number
    return ra < rb || (ra === rb && (this.#offsets[a] as number) < (this.#offsets[b] as number))
  }

  #swap(a: number, b: number): void {
    const r = this.#ranks
    const o = this.#offsets
    ;[r[a], r[b]] = [r[b] as number, r[a] as number]
    ;[o[a], o[b]] = [o[b] as number, o[a] as number]
  }
}
