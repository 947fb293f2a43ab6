/**
 * Rows of chunks that searches showed, per replica, least recently used dropped beyond `budgetBytes`, so a search
 * for results it showed before reads them from memory instead of SQL: reading 100 SciFact chunks with their
 * documents' names took 1.4-1.6 ms on the embedded database and 0.8 ms on PostgreSQL, about half of a 100-result
 * search (`/tmp` probe, 300 sets of 100 random chunks).
 *
 * Safe to keep because a chunk row is never updated (an edit or a reprocess writes new chunks with new ids, and a
 * document's file name is fixed at upload), and ids are never reused. What a cached row cannot say is whether the
 * chunk still exists: the search service therefore takes rows from here only for chunks a lexical ranking of the
 * collection's current version returned (see SearchService#chunks), never for a vector store's candidates, which
 * may outlive their chunks.
 */
export class ChunkRowCache<Row extends object> {
  readonly #rows = new Map<number, { row: Row; bytes: number }>()
  #bytes = 0

  constructor(
    readonly budgetBytes: number,
    /** An estimate of what a row holds in memory. */
    readonly sizeOf: (row: Row) => number,
  ) {}

  get size(): number {
    return this.#rows.size
  }

  get bytes(): number {
    return this.#bytes
  }

  /** The row, frozen: it is shared by every search that shows it, so a caller changing it fails instead of changing theirs. */
  get(id: number): Row | undefined {
    const entry = this.#rows.get(id)
    if (!entry) return undefined
    // Re-inserted: Map order is the LRU order.
    this.#rows.delete(id)
    this.#rows.set(id, entry)
    return entry.row
  }

  set(id: number, row: Row): void {
    if (this.budgetBytes === 0) return
    const bytes = this.sizeOf(row)
    // A row larger than the whole budget would only push everything else out.
    if (bytes > this.budgetBytes) return
    this.delete(id)
    this.#rows.set(id, { row: deepFreeze(row), bytes })
    this.#bytes += bytes
    for (const [oldest, entry] of this.#rows) {
      if (this.#bytes <= this.budgetBytes) break
      this.#rows.delete(oldest)
      this.#bytes -= entry.bytes
    }
  }

  delete(id: number): void {
    const entry = this.#rows.get(id)
    if (!entry) return
    this.#rows.delete(id)
    this.#bytes -= entry.bytes
  }
}

function deepFreeze<T>(value: T): T {
  // Typed arrays cannot be frozen (a row of JSON and text has none).
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const inner of Object.values(value)) deepFreeze(inner)
  }
  return value
}
