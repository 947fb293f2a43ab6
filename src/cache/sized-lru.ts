/**
 * A map bounded by the bytes its values hold, least recently used dropped first: the one shape of the per-replica
 * memories (chunk rows shown by searches, plugins' kv values on the embedded database, bundled plugin code, lexical
 * snapshots). A JavaScript Map iterates in insertion order, so an entry moved to the end when it is used keeps the
 * Map in use order and the oldest is the first one iterated: no list to keep beside it.
 *
 * What a value holds is the caller's estimate (`bytes`), given when it is set and again when it grows in place.
 */
export class SizedLru<K, V> {
  readonly #entries = new Map<K, { value: V; bytes: number }>()
  #bytes = 0

  constructor(
    /** The bytes kept at most, but for the entry set or resized last (see `set`). 0 keeps nothing. */
    readonly budgetBytes: number,
    /** The largest entry taken: one larger would only push the others out. Defaults to the whole budget. */
    readonly maxEntryBytes = budgetBytes,
  ) {}

  get size(): number {
    return this.#entries.size
  }

  get bytes(): number {
    return this.#bytes
  }

  /** The value, which is now the most recently used. */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    // Moved to the end: the Map's order is the use order.
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    return entry.value
  }

  /**
   * Keeps `value` as the most recently used and drops the least recently used others until the budget holds; the new
   * entry itself is never dropped here, so with a maxEntryBytes above the budget one entry may stand over it. Returns
   * false, keeping nothing and dropping any older value of `key`, when the budget is 0 or `bytes` is over
   * maxEntryBytes.
   */
  set(key: K, value: V, bytes: number): boolean {
    this.delete(key)
    if (this.budgetBytes === 0 || bytes > this.maxEntryBytes) return false
    this.#entries.set(key, { value, bytes })
    this.#bytes += bytes
    this.#trim(key)
    return true
  }

  /** The entry's value grew or shrank in place to `bytes`: it becomes the most recently used, and others may go. */
  resize(key: K, bytes: number): void {
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    this.#bytes += bytes - entry.bytes
    entry.bytes = bytes
    this.#trim(key)
  }

  delete(key: K): boolean {
    const entry = this.#entries.get(key)
    if (entry === undefined) return false
    this.#entries.delete(key)
    this.#bytes -= entry.bytes
    return true
  }

  /** The keys, least recently used first. Deleting the key just given while iterating is safe. */
  keys(): MapIterator<K> {
    return this.#entries.keys()
  }

  #trim(keep: K): void {
    for (const [key, entry] of this.#entries) {
      if (this.#bytes <= this.budgetBytes || key === keep) break
      this.#entries.delete(key)
      this.#bytes -= entry.bytes
    }
  }
}
