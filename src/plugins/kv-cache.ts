/**
 * Plugins' kv values as this process last read or wrote them, for the embedded database only. There this process is
 * the only writer (PGlite's directory is opened by one process, and every kv write goes through HostApi), so a value
 * it wrote or read stays true until it writes again, and a kv.get answers without a statement on the one connection
 * every query shares (0.3-0.4 ms each under load on PGlite, most of the shipped `hello` route's time). On PostgreSQL
 * other replicas write the same rows, and every read goes to the database.
 *
 * A value is kept as the database would give it back: the text PostgreSQL's jsonb prints (object keys ordered by
 * length, then byte by byte; numbers and strings as JSON wrote them), parsed the way postgres.js parses it. So a
 * plugin reads the same value, keys in the same order, whether it came from here or from a statement.
 */
import { SizedLru } from '../cache/sized-lru.ts'

/** Bytes counted for an entry besides its key and value: the Map slot, the entry object, the parsed value's headers. */
const ENTRY_OVERHEAD = 160

interface Entry {
  /** null for a key that holds nothing. */
  value: unknown
  /** Epoch ms after which the key holds nothing, or null. */
  expiresAt: number | null
  /** What the value holds (its JSON's length). */
  bytes: number
}

export class KvCache {
  /** By idOf(plugin, key). */
  readonly #entries: SizedLru<string, Entry>
  /**
   * Writes per plugin: a read takes a ticket before its statement and keeps its answer only if no write of the plugin
   * came in between, so an older value never lands after a newer one.
   */
  readonly #writes = new Map<string, number>()

  constructor(readonly maxBytes: number) {
    this.#entries = new SizedLru(maxBytes, maxBytes / 4)
  }

  /** The key's value when it is known here (null: nothing there), or undefined. */
  get(plugin: string, key: string): { value: unknown } | undefined {
    const entry = this.#entries.get(idOf(plugin, key))
    if (!entry) return undefined
    return { value: entry.expiresAt !== null && entry.expiresAt <= Date.now() ? null : entry.value }
  }

  ticket(plugin: string): number {
    return this.#writes.get(plugin) ?? 0
  }

  /** What a read found (value null: no row), kept unless a write of the plugin came after `ticket`. */
  read(plugin: string, key: string, ticket: number, found: { value: unknown; bytes: number; expiresAt: number | null } | null): void {
    if (this.ticket(plugin) !== ticket) return
    this.#put(plugin, key, found ?? { value: null, bytes: 0, expiresAt: null })
  }

  /** A write the database took: `json` is the text it stored. */
  wrote(plugin: string, key: string, json: string, bytes: number, expiresAt: number | null): void {
    this.#bump(plugin)
    let value: unknown
    try {
      value = JSON.parse(jsonbText(JSON.parse(json)))
    } catch {
      // Nested past the stack: not worth keeping, and not to be answered from here either.
      this.unsure(plugin, key)
      return
    }
    this.#put(plugin, key, { value, bytes, expiresAt })
  }

  removed(plugin: string, key: string): void {
    this.#bump(plugin)
    this.#put(plugin, key, { value: null, bytes: 0, expiresAt: null })
  }

  /** A write whose outcome is not known: the key is read from the database next time. */
  unsure(plugin: string, key: string): void {
    this.#bump(plugin)
    this.#entries.delete(idOf(plugin, key))
  }

  /** Everything of a plugin whose rows went (uninstalled). */
  forget(plugin: string): void {
    this.#bump(plugin)
    const prefix = idOf(plugin, '')
    for (const id of this.#entries.keys()) if (id.startsWith(prefix)) this.#entries.delete(id)
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.#entries.size, bytes: this.#entries.bytes }
  }

  #bump(plugin: string): void {
    this.#writes.set(plugin, this.ticket(plugin) + 1)
  }

  /** Kept (or, too large to keep, forgotten): `bytes` is the value's, the key and the entry's overhead are added here. */
  #put(plugin: string, key: string, entry: Entry): void {
    const id = idOf(plugin, key)
    this.#entries.set(id, entry, entry.bytes + id.length * 2 + ENTRY_OVERHEAD)
  }
}

/** An entry's key: plugin + U+0000 + key (neither may hold U+0000). */
function idOf(plugin: string, key: string): string {
  return `${plugin}\u0000${key}`
}

/** jsonb orders an object's keys by their length in bytes, then byte by byte. */
function compareJsonbKeys(a: string, b: string): number {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length - y.length || Buffer.compare(x, y)
}

/** The text PostgreSQL prints for `value` (parsed JSON) stored as jsonb. */
export function jsonbText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>
    return `{${Object.keys(record)
      .sort(compareJsonbKeys)
      .map((k) => `${JSON.stringify(k)}:${jsonbText(record[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(value)
}
