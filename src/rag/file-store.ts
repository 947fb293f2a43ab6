import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SecretBox } from '../crypto/secretbox.ts'
import type { Queryable } from '../db/client.ts'

const MAGIC = Buffer.from('ENCF1')
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A stored original that can never be read as it is: missing, of an unknown format, or failing decryption. */
export class UnreadableFileError extends Error {}

/** Given a collection's document ids, the ones that have a row. */
export type KnownDocuments = (collectionId: string, documentIds: string[]) => Promise<Set<string>>

/**
 * Originals up to this size are kept in the database (migrations/0019), sealed as a file would be: a file per small
 * document cost more to create than the document cost to index.
 */
export const INLINE_ORIGINAL_BYTES = 64 * 1024

/** An original sealed for the database: its bytes as stored, and its data key wrapped for its row. */
export interface Sealed {
  body: Buffer
  wrappedKey: string
}

/**
 * Originals, encrypted at rest with envelope encryption: every original has its own random AES-256-GCM data key,
 * stored only wrapped by the master key (in the database row). The document id is bound into both ciphertexts, so
 * neither an original nor its wrapped key can be swapped onto another document. Large ones are files on the local
 * file system; small ones (`seal`) rows of rag_originals, written by the upload's transaction.
 * Sealed: "ENCF1" | iv (12) | tag (16) | ciphertext.
 */
export class FileStore {
  readonly #master: SecretBox

  constructor(
    readonly dir: string,
    masterKeyHex: string,
    /** Where small originals are read from (rag_originals); without it, only files are. */
    readonly sql?: Queryable,
  ) {
    this.#master = new SecretBox(masterKeyHex)
  }

  /** Encrypts an original under a new data key; the caller stores the body (see INLINE_ORIGINAL_BYTES). */
  seal(documentId: string, bytes: Uint8Array): Sealed {
    const dataKey = randomBytes(32)
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', dataKey, iv)
    cipher.setAAD(Buffer.from(documentId))
    const body = Buffer.concat([cipher.update(bytes), cipher.final()])
    return {
      body: Buffer.concat([MAGIC, iv, cipher.getAuthTag(), body]),
      wrappedKey: this.#master.seal(dataKey.toString('base64'), `file:${documentId}`),
    }
  }

