import { SizedLru } from '../cache/sized-lru.ts'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import type { CollectionRow } from './collections.ts'

interface Postings {
  /** Dense chunk numbers (indexes into `chunkIds`); the first `count` entries are used (room to grow). */
  chunks: Int32Array
  tfs: Int32Array
  count: number
}

interface Snapshot {
  version: string
  /** Chunk ids and lengths by dense number; the first `size` entries are used. */
  chunkIds: Float64Array
  lengths: Float64Array
  /** Each chunk's document id (one string per document, shared), so results can be grouped without a query. */
  documents: string[]
  size: number
  terms: Map<string, Postings>
  bytes: number
}

/** The collection row's fields that make its version (see versionOf). */
export type CollectionVersion = Pick<CollectionRow, 'updated_at' | 'chunk_count' | 'term_count'>

/** Chunks one write added, each with its length and its terms' frequencies. */
export interface WrittenChunk {
  id: number
  documentId: string
  length: number
  terms: ReadonlyMap<string, number>
}

type PageRow = { chunk_id: string; document_id: string; length: number; terms: string[]; tfs: number[] }

/** Chunks read per query while a snapshot is built: a search waits for at most one such page. */
const PAGE_ROWS = 500

/** What identifies a collection's postings: every chunk write or delete moves one of these. */
const versionOf = (c: CollectionVersion) => `${c.updated_at.getTime()}:${c.chunk_count}:${c.term_count}`

/** `array` with room for one more at `at` (doubled when full). */
function room<T extends Int32Array | Float64Array>(array: T, at: number): T {
  if (at < array.length) return array
  const grown = new (array.constructor as new (n: number) => T)(Math.max(4, array.length * 2))
  grown.set(array)
  return grown
}

/**
 * An in-memory copy of a collection's BM25 postings, per replica, so a query costs a fraction of a millisecond
 * instead of aggregating thousands of posting rows in SQL. PostgreSQL stays the source of truth: a snapshot is used
 * only while it matches the collection row the caller just read (same version), and a stale or missing one makes the
 * caller answer from SQL while the snapshot is rebuilt in the background. Least recently used collections are
 * dropped beyond the memory budget.
 *
 * This replica's own writes keep its snapshot current without a rebuild: the indexer reports each batch it wrote
 * (`applyWrite`) and an upload the version it moved (`relabel`), each with the collection's version before and after,
 * read under the row's lock. A write is applied only to a snapshot of exactly the version before it, so a write
 * this replica did not see (another replica's, a delete) still leaves the snapshot stale, and it is loaded again. A
 * collection that was empty before a write starts from an empty snapshot: after ingesting SciFact the first search
 * answered in 1.1 s (behind a full reload on the one embedded connection) and now in milliseconds (`bun bench/rag.ts`).
 */
export class LexicalCache {
  /**
   * By collection id. A snapshot larger than the whole budget is kept all the same (it is the one just loaded, and
   * refusing it would only have the collection loaded again and again), the others going first.
   */
  readonly #snapshots: SizedLru<string, Snapshot>
  readonly #building = new Map<string, Promise<void>>()
  /** When each collection was last loaded and how long it took: a collection being written to is not reloaded
   *  after every batch, but at most every max(2 s, 5 x load time). */
  readonly #loaded = new Map<string, { at: number; ms: number }>()

  constructor(
    readonly sql: Sql,
    readonly log: Logger,
    readonly budgetBytes: number,
  ) {
    this.#snapshots = new SizedLru(budgetBytes, Infinity)
  }

  /** The snapshot for exactly this version of the collection, or undefined (and a rebuild starts). */
  get(collection: CollectionRow): Snapshot | undefined {
    if (this.budgetBytes === 0) return undefined
    const snap = this.#snapshots.get(collection.id)
    if (snap && snap.version === versionOf(collection)) return snap
    this.#rebuild(collection)
    return undefined
  }

