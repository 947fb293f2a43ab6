import { countTokens, preTokens } from '../../gateway/token-count.ts'

/** What an extractor yields; the same shape as the extractor's own type, kept structural so neither imports the other. */
export interface Section {
  text: string
  heading?: string
  page?: number
  sheet?: string
  rows?: [number, number]
}

export interface Chunk {
  index: number
  text: string
  /** o200k tokens of `text`, never above `chunkTokens`. */
  tokens: number
  heading?: string
  page?: number
  sheet?: string
  /** First and last row of the sections the chunk's text came from. */
  rows?: [number, number]
}

export interface ChunkOptions {
  chunkTokens: number
  /** Tokens of the previous chunk repeated at the start of the next one in the same section; < chunkTokens. */
  overlapTokens: number
}

export const DEFAULT_CHUNK_OPTIONS: ChunkOptions = { chunkTokens: 300, overlapTokens: 50 }

/** The normalised whitespace that preceded a piece in its section. */
type Sep = '' | ' ' | '\n' | '\n\n'

interface Piece {
  text: string
  sep: Sep
  tokens: number
  section: number
}

/**
 * Splits extracted sections into chunks of at most `chunkTokens` o200k tokens, exactly: a chunk's text is counted
 * once more after packing and trimmed if the joins cost more than the pieces' sum.
 *
 * Structure first: consecutive sections with the same heading, page and sheet are one stream; a chunk never spans
 * two streams. Within a stream the text splits at paragraphs (blank lines), and only a piece that is too big splits
 * further, at sentences, then lines (table rows, list items), then words, then pre-token (and at worst code point)
 * boundaries. Consecutive pieces are packed greedily. Each chunk after the first in a stream starts with the last
 * pieces of the previous chunk, up to `overlapTokens`: whole pieces when they fit, else the trailing sentences or
 * words of the last one. Whitespace is normalised (runs of spaces to one, blank-line runs to one paragraph break),
 * so with no overlap the chunks of a stream, joined, give its normalised text back.
 * @example chunkSections([{ text: 'Intro…', heading: 'Intro' }], DEFAULT_CHUNK_OPTIONS)
 */
export function chunkSections(sections: readonly Section[], opts: ChunkOptions = DEFAULT_CHUNK_OPTIONS): Chunk[] {
  const { chunkTokens, overlapTokens } = opts
  // One code point is at most 4 UTF-8 bytes, so at most 4 tokens: below that a chunk could not always hold one.
  if (!Number.isInteger(chunkTokens) || chunkTokens < 4) throw new RangeError(`chunkTokens must be an integer >= 4, got ${chunkTokens}`)
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens >= chunkTokens)
    throw new RangeError(`overlapTokens must be an integer in [0, chunkTokens), got ${overlapTokens}`)

  const chunks: Chunk[] = []
  let stream: Piece[] = []
  let streamKey: string | undefined
  const flush = () => {
    if (stream.length > 0) packStream(stream, sections, opts, chunks)
    stream = []
  }
  sections.forEach((section, s) => {
    const key = JSON.stringify([section.heading ?? null, section.page ?? null, section.sheet ?? null])
    if (key !== streamKey) flush()
    streamKey = key
    for (const paragraph of paragraphs(section.text)) {
      splitToFit(paragraph, stream.length === 0 ? '' : '\n\n', SENTENCES, chunkTokens, s, stream)
    }
  })
  flush()
  return chunks
}

