import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { Caller, GatewayService } from '../gateway/service.ts'
import type { CollectionRow, CollectionService, RagActor } from './collections.ts'
import { ChunkRowCache } from './chunk-cache.ts'
import { scoreSnapshot, type LexicalCache } from './lexical-cache.ts'
import type { SearchInput, SearchMode, SearchResponse } from './model.ts'
import { analyze } from './text/analyzer.ts'
import { chunkFilter, hasFilter } from './vectors/postgres.ts'
import type { SearchFilter, VectorStore } from './vectors/index.ts'

/** BM25 parameters, chosen on SciFact's train split (bench/rag.ts, BENCH_BM25=k1,b): 1.2/0.5 gave nDCG@10 0.7035, 0.9/0.4 0.7007, 1.2/0.75 0.7024. */
export const BM25 = { k1: 1.2, b: 0.5 }
const RRF_K = 60
/** Each ranker contributes this many candidates to the fusion, at least, and 4 x top_k. */
const CANDIDATES = 50
/**
 * Documents: the chunks asked of each ranker per document wanted, from the collection's chunks per document, within
 * these bounds; and the most chunks one ranker is ever asked for, however concentrated the matches are.
 */
const SPREAD = { min: 2, max: 4 }
const MAX_DEPTH = 4000

interface Ranked {
  chunkId: number
  score: number
  /** Known when the replica's in-memory index ranked the chunk. */
  documentId?: string
}

interface Scored {
  chunkId: number
  score: number
  fused: number | null
  documentId?: string | undefined
}

interface ChunkHit {
  id: string
  document_id: string
  document_name: string
  position: number
  text: string
  heading: string | null
  page: number | null
  sheet: string | null
  metadata: Record<string, unknown>
  injection_score: number | null
  injection_flagged: boolean
  injection_signals: string[]
}

/** A chunk to present: in document mode, its document's best, with how many of its chunks were candidates. */
interface Pick {
  scored: Scored
  row: ChunkHit
  chunks?: number
}

/** One round of ranking: each ranker's ranks, the candidates in score order over the threshold, and whether
 *  asking deeper could find more. */
interface Candidates {
  lexRank: RankMap
  vecRank: RankMap
  scored: Scored[]
  exhausted: boolean
}

type Timing = { lexical_ms: number | null; embed_ms: number | null; vector_ms: number | null }

/**
 * One search service for the API, chatbots and plugins: BM25 over chunk postings in PostgreSQL, vector similarity
 * through the collection's vector store, and reciprocal rank fusion of both. Results are chunks, or with
 * `group_by: "document"` documents, each once at its best chunk.
 */
export class SearchService {
  /** Rows of chunks shown before (see ChunkRowCache for why they may be kept, and #chunks for when they are used). */
  readonly rows: ChunkRowCache<ChunkHit>

  constructor(
    readonly sql: Sql,
    readonly collections: CollectionService,
    readonly vectors: VectorStore,
    readonly gateway: GatewayService,
    readonly lexical: LexicalCache,
    chunkCacheBytes: number,
  ) {
    this.rows = new ChunkRowCache<ChunkHit>(chunkCacheBytes, rowBytes)
  }

  async search(actor: RagActor, collectionId: string, input: SearchInput, caller: Caller, signal?: AbortSignal): Promise<SearchResponse> {
    const collection = await this.collections.get(actor, collectionId)
    return this.searchCollection(collection, input, caller, signal)
  }

