import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * The usage ledger's journal: one JSON line per record not yet in the database, in the OS's page cache the moment it
 * is appended, so a process killed at any moment (SIGKILL included) leaves its records to the next start. Lines end
 * with '\n' and hold no NUL (JSON escapes it), which is how a reader finds where the records stop.
 */
export interface Journal {
  /** Whether appending is a copy into memory (a mapped file) rather than a system call. */
  readonly mapped: boolean
  /** Bytes of lines it holds. */
  readonly bytes: number
  /** Appends one line. Throws when it cannot (the caller logs it). */
  append(line: string): void
  /**
   * For a database outage or a stop with records left: the file holds exactly its lines, synced to disk, and what
   * is appended from now on is written and synced as an ordinary file. Returns the journal to use from now on.
   */
  durable(): Journal
  /** Everything in it is in the database: it starts over. */
  reset(): void
  /** Closes it; `remove`: the file goes too. */
  close(remove: boolean): void
}

/**
 * A line a system call: `write(2)` on an append-only file. The fallback where a file cannot be mapped, and the journal
 * of a database outage, whose every line is synced anyway.
 */
export class AppendJournal implements Journal {
  readonly mapped = false
  readonly #file: string
  readonly #fd: number
  #bytes: number

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true })
    this.#file = file
    this.#fd = openSync(file, 'a')
    this.#bytes = fstatSync(this.#fd).size
  }

  get bytes(): number {
    return this.#bytes
  }

  append(line: string): void {
    this.#bytes += writeSync(this.#fd, line)
  }

  durable(): Journal {
    fsyncSync(this.#fd)
    return this
  }

  reset(): void {
    ftruncateSync(this.#fd, 0)
    this.#bytes = 0
  }

  close(remove: boolean): void {
    closeSync(this.#fd)
    if (remove) rmSync(this.#file, { force: true })
  }
}

/**
 * Room made at a time: ~1,300 records of ~800 bytes. A fixed step, not doubling: under sustained load the queue may
 * not empty for a while and the journal keeps growing, and doubling a large file wrote megabytes of zeros in one go.
 */
const GROWTH_BYTES = 1 << 20
const ZEROS = new Uint8Array(64 * 1024)
const encoder = new TextEncoder()

/**
 * A line a copy into a shared mapping of the file (no system call): what is copied is in the page cache at once,
 * exactly as a `write(2)` would have left it, so a killed process loses nothing either. The `write(2)` per record it
 * replaces took 2.9-5.7% of the server thread's samples in `bun bench/gateway.ts --profile` (2 µs alone, up to 20 ms
 * beside a disk another thread was syncing); the copy takes 0.8% there, 0.1 µs alone.
 * The file is mapped past its records, zero-filled: a reader stops at the first NUL. The zeros are written, not left a
 * hole, so the disk space is reserved up front (a full disk is an error here, never a fault on a write to the mapping).
 */
export class MappedJournal implements Journal {
  readonly mapped = true
  readonly #file: string
  readonly #fd: number
  #map: Uint8Array
  /** Bytes of lines from the start of the file. */
  #used: number

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true })
    this.#file = file
    // Append mode: growing the file is a write at its end; the lines go through the mapping.
    this.#fd = openSync(file, 'a+')
    try {
      // A file already there holds lines only (a journal made durable, then reopened): they stay.
      this.#used = fstatSync(this.#fd).size
      this.#map = this.#grow(GROWTH_BYTES)
    } catch (err) {
      closeSync(this.#fd)
      throw err
    }
  }

  get bytes(): number {
    return this.#used
  }

  /** Zeros appended to the file, and the whole file mapped again. */
  #grow(bytes: number): Uint8Array {
    for (let left = bytes; left > 0; left -= ZEROS.length) writeSync(this.#fd, ZEROS, 0, Math.min(left, ZEROS.length))
    return Bun.mmap(this.#file)
  }

  append(line: string): void {
    let done = encoder.encodeInto(line, this.#map.subarray(this.#used))
    if (done.read < line.length) {
      // Too little room. The partial copy goes, so that a growth that fails (a full disk) leaves no half line behind.
      this.#map.fill(0, this.#used, this.#used + done.written)
      this.#map = this.#grow(Math.max(GROWTH_BYTES, line.length * 3))
      done = encoder.encodeInto(line, this.#map.subarray(this.#used))
      if (done.read < line.length) throw new Error('the journal could not grow')
    }
    this.#used += done.written
  }

  durable(): Journal {
    // The mapping is not touched again: the file is cut to its lines, then appended to as an ordinary file.
    ftruncateSync(this.#fd, this.#used)
    fsyncSync(this.#fd)
    closeSync(this.#fd)
    return new AppendJournal(this.#file)
  }

  reset(): void {
    this.#map.fill(0, 0, this.#used)
    this.#used = 0
  }

  close(remove: boolean): void {
    if (!remove) ftruncateSync(this.#fd, this.#used)
    closeSync(this.#fd)
    if (remove) rmSync(this.#file, { force: true })
  }
}

/** The records in a journal's text: its lines up to the first NUL (the unused, zero-filled rest of a mapped file). */
export function journalLines(text: string): string[] {
  const end = text.indexOf('\0')
  return (end === -1 ? text : text.slice(0, end)).split('\n').filter((line) => line.trim() !== '')
}