function packStream(pieces: readonly Piece[], sections: readonly Section[], opts: ChunkOptions, out: Chunk[]): void {
  const limit = opts.chunkTokens
  let next = 0
  let overlap: Piece[] = []
  while (next < pieces.length) {
    const chunk = [...overlap]
    let carried = overlap.length
    let estimate = estimateTokens(chunk)
    const first = pieces[next] as Piece
    // Overlap yields to progress: the next new piece always gets in, even if that leaves no room for any overlap.
    while (carried > 0 && estimate + joinCost(first) + first.tokens > limit) {
      chunk.shift()
      carried--
      estimate = estimateTokens(chunk)
    }
    for (let p = pieces[next]; p && estimate + (chunk.length ? joinCost(p) : 0) + p.tokens <= limit; p = pieces[next]) {
      estimate += (chunk.length ? joinCost(p) : 0) + p.tokens
      chunk.push(p)
      next++
    }
    // Pieces were counted alone; a join can merge or add tokens (".\n\n" is one token), so count the real text.
    let text = joinPieces(chunk)
    let tokens = chunk.length === 1 ? (chunk[0] as Piece).tokens : countTokens(text)
    while (tokens > limit && chunk.length > 1) {
      if (chunk.length - carried > 1) {
        chunk.pop()
        next--
      } else {
        chunk.shift()
        carried--
      }
      text = joinPieces(chunk)
      tokens = countTokens(text)
    }
    out.push(describe(out.length, text, tokens, chunk, sections))
    overlap = next < pieces.length && opts.overlapTokens > 0 ? tail(chunk, opts.overlapTokens) : []
  }
}

/** The last pieces of a chunk worth at most `budget` tokens, refining the last piece when even it is too big. */
function tail(chunk: readonly Piece[], budget: number, refine = true): Piece[] {
  const picked: Piece[] = []
  let estimate = 0
  for (let i = chunk.length - 1; i >= 0; i--) {
    const p = chunk[i] as Piece
    const cost = p.tokens + (picked.length ? joinCost(picked[0] as Piece) : 0)
    if (estimate + cost > budget) {
      if (picked.length === 0 && refine) {
        const finer: Piece[] = []
        splitToFit(p.text, p.sep, SENTENCES, budget, p.section, finer)
        // Once only: with a budget under 4 tokens a single code point may still not fit, and then there is no overlap.
        return tail(finer, budget, false)
      }
      break
    }
    picked.unshift(p)
    estimate += cost
  }
  while (picked.length > 1 && countTokens(joinPieces(picked)) > budget) picked.shift()
  return picked
}

function describe(index: number, text: string, tokens: number, pieces: readonly Piece[], sections: readonly Section[]): Chunk {
  const section = sections[(pieces[0] as Piece).section] as Section
  const chunk: Chunk = { index, text, tokens }
  if (section.heading !== undefined) chunk.heading = section.heading
  if (section.page !== undefined) chunk.page = section.page
  if (section.sheet !== undefined) chunk.sheet = section.sheet
  let rows: [number, number] | undefined
  for (const p of pieces) {
    const r = sections[p.section]?.rows
    if (r) rows = rows ? [Math.min(rows[0], r[0]), Math.max(rows[1], r[1])] : [r[0], r[1]]
  }
  if (rows) chunk.rows = rows
  return chunk
}

function joinPieces(pieces: readonly Piece[]): string {
  let text = ''
  pieces.forEach((p, i) => (text += i === 0 ? p.text : p.sep + p.text))
  return text
}

/** A newline is a token of its own next to most text; a space merges into the following word. */
function joinCost(p: Piece): number {
  return p.sep === '\n' || p.sep === '\n\n' ? 1 : 0
}

function estimateTokens(pieces: readonly Piece[]): number {
  let sum = 0
  pieces.forEach((p, i) => (sum += p.tokens + (i === 0 ? 0 : joinCost(p))))
  return sum
}

// ---- splitting ----

const SENTENCES = 0
const LINES = 1
const WORDS = 2
const HARD = 3

/**
 * Appends `text` as one piece if it fits in `limit`, else as the pieces of the next finer split that does. Every
 * piece ends up within `limit` on its own, so a chunk can always take at least one.
 */
function splitToFit(text: string, sep: Sep, level: number, limit: number, section: number, out: Piece[], tokens?: number): void {
  const n = tokens ?? countTokens(text)
  if (n <= limit) {
    out.push({ text, sep, tokens: n, section })
    return
  }
  if (level >= HARD) {
    hardSplit(text, sep, limit, section, out)
    return
  }
  const parts = level === SENTENCES ? sentences(text) : splitOn(text, level === LINES ? '\n' : ' ')
  if (parts.length <= 1) {
    splitToFit(text, sep, level + 1, limit, section, out, n)
    return
  }
  parts.forEach((part, i) => splitToFit(part.text, i === 0 ? sep : part.sep, level + 1, limit, section, out))
}