  /** For callers that already checked access (chatbots over their configured collections). */
  async searchCollection(collection: CollectionRow, input: SearchInput, caller: Caller, signal?: AbortSignal): Promise<SearchResponse> {
    const started = performance.now()
    const mode: SearchMode = input.mode ?? (collection.embedding_model ? 'hybrid' : 'lexical')
    if (mode !== 'lexical' && !collection.embedding_model)
      throw new ApiError('invalid_request', `The collection "${collection.name}" has no embedding model; use mode "lexical"`, 'mode')
    const topK = input.top_k ?? 5
    const byDocument = input.group_by === 'document'
    const filter: SearchFilter = {
      ...(input.document_ids ? { documentIds: input.document_ids } : {}),
      ...(input.metadata ? { metadata: input.metadata } : {}),
    }
    const timing: Timing = { lexical_ms: null, embed_ms: null, vector_ms: null }
    const rank = this.#rankers(collection, input.query, mode, filter, caller, signal, timing)
    const weights = input.weights ?? { lexical: 1, vector: 1 }
    const candidates = async (depth: number): Promise<Candidates> => {
      const [lexical, vector] = await rank(depth)
      const lexRank = rankMap(lexical)
      const vecRank = rankMap(vector)
      const all = fuse(mode, lexRank, vecRank, weights, input.rrf_k ?? RRF_K)
      const threshold = input.score_threshold
      const scored = threshold === undefined ? all : all.filter((s) => s.score >= threshold)
      // Nothing deeper to find: every ranker returned less than asked, or the threshold cut (deeper ones score lower).
      const exhausted = ((lexical?.length ?? 0) < depth && (vector?.length ?? 0) < depth) || scored.length < all.length
      return { lexRank, vecRank, scored, exhausted }
    }
    const want = byDocument ? Math.ceil(topK * spread(collection)) : topK
    const depth = Math.min(MAX_DEPTH, mode === 'hybrid' ? Math.max(CANDIDATES, topK * 4, want) : want)
    const { lexRank, vecRank, picks } = byDocument
      ? await this.#documents(candidates, depth, topK)
      : await this.#topChunks(await candidates(depth), topK)

    const terms = new Set(analyze(input.query))
    const results = picks.map(({ scored: s, row: c, chunks }) => {
      const l = lexRank.get(s.chunkId)
      const v = vecRank.get(s.chunkId)
      return {
        chunk_id: s.chunkId,
        document_id: c.document_id,
        document_name: c.document_name,
        collection_id: collection.id,
        position: c.position,
        text: c.text,
        snippet: snippet(c.text, terms),
        score: s.score,
        scores: {
          lexical: l?.score ?? null,
          lexical_rank: l?.rank ?? null,
          vector: v?.score ?? null,
          vector_rank: v?.rank ?? null,
          fused: s.fused,
        },
        heading: c.heading,
        page: c.page,
        sheet: c.sheet,
        metadata: c.metadata,
        // Scored at ingestion; null for a chunk indexed before scoring existed.
        injection: c.injection_score === null ? null : { flagged: c.injection_flagged, score: c.injection_score, signals: c.injection_signals },
        ...(chunks === undefined ? {} : { chunks }),
      }
    })
    return { mode, group_by: byDocument ? 'document' : 'chunk', results, timing: { total_ms: round(performance.now() - started), ...timing } }
  }

