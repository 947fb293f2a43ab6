import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { Caller, GatewayService } from '../gateway/service.ts'
import type { CollectionRow, CollectionService, RagActor } from './collections.ts'
import { scoreSnapshot, type LexicalCache } from './lexical-cache.ts'
import type { SearchInput, SearchMode, SearchResponse } from './model.ts'
import { analyze } from './text/analyzer.ts'
import { chunkFilter, hasFilter } from './vectors/postgres.ts'
import type { SearchFilter, VectorStore } from './vectors/index.ts'

/** BM25 parameters, chosen on SciFact's train split (bench/rag.ts, BENCH_BM25=k1,b): 1.2/0.5 gave nDCG@10 0.7035, 0.9/0.4 0.7007, 1.2/0.75 0.7024. */
export const BM25 = { k1: 1.2, b: 0.5 }
const RRF_K = 60
/** Each ranker contributes this many candidates to the fusion, at least. */
const CANDIDATES = 50

interface Ranked {
  chunkId: number
  score: number
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
}

/**
 * One search service for the API, chatbots and plugins: BM25 over chunk postings in PostgreSQL, vector similarity
 * through the collection's vector store, and reciprocal rank fusion of both.
 */
export class SearchService {
  constructor(
    readonly sql: Sql,
    readonly collections: CollectionService,
    readonly vectors: VectorStore,
    readonly gateway: GatewayService,
    readonly lexical: LexicalCache,
  ) {}

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
    const filter: SearchFilter = {
      ...(input.document_ids ? { documentIds: input.document_ids } : {}),
      ...(input.metadata ? { metadata: input.metadata } : {}),
    }
    const depth = mode === 'hybrid' ? Math.max(CANDIDATES, topK * 4) : topK
    const timing = { lexical_ms: null as number | null, embed_ms: null as number | null, vector_ms: null as number | null }

    const lexicalRun = async () => {
      if (mode === 'vector') return null
      const t0 = performance.now()
      const hits = await this.bm25(collection, input.query, depth, filter)
      timing.lexical_ms = round(performance.now() - t0)
      return hits
    }
    const vectorRun = async () => {
      if (mode === 'lexical') return null
      const t0 = performance.now()
      const [q] = await this.gateway.embed(caller, collection.embedding_model!, [input.query], signal ?? new AbortController().signal)
      const t1 = performance.now()
      timing.embed_ms = round(t1 - t0)
      const hits = await this.vectors.search(collection.id, q!, depth, filter)
      timing.vector_ms = round(performance.now() - t1)
      return hits
    }
    const [lexical, vector] = await Promise.all([lexicalRun(), vectorRun()])

    const lexRank = rankMap(lexical)
    const vecRank = rankMap(vector)
    const weights = input.weights ?? { lexical: 1, vector: 1 }
    const k = input.rrf_k ?? RRF_K
    let scored: { chunkId: number; score: number; fused: number | null }[]
    if (mode === 'hybrid') {
      const ids = new Set([...lexRank.keys(), ...vecRank.keys()])
      // Scaled by the best possible fused score, so 1.0 means first for every ranker and a threshold is portable.
      const best = (weights.lexical + weights.vector) / (k + 1)
      scored = [...ids].map((id) => {
        const l = lexRank.get(id)
        const v = vecRank.get(id)
        const fused = (l ? weights.lexical / (k + l.rank) : 0) + (v ? weights.vector / (k + v.rank) : 0)
        return { chunkId: id, score: best > 0 ? fused / best : 0, fused }
      })
    } else {
      scored = (lexical ?? vector ?? []).map((h) => ({ chunkId: h.chunkId, score: h.score, fused: null }))
    }
    scored.sort((a, b) => b.score - a.score || a.chunkId - b.chunkId)
    if (input.score_threshold !== undefined) scored = scored.filter((s) => s.score >= input.score_threshold!)
    scored = scored.slice(0, topK)

