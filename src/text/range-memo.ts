/**
 * Values computed from short strings, looked up by where the string stands in a larger text, so a hit makes no
 * string: the tokenizer's pre-tokens and the analyzer's words are mostly repeats (natural text is Zipf), and a Map
 * keyed by each matched piece cost more than finding the pieces, since every piece had to be made and hashed as a
 * string of its own (src/gateway/token-count.ts has the figures).
 *
 * Open addressing over FNV-1a of the UTF-16 units, in a table of twice `limit` slots; at `limit` entries it is
 * cleared and starts again (the common strings come back within a page): bounded memory without LRU bookkeeping.
 * The arrays are made on first use.
 */
export class RangeMemo<V> {
  readonly #limit: number
  readonly #mask: number
  /** '' marks an empty slot (keys are never empty); filled, so the engine keeps one contiguous array. */
  #keys: string[] = []
  #hashes = new Int32Array(0)
  #values: V[] = []
  #size = 0

  constructor(
    limit: number,
    readonly compute: (key: string) => V,
  ) {
    if (!Number.isInteger(Math.log2(limit))) throw new RangeError('limit must be a power of two')
    this.#limit = limit
    this.#mask = limit * 2 - 1
  }

  /** The value for `text`'s chars [start, end) (end > start), computed and kept on a miss. */
  get(text: string, start: number, end: number): V {
    if (this.#keys.length === 0) this.#allocate()
    const length = end - start
    let h = 0x811c9dc5
    for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
    let slot = h & this.#mask
    for (let key = this.#keys[slot] as string; key !== ''; key = this.#keys[slot] as string) {
      if (this.#hashes[slot] === h && key.length === length) {
        let i = 0
        while (i < length && key.charCodeAt(i) === text.charCodeAt(start + i)) i++
        if (i === length) return this.#values[slot] as V
      }
      slot = (slot + 1) & this.#mask
    }
    const key = start === 0 && end === text.length ? text : text.slice(start, end)
    const value = this.compute(key)
    if (this.#size >= this.#limit) {
      this.#keys.fill('')
      this.#values.fill(undefined as V)
      this.#size = 0
      slot = h & this.#mask
    }
    this.#keys[slot] = key
    this.#hashes[slot] = h
    this.#values[slot] = value
    this.#size++
    return value
  }

  #allocate(): void {
    this.#keys = new Array<string>(this.#limit * 2).fill('')
    this.#hashes = new Int32Array(this.#limit * 2)
    this.#values = new Array<V>(this.#limit * 2).fill(undefined as V)
  }
}