  async #topChunks(c: Candidates, topK: number): Promise<Candidates & { picks: Pick[] }> {
    const top = c.scored.slice(0, topK)
    const rows = await this.#chunks(top)
    return {
      ...c,
      picks: top.flatMap((s) => {
        const row = rows.get(s.chunkId)
        return row ? [{ scored: s, row }] : []
      }),
    }
  }

  /**
   * The best `topK` documents: candidates from `depth` chunks per ranker, asked again deeper while they hold fewer
   * documents and more could be found, up to MAX_DEPTH chunks, so a query's work stays bounded.
   */
  async #documents(candidates: (depth: number) => Promise<Candidates>, depth: number, topK: number): Promise<Candidates & { picks: Pick[] }> {
    for (;;) {
      const c = await candidates(depth)
      const picks = await this.#bestPerDocument(c.scored, topK)
      if (picks.length >= topK || c.exhausted || depth >= MAX_DEPTH) return { ...c, picks }
      // As much deeper as the documents found so far suggest, at least fourfold.
      depth = Math.min(MAX_DEPTH, Math.max(depth * 4, Math.ceil((depth * topK * 2) / Math.max(1, picks.length))))
    }
  }

  /**
   * The rankers of a mode, as one function of the depth (chunks asked of each), so a search can ask again deeper.
   * The query is embedded once; the time of every call is added to `timing`.
   */
  #rankers(
    collection: CollectionRow,
    query: string,
    mode: SearchMode,
    filter: SearchFilter,
    caller: Caller,
    signal: AbortSignal | undefined,
    timing: Timing,
  ): (depth: number) => Promise<[Ranked[] | null, Ranked[] | null]> {
    const model = collection.embedding_model
    let embedded: Promise<Float32Array> | undefined
    const add = (ms: number | null, since: number) => round((ms ?? 0) + performance.now() - since)
    const lexical = async (depth: number) => {
      if (mode === 'vector') return null
      const t0 = performance.now()
      const hits = await this.bm25(collection, query, depth, filter)
      timing.lexical_ms = add(timing.lexical_ms, t0)
      return hits
    }
    const vector = async (depth: number) => {
      // A collection without a model was refused every mode but lexical.
      if (mode === 'lexical' || !model) return null
      embedded ??= (async () => {
        const t0 = performance.now()
        const [q] = await this.gateway.embed(caller, model, [query], signal ?? new AbortController().signal)
        timing.embed_ms = round(performance.now() - t0)
        if (!q) throw new Error('the embeddings upstream answered without a vector')
        return q
      })()
      const q = await embedded
      const t1 = performance.now()
      const hits = await this.vectors.search(collection.id, q, depth, filter)
      timing.vector_ms = add(timing.vector_ms, t1)
      return hits
    }
    return (depth) => Promise.all([lexical(depth), vector(depth)])
  }

  /**
   * Okapi BM25 over the chunks' terms. Document frequencies are counted at query time over the whole collection
   * (filters narrow the results, not the statistics), so no per-term table has to be kept in step with writes.
   * Answered from the replica's in-memory index when it is current; from SQL otherwise (see #bm25Sql).
   */
  async bm25(collection: CollectionRow, query: string, k: number, filter?: SearchFilter): Promise<Ranked[]> {
    const counts = new Map<string, number>()
    for (const term of analyze(query)) counts.set(term, (counts.get(term) ?? 0) + 1)
    if (counts.size === 0 || collection.chunk_count === 0) return []
    const n = collection.chunk_count
    const params = { ...BM25, n, avgdl: Number(collection.term_count) / n || 1 }
    const snap = this.lexical.get(collection)
    if (!snap) return this.#bm25Sql(collection, counts, params, k, filter)
    if (!hasFilter(filter)) return scoreSnapshot(snap, counts, params, k)
    // Filtered: every matching chunk scored in memory, then checked against the filter in SQL, best first: the best
    // 4 x k (at least 200) at once, and the rest only when too few of those pass.
    const ranked = scoreSnapshot(snap, counts, params, snap.size)
    const passing: Ranked[] = []
    for (let from = 0, take = Math.max(200, 4 * k); from < ranked.length && passing.length < k; from += take, take = ranked.length) {
      const slice = ranked.slice(from, from + take)
      const rows = await this.sql<{ id: string }[]>`
        SELECT c.id FROM rag_chunks c WHERE c.id = ANY(${slice.map((r) => r.chunkId)}::bigint[]) AND ${chunkFilter(this.sql, filter)}`
      const ok = new Set(rows.map((r) => Number(r.id)))
      for (const r of slice) if (ok.has(r.chunkId)) passing.push(r)
    }
    return passing.slice(0, k)
  }

  /**
   * BM25 in SQL, where the replica does not hold the collection's index (being loaded, over LEXICAL_CACHE_MB): the
   * chunks holding any query term (GIN), each term's frequency looked up in its row. It costs in proportion to those
   * chunks (~150 ms for a common-word query over SciFact's 5,183 abstracts on the embedded database), where the
   * in-memory index answers in a fraction of a millisecond; the postings table it replaces answered in ~17 ms but cost
   * 15 µs per term and chunk at every write (0017_rag_chunk_terms.sql).
   */
  async #bm25Sql(collection: CollectionRow, counts: Map<string, number>, params: { k1: number; b: number; n: number; avgdl: number }, k: number, filter?: SearchFilter): Promise<Ranked[]> {
    const { k1, b, n, avgdl } = params
    const sql = this.sql
    const terms = [...counts.keys()]
    const rows = await sql<{ chunk_id: string; score: number }[]>`
      WITH q AS (SELECT * FROM unnest(${terms}::text[], ${[...counts.values()]}::int[]) AS q(term, qtf)),
      cand AS MATERIALIZED (
        SELECT chunk_id, length, terms, tfs FROM rag_chunk_terms WHERE collection_id = ${collection.id} AND terms && ${terms}::text[]
      ),
      p AS MATERIALIZED (
        SELECT q.term, cand.chunk_id, cand.tfs[i] AS tf, cand.length
        FROM cand CROSS JOIN q CROSS JOIN LATERAL array_position(cand.terms, q.term) AS i WHERE i IS NOT NULL
      ),
      idf AS (
        SELECT term, ln(1 + (${n}::float8 - count(*) + 0.5) / (count(*) + 0.5)) AS idf FROM p GROUP BY term
      )
      SELECT p.chunk_id,
        sum(q.qtf * idf.idf * p.tf * ${k1 + 1}::float8 / (p.tf + ${k1}::float8 * (1 - ${b}::float8 + ${b}::float8 * p.length / ${avgdl}::float8))) AS score
      FROM p JOIN idf USING (term) JOIN q USING (term)
      ${hasFilter(filter) ? sql`JOIN rag_chunks c ON c.id = p.chunk_id WHERE ${chunkFilter(sql, filter)}` : sql``}
      GROUP BY p.chunk_id ORDER BY score DESC, p.chunk_id LIMIT ${k}`
    return rows.map((r) => ({ chunkId: Number(r.chunk_id), score: Number(r.score) }))
  }

  /**
   * #bestPerDocument where every candidate came with its document from the replica's in-memory index: grouped here,
   * so SQL only reads the rows shown (a 100-document search read ~400 candidates' rows to group them). Null when a
   * row is gone meanwhile (deleted since the index was read): SQL then groups what is there.
   */
  async #bestPerDocumentInMemory(scored: readonly Scored[], topK: number): Promise<Pick[] | null> {
    const perDocument = new Map<string, { first: Scored; count: number }>()
    for (const s of scored) {
      const seen = perDocument.get(s.documentId!)
      if (seen) seen.count++
      else perDocument.set(s.documentId!, { first: s, count: 1 })
    }
    const top = [...perDocument.values()].slice(0, topK)
    const rows = await this.#chunks(top.map((d) => d.first))
    if (rows.size < top.length) return null
    return top.map((d) => ({ scored: d.first, row: rows.get(d.first.chunkId)!, chunks: d.count }))
  }

  /**
   * The rows of these candidates, by chunk id; a chunk deleted meanwhile has none. A row kept from an earlier search
   * is used only for a candidate that came with its document, that is from a lexical ranking (in memory, or checked
   * against a filter in SQL) of the collection's version this search read: such a chunk existed then, as it would have
   * for SQL. Any other candidate (a vector store's, which can outlive its chunk) is read in SQL.
   */
  async #chunks(candidates: readonly Scored[]): Promise<Map<number, ChunkHit>> {
    const found = new Map<number, ChunkHit>()
    const missing: number[] = []
    for (const s of candidates) {
      const row = s.documentId === undefined ? undefined : this.rows.get(s.chunkId)
      if (row) found.set(s.chunkId, row)
      else missing.push(s.chunkId)
    }
    if (missing.length === 0) return found
    // The name is read per row by key: joined, a planner without statistics (the embedded database) hashed the rows
    // against a scan of every document (12.9 ms instead of ~1 at 5,000 documents). A chunk's document exists while
    // the chunk does (deleting it deletes its chunks), so the name is never missing.
    const rows = await this.sql<ChunkHit[]>`
      SELECT c.id, c.document_id, (SELECT d.filename FROM rag_documents d WHERE d.id = c.document_id) AS document_name,
        c.position, c.text, c.heading, c.page, c.sheet, c.metadata, c.injection_score, c.injection_flagged, c.injection_signals
      FROM rag_chunks c WHERE c.id = ANY(${missing}::bigint[])`
    for (const r of rows) {
      const id = Number(r.id)
      found.set(id, r)
      this.rows.set(id, r)
    }
    return found
  }

  /**
   * Each document once, at its best candidate (the first in score order), the best `topK` documents in score order,
   * with the number of its chunks among the candidates: one query that groups and reads the rows together.
   */
  async #bestPerDocument(scored: readonly Scored[], topK: number): Promise<Pick[]> {
    if (scored.length === 0) return []
    if (scored.every((s) => s.documentId !== undefined)) {
      const picked = await this.#bestPerDocumentInMemory(scored, topK)
      if (picked) return picked
    }
    const rows = await this.sql<(ChunkHit & { ord: string; matched: string })[]>`
      WITH cand AS (
        SELECT c.id, c.document_id, t.ord FROM unnest(${scored.map((s) => s.chunkId)}::bigint[]) WITH ORDINALITY AS t(id, ord)
        JOIN rag_chunks c ON c.id = t.id
      ),
      best AS (
        SELECT DISTINCT ON (document_id) id, ord, count(*) OVER (PARTITION BY document_id) AS matched
        FROM cand ORDER BY document_id, ord
      ),
      top AS (SELECT * FROM best ORDER BY ord LIMIT ${topK})
      SELECT c.id, c.document_id, d.filename AS document_name, c.position, c.text, c.heading, c.page, c.sheet, c.metadata,
        c.injection_score, c.injection_flagged, c.injection_signals, top.ord, top.matched
      FROM top JOIN rag_chunks c ON c.id = top.id JOIN rag_documents d ON d.id = c.document_id
      ORDER BY top.ord`
    return rows.flatMap((r) => {
      const s = scored[Number(r.ord) - 1]
      return s ? [{ scored: s, row: r, chunks: Number(r.matched) }] : []
    })
  }
}