  #path(collectionId: string, documentId: string): string {
    return join(this.dir, collectionId, `${documentId}.enc`)
  }

  /** Encrypts and writes the bytes; returns the wrapped data key to keep with the document. */
  async put(collectionId: string, documentId: string, bytes: Uint8Array): Promise<string> {
    const [key] = await this.putMany(collectionId, [{ documentId, bytes }])
    return key!
  }

  /**
   * Encrypts and writes several files of one collection, all at once: their wrapped data keys, in order. An upload
   * of 100 small files wrote eight at a time, each after its own mkdir, so its ~40 awaits in a row each waited behind
   * the indexer's work on the main thread: 100–118 ms of a 130 ms upload, against 8–10 ms for the same writes alone.
   */
  async putMany(collectionId: string, files: readonly { documentId: string; bytes: Uint8Array }[]): Promise<string[]> {
    if (files.length === 0) return []
    await mkdir(join(this.dir, collectionId), { recursive: true, mode: 0o700 })
    // Settled, all of them, before a failure is reported: the caller then deletes them, and a write still under way
    // would otherwise land after its delete.
    const settled = await Promise.allSettled(
      files.map(async ({ documentId, bytes }) => {
        const { body, wrappedKey } = this.seal(documentId, bytes)
        const path = this.#path(collectionId, documentId)
        // Written under its own name, never an existing one ('wx'): the id is new and its row is inserted only after
        // this write, so a file a crash cut short has no row and is swept. A temporary name and a rename doubled the
        // directory operations, which dominate the upload of small files: 0.1–1.5 ms of kernel time each under
        // ext4 here, with many files recently deleted (bench/README.md, ingestion).
        try {
          await writeFile(path, body, { mode: 0o600, flag: 'wx' })
        } catch (err) {
          // A part written before the failure (a full disk); a file that was already there is not this write's.
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await rm(path, { force: true })
          throw err
        }
        return wrappedKey
      }),
    )
    const failure = settled.find((r) => r.status === 'rejected')
    if (failure) throw failure.reason
    return settled.map((r) => (r as PromiseFulfilledResult<string>).value)
  }

  /**
   * The sealed rows of several documents' small originals, read in one statement, for `get`. A batch of small
   * documents read them one by one: 32 statements queued on the embedded database's one connection, behind the other
   * batch's write transaction, 4.6 ms each on average while SciFact was indexed.
   */
  async rows(documentIds: string[]): Promise<Map<string, Buffer>> {
    if (!this.sql || documentIds.length === 0) return new Map()
    const rows = await this.sql<{ document_id: string; body: Buffer }[]>`
      SELECT document_id, body FROM rag_originals WHERE document_id = ANY(${documentIds}::uuid[])`
    return new Map(rows.map((r) => [r.document_id, r.body]))
  }

  /**
   * The original: its row in rag_originals when it has one (a small one), else its file. With `rows` (from `rows`,
   * which covered this document), a document that has none there is read from its file without asking again.
   */
  async get(collectionId: string, documentId: string, wrappedKey: string, rows?: Map<string, Buffer>): Promise<Uint8Array> {
    const row = (rows ?? (await this.rows([documentId]))).get(documentId)
    if (row) return this.#open(documentId, row, wrappedKey)
    let raw: Buffer
    try {
      raw = await readFile(this.#path(collectionId, documentId))
    } catch (err) {
      // Other I/O errors (a network volume away for a moment) may pass; a missing file does not come back.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UnreadableFileError('the stored original is missing')
      throw err
    }
    return this.#open(documentId, raw, wrappedKey)
  }

  #open(documentId: string, raw: Buffer, wrappedKey: string): Uint8Array {
    if (!raw.subarray(0, MAGIC.length).equals(MAGIC)) throw new UnreadableFileError('the stored original has an unknown format')
    try {
      const dataKey = Buffer.from(this.#master.open(wrappedKey, `file:${documentId}`), 'base64')
      const at = MAGIC.length
      const decipher = createDecipheriv('aes-256-gcm', dataKey, raw.subarray(at, at + 12))
      decipher.setAAD(Buffer.from(documentId))
      decipher.setAuthTag(raw.subarray(at + 12, at + 28))
      return Buffer.concat([decipher.update(raw.subarray(at + 28)), decipher.final()])
    } catch {
      throw new UnreadableFileError('the stored original cannot be decrypted (damaged, or another master key)')
    }
  }

  async delete(collectionId: string, documentId: string): Promise<void> {
    await rm(this.#path(collectionId, documentId), { force: true })
  }

  async deleteCollection(collectionId: string): Promise<void> {
    await rm(join(this.dir, collectionId), { recursive: true, force: true })
  }

  /**
   * Removes what crashes leave behind: originals whose document row was never inserted (a write cut short included)
   * or was deleted without its file, and the temporary files of versions that wrote under a temporary name first.
   * Only files last written before `olderThan` are touched, so an upload in flight on another replica keeps its file.
   * Returns the paths removed.
   */
  async sweep(olderThan: Date, known: KnownDocuments): Promise<string[]> {
    const removed: string[] = []
    for (const collectionId of await names(this.dir)) {
      if (!UUID.test(collectionId)) continue
      const folder = join(this.dir, collectionId)
      const entries = await names(folder)
      const stale: { path: string; documentId: string | null }[] = []
      for (const name of entries) {
        const documentId = name.endsWith('.enc') ? name.slice(0, -4) : null
        if (!name.endsWith('.tmp') && !(documentId && UUID.test(documentId))) continue
        const path = join(folder, name)
        const info = await stat(path).catch(() => null)
        if (info?.isFile() && info.mtime < olderThan) stale.push({ path, documentId })
      }
      const ids = stale.flatMap((f) => (f.documentId ? [f.documentId] : []))
      const alive = ids.length > 0 ? await known(collectionId, ids) : new Set<string>()
      for (const f of stale) {
        if (f.documentId && alive.has(f.documentId)) continue
        await rm(f.path, { force: true })
        removed.push(f.path)
      }
      // A folder left empty by a deleted collection; a fresh one may be about to receive an upload.
      const info = await stat(folder).catch(() => null)
      if (entries.length === 0 && info && info.mtime < olderThan) await rmdir(folder).catch(() => {})
    }
    return removed
  }
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}
