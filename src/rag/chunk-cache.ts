import { SizedLru } from '../cache/sized-lru.ts'

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
  readonly #rows: SizedLru<number, Row>

  constructor(
    budgetBytes: number,
    /** An estimate of what a row holds in memory. */
    readonly sizeOf: (row: Row) => number,
  ) {
    this.#rows = new SizedLru(budgetBytes)
  }

  get size(): number {
    return this.#rows.size
  }

  get bytes(): number {
    return this.#rows.bytes
  }

  /** The row, frozen: it is shared by every search that shows it, so a caller changing it fails instead of changing theirs. */
  get(id: number): Row | undefined {
    return this.#rows.get(id)
  }

  set(id: number, row: Row): void {
    if (this.#rows.budgetBytes === 0) return
    this.#rows.set(id, deepFreeze(row), this.sizeOf(row))
  }

  delete(id: number): void {
    this.#rows.delete(id)
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