type RankMap = Map<number, { rank: number; score: number; documentId?: string | undefined }>

function rankMap(hits: Ranked[] | null): RankMap {
  return new Map((hits ?? []).map((h, i) => [h.chunkId, { rank: i + 1, score: h.score, documentId: h.documentId }]))
}

/**
 * Candidates in score order (ties by chunk id): the ranker's own score in a single mode; in hybrid, reciprocal rank
 * fusion scaled by the best possible fused score, so 1.0 means first for every ranker and a threshold is portable.
 */
function fuse(mode: SearchMode, lexRank: RankMap, vecRank: RankMap, weights: { lexical: number; vector: number }, k: number): Scored[] {
  let scored: Scored[]
  if (mode === 'hybrid') {
    const ids = new Set([...lexRank.keys(), ...vecRank.keys()])
    const best = (weights.lexical + weights.vector) / (k + 1)
    scored = [...ids].map((id) => {
      const l = lexRank.get(id)
      const v = vecRank.get(id)
      const fused = (l ? weights.lexical / (k + l.rank) : 0) + (v ? weights.vector / (k + v.rank) : 0)
      return { chunkId: id, score: best > 0 ? fused / best : 0, fused, documentId: l?.documentId }
    })
  } else {
    scored = [...(mode === 'lexical' ? lexRank : vecRank)].map(([chunkId, r]) => ({ chunkId, score: r.score, fused: null, documentId: r.documentId }))
  }
  return scored.sort((a, b) => b.score - a.score || a.chunkId - b.chunkId)
}