  /**
   * A write this replica committed: `chunks` were added, moving the collection from `before` to `after`. Applied to
   * a snapshot of exactly `before` (or to an empty one when the collection had no chunks before); otherwise nothing.
   */
  applyWrite(collectionId: string, before: CollectionVersion, after: CollectionVersion, chunks: readonly WrittenChunk[]): void {
    if (this.budgetBytes === 0) return
    let snap = this.#snapshots.get(collectionId)
    if (!snap || snap.version !== versionOf(before)) {
      if (Number(before.chunk_count) !== 0) return
      snap = { version: versionOf(before), chunkIds: new Float64Array(64), lengths: new Float64Array(64), documents: [], size: 0, terms: new Map(), bytes: 0 }
      this.#snapshots.set(collectionId, snap, 0)
    }
    let added = 0
    let document: string | undefined
    for (const chunk of chunks) {
      const n = snap.size++
      snap.chunkIds = room(snap.chunkIds, n)
      snap.lengths = room(snap.lengths, n)
      snap.chunkIds[n] = chunk.id
      snap.lengths[n] = chunk.length
      snap.documents[n] = chunk.documentId
      added += 24
      // A document's chunks come together, in one write: its id string counted once, as #load counts it.
      if (chunk.documentId !== document) added += 80
      document = chunk.documentId
      for (const [term, tf] of chunk.terms) {
        let postings = snap.terms.get(term)
        if (!postings) {
          snap.terms.set(term, (postings = { chunks: new Int32Array(2), tfs: new Int32Array(2), count: 0 }))
          added += term.length * 2 + 64
        }
        postings.chunks = room(postings.chunks, postings.count)
        postings.tfs = room(postings.tfs, postings.count)
        postings.chunks[postings.count] = n
        postings.tfs[postings.count] = tf
        postings.count++
        added += 8
      }
    }
    snap.version = versionOf(after)
    snap.bytes += added
    this.#snapshots.resize(collectionId, snap.bytes)
  }

  /** A write this replica committed that moved the collection's version without touching its postings (an upload). */
  relabel(collectionId: string, before: CollectionVersion, after: CollectionVersion): void {
    const snap = this.#snapshots.get(collectionId)
    if (snap && snap.version === versionOf(before)) snap.version = versionOf(after)
  }

  /** Resolves when no rebuild is running (for tests and the benchmark). */
  async settled(): Promise<void> {
    while (this.#building.size > 0) await Promise.allSettled([...this.#building.values()])
  }

  /** Forgets a collection (deleted, or to force a reload). */
  drop(collectionId: string): void {
    this.#snapshots.delete(collectionId)
    this.#loaded.delete(collectionId)
  }

  #rebuild(collection: CollectionRow): void {
    if (this.#building.has(collection.id)) return
    const last = this.#loaded.get(collection.id)
    if (last && Date.now() - last.at < Math.max(2000, 5 * last.ms)) return
    const started = Date.now()
    const task = this.#load(collection)
      .catch((err) => this.log.warn({ collection: collection.id, err: (err as Error).message }, 'lexical cache rebuild failed'))
      .finally(() => {
        this.#building.delete(collection.id)
        this.#loaded.set(collection.id, { at: Date.now(), ms: Date.now() - started })
      })
    this.#building.set(collection.id, task)
  }

  /**
   * Reads the collection's chunk terms in pages of PAGE_ROWS chunks, not in one transaction: on the embedded database
   * (one connection) that transaction held every other query for its whole length, so the first search after
   * indexing SciFact waited 1.1 s behind it (`bun bench/rag.ts`); between pages, searches answer from SQL.
   * Consistency without the transaction: every write of chunk terms moves the collection's version in the same
   * transaction, so rows read while the version stayed the same, before the first page and after the last, are
   * exactly that version's.
   */
  async #load(collection: CollectionRow): Promise<void> {
    const started = performance.now()
    let pages = 0
    const version = await this.#version(collection.id)
    if (version === undefined) return
    const chunkIds: number[] = []
    const lengths: number[] = []
    const documents: string[] = []
    const documentIds = new Map<string, string>()
    const grouped = new Map<string, { chunks: number[]; tfs: number[] }>()
    let after: string | null = null
    for (;;) {
      const cursor: string | null = after
      const page: PageRow[] = await this.sql<PageRow[]>`
        SELECT chunk_id, document_id, length, terms, tfs FROM rag_chunk_terms
        WHERE collection_id = ${collection.id} ${cursor ? this.sql`AND chunk_id > ${cursor}::bigint` : this.sql``}
        ORDER BY chunk_id LIMIT ${PAGE_ROWS}`
      for (const r of page) {
        const n = chunkIds.length
        chunkIds.push(Number(r.chunk_id))
        lengths.push(r.length)
        let documentId = documentIds.get(r.document_id)
        if (documentId === undefined) documentIds.set(r.document_id, (documentId = r.document_id))
        documents.push(documentId)
        for (let i = 0; i < r.terms.length; i++) {
          const term = r.terms[i]!
          let g = grouped.get(term)
          if (!g) grouped.set(term, (g = { chunks: [], tfs: [] }))
          g.chunks.push(n)
          g.tfs.push(r.tfs[i]!)
        }
      }
      pages++
      const last = page.at(-1)
      if (page.length < PAGE_ROWS || !last) break
      after = last.chunk_id
    }
    // Written meanwhile: these pages may mix two versions. A later search loads again.
    const current = await this.#version(collection.id)
    const ms = Math.round(performance.now() - started)
    this.log.debug({ collection: collection.id, pages, chunks: chunkIds.length, terms: grouped.size, ms, current: current === version }, 'lexical cache loaded')
    if (current !== version) return
    const terms = new Map<string, Postings>()
    let bytes = chunkIds.length * 24 + documentIds.size * 80
    for (const [term, g] of grouped) {
      terms.set(term, { chunks: Int32Array.from(g.chunks), tfs: Int32Array.from(g.tfs), count: g.chunks.length })
      bytes += g.chunks.length * 8 + term.length * 2 + 64
    }
    const size = chunkIds.length
    const snapshot = { version, chunkIds: Float64Array.from(chunkIds), lengths: Float64Array.from(lengths), documents, size, terms, bytes }
    this.#snapshots.set(collection.id, snapshot, bytes)
  }

