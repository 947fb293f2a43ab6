import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import type { CollectionRow } from './collections.ts'

interface Postings {
  /** Dense chunk numbers (indexes into `chunkIds`). */
  chunks: Int32Array
  tfs: Int32Array
}

interface Snapshot {
  version: string
  chunkIds: Float64Array
  lengths: Float64Array
  terms: Map<string, Postings>
  bytes: number
}

/** Postings read per query while a snapshot is built: a search waits for at most one such page. */
const PAGE_ROWS = 5_000

/** What identifies a collection's postings: every chunk write or delete moves one of these. */
const versionOf = (c: CollectionRow) => `${c.updated_at.getTime()}:${c.chunk_count}:${c.term_count}`

/**
 * An in-memory copy of a collection's BM25 postings, per replica, so a query costs a fraction of a millisecond
 * instead of aggregating thousands of posting rows in SQL. PostgreSQL stays the source of truth: a snapshot is used
 * only while it matches the collection row the caller just read (same version), and a stale or missing one makes the
 * caller answer from SQL while the snapshot is rebuilt in the background. Least recently used collections are
 * dropped beyond the memory budget.
 */
export class LexicalCache {
  readonly #snapshots = new Map<string, Snapshot>()
  readonly #building = new Map<string, Promise<void>>()
  /** When each collection was last loaded and how long it took: a collection being written to is not reloaded
   *  after every batch, but at most every max(2 s, 5 x load time). */
  readonly #loaded = new Map<string, { at: number; ms: number }>()
  #bytes = 0

  constructor(
    readonly sql: Sql,
    readonly log: Logger,
    readonly budgetBytes: number,
  ) {}

  /** The snapshot for exactly this version of the collection, or undefined (and a rebuild starts). */
  get(collection: CollectionRow): Snapshot | undefined {
    if (this.budgetBytes === 0) return undefined
    const snap = this.#snapshots.get(collection.id)
    if (snap && snap.version === versionOf(collection)) {
      // Re-inserted: Map order is the LRU order.
      this.#snapshots.delete(collection.id)
      this.#snapshots.set(collection.id, snap)
      return snap
    }
    this.#rebuild(collection)
    return undefined
  }

  /** Resolves when no rebuild is running (for tests and the benchmark). */
  async settled(): Promise<void> {
    while (this.#building.size > 0) await Promise.allSettled([...this.#building.values()])
  }

  /** Forgets a collection (deleted, or to force a reload). */
  drop(collectionId: string): void {
    this.#evict(collectionId)
    this.#loaded.delete(collectionId)
  }

  #evict(collectionId: string): void {
    const snap = this.#snapshots.get(collectionId)
    if (snap) this.#bytes -= snap.bytes
    this.#snapshots.delete(collectionId)
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
   * Reads the postings in pages of PAGE_ROWS, not in one transaction: on the embedded database (one connection)
   * that transaction held every other query for its whole length, so the first search after indexing SciFact waited
   * 1.1 s behind it (`bun bench/rag.ts`); between pages, searches answer from SQL. Consistency without the
   * transaction: every write of postings moves the collection's version in the same transaction, so postings read
   * while the version stayed the same, before the first page and after the last, are exactly that version's.
   */
  async #load(collection: CollectionRow): Promise<void> {
    const started = performance.now()
    let pages = 0
    const version = await this.#version(collection.id)
    if (version === undefined) return
    const dense = new Map<number, number>()
    const chunkIds: number[] = []
    const lengths: number[] = []
    const grouped = new Map<string, { chunks: number[]; tfs: number[] }>()
    let after: { term: string; chunk: string } | null = null
    for (;;) {
      const cursor: { term: string; chunk: string } | null = after
      const page: { term: string; chunk_id: string; tf: number; length: number }[] = await this.sql<{ term: string; chunk_id: string; tf: number; length: number }[]>`
        SELECT term, chunk_id, tf, length FROM rag_postings
        WHERE collection_id = ${collection.id} ${cursor ? this.sql`AND (term, chunk_id) > (${cursor.term}, ${cursor.chunk}::bigint)` : this.sql``}
        ORDER BY term, chunk_id LIMIT ${PAGE_ROWS}`
      for (const r of page) {
        const id = Number(r.chunk_id)
        let n = dense.get(id)
        if (n === undefined) {
          n = chunkIds.length
          dense.set(id, n)
          chunkIds.push(id)
          lengths.push(r.length)
        }
        let g = grouped.get(r.term)
        if (!g) grouped.set(r.term, (g = { chunks: [], tfs: [] }))
        g.chunks.push(n)
        g.tfs.push(r.tf)
      }
      pages++
      const last = page.at(-1)
      if (page.length < PAGE_ROWS || !last) break
      after = { term: last.term, chunk: last.chunk_id }
    }
    // Written meanwhile: these pages may mix two versions. A later search loads again.
    const current = await this.#version(collection.id)
    const ms = Math.round(performance.now() - started)
    this.log.debug({ collection: collection.id, pages, chunks: chunkIds.length, terms: grouped.size, ms, current: current === version }, 'lexical cache loaded')
    if (current !== version) return
    const terms = new Map<string, Postings>()
    let bytes = chunkIds.length * 16
    for (const [term, g] of grouped) {
      terms.set(term, { chunks: Int32Array.from(g.chunks), tfs: Int32Array.from(g.tfs) })
      bytes += g.chunks.length * 8 + term.length * 2 + 64
    }
    this.#evict(collection.id)
    this.#snapshots.set(collection.id, { version, chunkIds: Float64Array.from(chunkIds), lengths: Float64Array.from(lengths), terms, bytes })
    this.#bytes += bytes
    for (const [id] of this.#snapshots) {
      if (this.#bytes <= this.budgetBytes || id === collection.id) break
      this.#evict(id)
    }
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
): { chunkId: number; score: number }[] {
  const scores = new Float64Array(snap.chunkIds.length)
  const touched: number[] = []
  const { k1, b, n, avgdl } = params
  for (const [term, qtf] of query) {
    const postings = snap.terms.get(term)
    if (!postings) continue
    const df = postings.chunks.length
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5))
    for (let i = 0; i < df; i++) {
      const c = postings.chunks[i]!
      const tf = postings.tfs[i]!
      if (scores[c] === 0) touched.push(c)
      scores[c]! += (qtf * idf * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * snap.lengths[c]!) / avgdl))
    }
  }
  return touched
    .map((c) => ({ chunkId: snap.chunkIds[c]!, score: scores[c]! }))
    .sort((x, y) => y.score - x.score || x.chunkId - y.chunkId)
    .slice(0, k)
}