/** Chunks to ask for per document wanted: the collection's chunks per document, within SPREAD. */
function spread(collection: CollectionRow): number {
  const perDocument = collection.document_count > 0 ? collection.chunk_count / collection.document_count : SPREAD.min
  return Math.min(SPREAD.max, Math.max(SPREAD.min, perDocument))
}

const round = (ms: number) => Math.round(ms * 100) / 100

/** What a chunk row holds in memory, about: its strings at two bytes a character, its metadata as JSON, and the rest. */
function rowBytes(r: ChunkHit): number {
  let chars = r.text.length + r.document_name.length + r.document_id.length + (r.heading?.length ?? 0) + (r.sheet?.length ?? 0)
  for (const signal of r.injection_signals) chars += signal.length
  return 2 * (chars + JSON.stringify(r.metadata).length) + 400
}

const SNIPPET_CHARS = 240

/**
 * The stretch of the chunk with the most query terms, cut at word boundaries. Analysing every word is what costs
 * here (a hundred results of 300 words each took most of a 100-chunk search's time), and so did walking every
 * character in JavaScript: a stem nearly always starts like its word, so one case-insensitive pass of the query
 * stems' first three letters (a compiled pattern) finds the words worth analysing, each distinct word once, and the
 * window is chosen among those words alone, looking at the text only around them.
 *
 * The choice is the word-by-word one's (src/rag/snippet.test.ts keeps it as the reference): the earliest word from
 * which a window of SNIPPET_CHARS holds the most matching words (a word longer than that counts alone).
 */