  async #version(collectionId: string): Promise<string | undefined> {
    const [row] = await this.sql<CollectionRow[]>`SELECT * FROM rag_collections WHERE id = ${collectionId}`
    return row ? versionOf(row) : undefined
  }
}

export type { Snapshot as LexicalSnapshot }

/**
 * Okapi BM25 over a snapshot, the same formula as the SQL path: idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
 * weighted by how often the term occurs in the query.
 */
export function scoreSnapshot(
  snap: Snapshot,
  query: ReadonlyMap<string, number>,
  params: { k1: number; b: number; n: number; avgdl: number },
  k: number,
): { chunkId: number; score: number; documentId: string }[] {
  const scores = new Float64Array(snap.size)
  const touched: number[] = []
  const { k1, b, n, avgdl } = params
  for (const [term, qtf] of query) {
    const postings = snap.terms.get(term)
    if (!postings) continue
    const df = postings.count
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5))
    for (let i = 0; i < df; i++) {
      const c = postings.chunks[i]!
      const tf = postings.tfs[i]!
      if (scores[c] === 0) touched.push(c)
      scores[c]! += (qtf * idf * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * snap.lengths[c]!) / avgdl))
    }
  }
  return best(touched, scores, snap.chunkIds, k).map(({ at, score }) => ({ chunkId: snap.chunkIds[at]!, score, documentId: snap.documents[at]! }))
}

/**
 * The k best of the touched chunks, by score and then id, without sorting them all: a common term touches thousands
 * of chunks and a search asks for a few hundred at most. A heap of the k best so far, its worst at the top.
 */
export function best(touched: number[], scores: Float64Array, ids: Float64Array, k: number): { at: number; score: number }[] {
  const worse = (a: number, b: number) => scores[a]! < scores[b]! || (scores[a] === scores[b] && ids[a]! > ids[b]!)
  const heap = new Int32Array(Math.min(k, touched.length))
  let size = 0
  const down = (from: number) => {
    for (let i = from; ; ) {
      const l = 2 * i + 1
      if (l >= size) return
      const r = l + 1
      const w = r < size && worse(heap[r]!, heap[l]!) ? r : l
      if (!worse(heap[w]!, heap[i]!)) return
      const t = heap[i]!
      heap[i] = heap[w]!
      heap[w] = t
      i = w
    }
  }
  for (const c of touched) {
    if (size < heap.length) {
      let i = size++
      heap[i] = c
      while (i > 0) {
        const parent = (i - 1) >> 1
        if (!worse(heap[i]!, heap[parent]!)) break
        heap[i] = heap[parent]!
        heap[parent] = c
        i = parent
      }
    } else if (size > 0 && worse(heap[0]!, c)) {
      heap[0] = c
      down(0)
    }
  }
  return Array.from(heap.subarray(0, size), (c) => ({ at: c, score: scores[c]! })).sort((x, y) => y.score - x.score || ids[x.at]! - ids[y.at]!)
}