    const rows = await this.#chunks(scored.map((s) => s.chunkId))
    const terms = new Set(analyze(input.query))
    const results = scored.flatMap((s) => {
      const c = rows.get(s.chunkId)
      if (!c) return []
      const l = lexRank.get(s.chunkId)
      const v = vecRank.get(s.chunkId)
      return [
        {
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
        },
      ]
    })
    return { mode, results, timing: { total_ms: round(performance.now() - started), ...timing } }
  }

  /**
   * Okapi BM25 from the postings alone. Document frequencies are counted at query time over the whole collection
   * (filters narrow the results, not the statistics), so no per-term table has to be kept in step with writes.
   * Unfiltered queries are answered from the replica's in-memory copy of the postings when it is current.
   */
  async bm25(collection: CollectionRow, query: string, k: number, filter?: SearchFilter): Promise<Ranked[]> {
    const counts = new Map<string, number>()
    for (const term of analyze(query)) counts.set(term, (counts.get(term) ?? 0) + 1)
    if (counts.size === 0 || collection.chunk_count === 0) return []
    const n = collection.chunk_count
    const avgdl = Number(collection.term_count) / n || 1
    const { k1, b } = BM25
    const sql = this.sql
    const filtered = hasFilter(filter)
    if (!filtered) {
      const snap = this.lexical.get(collection)
      if (snap) return scoreSnapshot(snap, counts, { k1, b, n, avgdl }, k)
    }
    const rows = await sql<{ chunk_id: string; score: number }[]>`
      WITH q AS (SELECT * FROM unnest(${[...counts.keys()]}::text[], ${[...counts.values()]}::int[]) AS q(term, qtf)),
      p AS MATERIALIZED (
        SELECT p.term, p.chunk_id, p.tf, p.length FROM rag_postings p JOIN q ON q.term = p.term
        WHERE p.collection_id = ${collection.id}
      ),
      idf AS (
        SELECT term, ln(1 + (${n}::float8 - count(*) + 0.5) / (count(*) + 0.5)) AS idf FROM p GROUP BY term
      )
      SELECT p.chunk_id,
        sum(q.qtf * idf.idf * p.tf * ${k1 + 1}::float8 / (p.tf + ${k1}::float8 * (1 - ${b}::float8 + ${b}::float8 * p.length / ${avgdl}::float8))) AS score
      FROM p JOIN idf USING (term) JOIN q USING (term)
      ${filtered ? sql`JOIN rag_chunks c ON c.id = p.chunk_id WHERE ${chunkFilter(sql, filter)}` : sql``}
      GROUP BY p.chunk_id ORDER BY score DESC, p.chunk_id LIMIT ${k}`
    return rows.map((r) => ({ chunkId: Number(r.chunk_id), score: Number(r.score) }))
  }

  async #chunks(ids: number[]): Promise<Map<number, ChunkHit>> {
    if (ids.length === 0) return new Map()
    const rows = await this.sql<ChunkHit[]>`
      SELECT c.id, c.document_id, d.filename AS document_name, c.position, c.text, c.heading, c.page, c.sheet, c.metadata
      FROM rag_chunks c JOIN rag_documents d ON d.id = c.document_id WHERE c.id = ANY(${ids}::bigint[])`
    return new Map(rows.map((r) => [Number(r.id), r]))
  }
}

function rankMap(hits: Ranked[] | null): Map<number, { rank: number; score: number }> {
  return new Map((hits ?? []).map((h, i) => [h.chunkId, { rank: i + 1, score: h.score }]))
}

const round = (ms: number) => Math.round(ms * 100) / 100

const SNIPPET_CHARS = 240

/** The stretch of the chunk with the most query terms, cut at word boundaries. */
export function snippet(text: string, terms: ReadonlySet<string>): string {
  if (text.length <= SNIPPET_CHARS) return text
  const words = [...text.matchAll(/\S+/g)]
  // Analysing every word is what costs here; a stem nearly always starts like its word, so a word that contains
  // no query stem's first three letters is skipped, and each distinct word is analysed once.
  const heads = [...terms].map((t) => t.slice(0, 3))
  const memo = new Map<string, boolean>()
  const hit = words.map((w) => {
    const lower = w[0].toLowerCase()
    let h = memo.get(lower)
    if (h === undefined) {
      h = heads.some((p) => lower.includes(p)) && analyze(lower).some((t) => terms.has(t))
      memo.set(lower, h)
    }
    return h
  })
  let bestStart = 0
  let bestHits = -1
  for (let i = 0, j = 0, hits = 0; i < words.length; i++) {
    while (j < words.length && (j === i || words[j]!.index! + words[j]![0].length - words[i]!.index! <= SNIPPET_CHARS)) hits += hit[j++] ? 1 : 0
    if (hits > bestHits) {
      bestHits = hits
      bestStart = i
    }
    hits -= hit[i] ? 1 : 0
  }
  const from = words[bestStart]!.index!
  let to = from
  for (let j = bestStart; j < words.length && words[j]!.index! + words[j]![0].length - from <= SNIPPET_CHARS; j++)
    to = words[j]!.index! + words[j]![0].length
  return `${from > 0 ? '… ' : ''}${text.slice(from, to)}${to < text.length ? ' …' : ''}`
}