export function snippet(text: string, terms: ReadonlySet<string>): string {
  if (text.length <= SNIPPET_CHARS) return text
  const hits = matchingWords(text, terms)
  let from: number
  if (hits.length === 0) {
    from = nextWordStart(text, 0)
    if (from === text.length) return text.slice(0, SNIPPET_CHARS)
  } else {
    // The first matching word whose window holds the most of them, and the last matching word in that window.
    let best = 0
    let bestLast = 0
    for (let a = 0, b = 0; a < hits.length; a += 2) {
      if (b < a) b = a
      while (b + 2 < hits.length && hits[b + 3]! - hits[a]! <= SNIPPET_CHARS) b += 2
      if (b - a > bestLast - best) [best, bestLast] = [a, b]
    }
    // Any earlier word start whose window still reaches that last word holds the same words, and the earliest is
    // the reference's choice; none lies before the first matching word's predecessor, or the window would hold more.
    from = nextWordStart(text, Math.min(hits[best]!, hits[bestLast + 1]! - SNIPPET_CHARS))
  }
  const to = lastWordEnd(text, from, from + SNIPPET_CHARS)
  return `${from > 0 ? '… ' : ''}${text.slice(from, to)}${to < text.length ? ' …' : ''}`
}

/** Start and end (pairs, in text order) of the words holding a query term. */
function matchingWords(text: string, terms: ReadonlySet<string>): number[] {
  const out: number[] = []
  const query = queryOf(terms)
  if (!query) return out
  const { heads, memo } = query
  heads.lastIndex = 0
  for (let m = heads.exec(text); m; m = heads.exec(text)) {
    let start = m.index
    while (start > 0 && !isSpace(text.charCodeAt(start - 1))) start--
    let end = m.index + m[0].length
    while (end < text.length && !isSpace(text.charCodeAt(end))) end++
    const lower = text.slice(start, end).toLowerCase()
    let hit = memo.get(lower)
    if (hit === undefined) memo.set(lower, (hit = analyze(lower).some((t) => terms.has(t))))
    if (hit) out.push(start, end)
    // On to the next word: each is looked at once.
    heads.lastIndex = end
  }
  return out
}

/** The first word start at or after `at` (the text's length when there is none). */
function nextWordStart(text: string, at: number): number {
  let i = Math.max(0, at)
  if (i > 0 && i < text.length && !isSpace(text.charCodeAt(i - 1))) while (i < text.length && !isSpace(text.charCodeAt(i))) i++
  while (i < text.length && isSpace(text.charCodeAt(i))) i++
  return i
}

/** The last word end after `from` and at most at `limit`; `from` when the word at `from` ends beyond it. */
function lastWordEnd(text: string, from: number, limit: number): number {
  let i = Math.min(limit, text.length)
  if (i < text.length && !isSpace(text.charCodeAt(i))) while (i > from && !isSpace(text.charCodeAt(i - 1))) i--
  while (i > from && isSpace(text.charCodeAt(i - 1))) i--
  return i
}

/** JavaScript's \s: ASCII and Unicode spaces, line and paragraph separators, the BOM. */
function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13)
  if (c < 160) return false
  return c === 160 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
}

/**
 * One pattern of the query terms' first three letters, and the words found to hold a term or not, shared by every
 * result of the query (its results share most of their words). A head right after an ASCII letter or digit is
 * passed over: a term is a token's stem, which starts like its token, and no token starts there (NFKC keeps ASCII
 * as it is). So "can" in "significance" is no longer a word to analyse: 100 SciFact snippets 3.0 -> 1.7 ms, and the
 * same 30,000 snippets. After any other character the head is tried as before, so the choice stays the reference's.
 */
const queries = new WeakMap<ReadonlySet<string>, { heads: RegExp; memo: Map<string, boolean> } | null>()
function queryOf(terms: ReadonlySet<string>): { heads: RegExp; memo: Map<string, boolean> } | null {
  let q = queries.get(terms)
  if (q === undefined) {
    const heads = [...new Set([...terms].map((t) => t.slice(0, 3)).filter((h) => h.length > 0))]
    q = heads.length
      ? { heads: new RegExp(`(?<![a-z0-9])(?:${heads.map((h) => h.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')).join('|')})`, 'giu'), memo: new Map() }
      : null
    queries.set(terms, q)
  }
  return q
}