// A sentence ends at . ! ? or … (with any closing quotes or brackets) when whitespace and something other than a
// lower-case letter follow ("e.g. this" stays whole), or right after a CJK full stop, which needs no space.
const SENTENCE_END = /[.!?…]+[\p{Pe}\p{Pf}"']*(?=[ \n](?!\p{Ll}))|[。！？]+[\p{Pe}\p{Pf}"']*/gu

function sentences(text: string): { text: string; sep: Sep }[] {
  const parts: { text: string; sep: Sep }[] = []
  let start = 0
  let sep: Sep = ''
  for (const m of text.matchAll(SENTENCE_END)) {
    const end = m.index + m[0].length
    if (end > start) parts.push({ text: text.slice(start, end), sep })
    const after = text[end]
    sep = after === ' ' || after === '\n' ? after : ''
    start = end + sep.length
  }
  if (start < text.length) parts.push({ text: text.slice(start), sep })
  return parts
}

function splitOn(text: string, sep: ' ' | '\n'): { text: string; sep: Sep }[] {
  return text.split(sep).map((t) => ({ text: t, sep }))
}

/**
 * Packs a run with no usable break by its pre-tokens (tiktoken's own word-level split), cutting a pre-token that is
 * alone over the limit at code points.
 */
function hardSplit(text: string, sep: Sep, limit: number, section: number, out: Piece[]): void {
  let current = ''
  let currentTokens = 0
  let currentSep = sep
  const emit = () => {
    if (current === '') return
    // Joined pre-tokens can count differently from their sum; the rare piece that comes out over is cut again.
    const n = countTokens(current)
    if (n <= limit) out.push({ text: current, sep: currentSep, tokens: n, section })
    else codePointSlices(current, n, limit).forEach((s, k) => out.push({ text: s.text, sep: k === 0 ? currentSep : '', tokens: s.tokens, section }))
    current = ''
    currentTokens = 0
    currentSep = ''
  }
  for (const pre of preTokens(text)) {
    if (pre.tokens > limit) {
      emit()
      for (const slice of codePointSlices(pre.text, pre.tokens, limit)) {
        out.push({ text: slice.text, sep: currentSep, tokens: slice.tokens, section })
        currentSep = ''
      }
      continue
    }
    if (currentTokens + pre.tokens > limit) emit()
    current += pre.text
    currentTokens += pre.tokens
  }
  emit()
}

/** Cuts one oversized pre-token ("aaaa…", a long CJK clause) into slices of at most `limit` tokens. */
function codePointSlices(text: string, tokens: number, limit: number): { text: string; tokens: number }[] {
  const cps = Array.from(text)
  const slices: { text: string; tokens: number }[] = []
  let start = 0
  // Code points per token of the whole run guide the first guess; each guess is then counted and shrunk to fit.
  const cpsPerToken = cps.length / Math.max(tokens, 1)
  while (start < cps.length) {
    let take = Math.min(cps.length - start, Math.max(1, Math.floor(limit * cpsPerToken)))
    let slice = cps.slice(start, start + take).join('')
    let n = countTokens(slice)
    while (n > limit && take > 1) {
      take = Math.max(1, Math.floor((take * limit) / n) - 1)
      slice = cps.slice(start, start + take).join('')
      n = countTokens(slice)
    }
    slices.push({ text: slice, tokens: n })
    start += take
  }
  return slices
}

// ---- normalisation ----

const LINE_BREAK = /\r\n?|[\v\f\x85\u2028]/g
// Other control characters are extraction debris (PDF NULs, stray escapes); they count as spaces.
const CONTROL = /[\p{Cc}--[\n]]/gv

/** Paragraphs of a section: lines trimmed, spaces collapsed, split at blank lines (or U+2029). */
function paragraphs(text: string): string[] {
  const out: string[] = []
  for (const block of text.replace(LINE_BREAK, '\n').split(/\n[^\S\n]*\n|\u2029/)) {
    const lines: string[] = []
    for (const line of block.replace(CONTROL, ' ').split('\n')) {
      const clean = line.replace(/\s+/g, ' ').trim()
      if (clean !== '') lines.push(clean)
    }
    if (lines.length > 0) out.push(lines.join('\n'))
  }
  return out
}
