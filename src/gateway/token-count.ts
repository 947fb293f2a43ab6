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
import o200k from 'js-tiktoken/ranks/o200k_base'

// The pattern's groups only match; as non-capturing groups they allocate nothing per match.
const PATTERN = o200k.pat_str.replaceAll("('s", "(?:'s")
const PRE_TOKEN = new RegExp(PATTERN, 'gu')
const ASCII = /^[\x00-\x7f]*$/
const MEMO_LIMIT = 200_000
const MEMO_MAX_CHARS = 64
const SHORT_PIECE = 24
const memo = new Map<string, number>()
let ranks: Map<string, number> | undefined

/** Byte strings (one char per byte) -> rank. Built on first use: about 0.3 s and 20 MB. */
function rankMap(): Map<string, number> {
  if (ranks) return ranks
  ranks = new Map()
  for (const line of o200k.bpe_ranks.split('\n')) {
    const [, offset, ...tokens] = line.split(' ')
    if (offset === undefined) continue
    const base = Number.parseInt(offset, 10)
    tokens.forEach((token, i) => (ranks as Map<string, number>).set(atob(token), base + i))
  }
  return ranks
}

export function countTokens(text: string): number {
  let total = 0
  PRE_TOKEN.lastIndex = 0
  for (let m = PRE_TOKEN.exec(text); m !== null; m = PRE_TOKEN.exec(text)) total += countPreToken(m[0])
  return total
}

/** The pre-tokens of a text, each with its count: where a hard split may cut. Their counts sum to `countTokens`. */
export function* preTokens(text: string): Generator<{ text: string; tokens: number }> {
  // matchAll iterates a copy of the regex, so countTokens may run between two yields.
  for (const [piece] of text.matchAll(PRE_TOKEN)) yield { text: piece, tokens: countPreToken(piece) }
}

function countPreToken(piece: string): number {
  let n = memo.get(piece)
  if (n !== undefined) return n
  const bytes = ASCII.test(piece) ? piece : byteString(new TextEncoder().encode(piece))
  n = bytePairCount(bytes, rankMap())
  // Long pre-tokens are one-offs (CJK clauses, garbage, prefixes tried by a hard split): not worth keeping. A plain
  // reset bounds memory without LRU bookkeeping on the hot path; the common words come back within a page.
  if (piece.length > MEMO_MAX_CHARS) return n
  if (memo.size >= MEMO_LIMIT) memo.clear()
  memo.set(piece, n)
  return n
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
function bytePairCount(bytes: string, ranks: Map<string, number>): number {
  const n = bytes.length
  if (n <= 1 || ranks.has(bytes)) return Math.min(n, 1)
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
  const pairRank = (i: number): number | undefined => {
    const j = next[i] as number
    if (j >= n) return undefined
    return ranks.get(bytes.slice(i, next[j] as number))
  }
  const offer = (i: number) => {
    const r = pairRank(i)
    if (r !== undefined) heap.push(r, i)
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
function shortBytePairCount(bytes: string, ranks: Map<string, number>): number {
  const starts: number[] = []
  for (let i = 0; i <= bytes.length; i++) starts.push(i)
  for (;;) {
    let best = -1
    let bestRank = Infinity
    for (let k = 0; k + 2 < starts.length; k++) {
      const r = ranks.get(bytes.slice(starts[k] as number, starts[k + 2] as number))
      if (r !== undefined && r < bestRank) {
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
