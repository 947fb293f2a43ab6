import { createHash } from 'node:crypto'
import type { Queryable, Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { JobQueue } from '../jobs/queue.ts'
import type { CollectionRow, CollectionService, RagActor } from './collections.ts'
import type { RagEvents } from './events.ts'
import { formatOf } from './extract/index.ts'
import { INLINE_ORIGINAL_BYTES, UnreadableFileError, type FileStore } from './file-store.ts'
import type { CollectionVersion, LexicalCache } from './lexical-cache.ts'
import type { VectorStore } from './vectors/index.ts'

export const INGEST_JOB = 'rag.ingest'
/** Files up to this size are marked small in their job, and indexed several at a time (indexer-batch.ts). */
export const SMALL_FILE_BYTES = 64 * 1024

const ingestPayload = (documentId: string, bytes: number) => (bytes <= SMALL_FILE_BYTES ? { documentId, small: true } : { documentId })

export interface DocumentRow {
  id: string
  collection_id: string
  filename: string
  format: string
  content_type: string | null
  size: string
  sha256: string
  wrapped_key: string
  status: 'queued' | 'processing' | 'indexed' | 'failed'
  error: string | null
  progress: number
  job_id: string | null
  title: string | null
  metadata: Record<string, unknown>
  record_count: number
  chunk_count: number
  token_count: number
  uploaded_by: string | null
  created_at: Date
  updated_at: Date
  indexed_at: Date | null
}

export const presentDocument = (d: DocumentRow) => ({
  id: d.id,
  collection_id: d.collection_id,
  filename: d.filename,
  format: d.format,
  content_type: d.content_type,
  size: Number(d.size),
  sha256: d.sha256,
  status: d.status,
  error: d.error,
  progress: d.progress,
  title: d.title,
  metadata: d.metadata,
  record_count: d.record_count,
  chunk_count: d.chunk_count,
  token_count: d.token_count,
  created_at: d.created_at.toISOString(),
  updated_at: d.updated_at.toISOString(),
  indexed_at: d.indexed_at?.toISOString() ?? null,
})
export type DocumentView = ReturnType<typeof presentDocument>

export interface ChunkRow {
  id: string
  position: number
  text: string
  tokens: number
  heading: string | null
  page: number | null
  sheet: string | null
  row_from: number | null
  row_to: number | null
  metadata: Record<string, unknown>
}

export const presentChunk = (c: ChunkRow) => ({
  id: Number(c.id),
  position: c.position,
  text: c.text,
  tokens: c.tokens,
  heading: c.heading,
  page: c.page,
  sheet: c.sheet,
  rows: c.row_from === null || c.row_to === null ? null : ([c.row_from, c.row_to] as [number, number]),
  metadata: c.metadata,
})

export interface UploadFile {
  filename: string
  contentType: string | null
  bytes: Uint8Array
}

/** A file that passed the checks, on its way in. */
interface Candidate {
  file: UploadFile
  name: string
  format: string
  /** Its place in the request, which the answer keeps. */
  at: number
  id: string
  sha256: string
  wrappedKey: string
  /** A small original, sealed for its row in rag_originals (inserted with the document's). */
  sealed?: Buffer
}

export interface Rejection {
  filename: string
  reason: 'unsupported_type' | 'empty' | 'too_large' | 'duplicate' | 'invalid_name'
  message: string
}

/**
 * Removes a document's chunks (their postings and vectors go with them) and corrects the collection's totals. With
 * nothing to remove (the indexer clears a document before its first write) the collection is left as it was: its
 * version, which keeps the replicas' in-memory postings (lexical-cache.ts), does not move.
 */
export async function removeChunks(tx: Queryable, collectionId: string, documentId: string): Promise<void> {
  await tx`
    WITH gone AS (DELETE FROM rag_chunks WHERE document_id = ${documentId} RETURNING terms)
    UPDATE rag_collections SET chunk_count = chunk_count - (SELECT count(*) FROM gone),
      term_count = term_count - (SELECT coalesce(sum(terms), 0) FROM gone), updated_at = now()
    WHERE id = ${collectionId} AND EXISTS (SELECT 1 FROM gone)`
}

/** Uploads, listing, download, reprocessing and deletion of documents; the indexing itself runs as a job. */
export class DocumentService {
  constructor(
    readonly sql: Sql,
    readonly collections: CollectionService,
    readonly files: FileStore,
    readonly queue: JobQueue,
    readonly vectors: VectorStore,
    readonly events: RagEvents,
    maxFileBytes: number | (() => number),
    /** The replica's in-memory postings, told of the version an upload moves. */
    readonly lexical?: LexicalCache,
  ) {
    this.#maxFileBytes = typeof maxFileBytes === 'number' ? () => maxFileBytes : maxFileBytes
  }

  readonly #maxFileBytes: () => number

  /** The size limit of one file, as the settings say now. */
  get maxFileBytes(): number {
    return this.#maxFileBytes()
  }

  /**
   * Stores each acceptable file encrypted and queues its indexing; returns at once. Files refused up front (type,
   * size, empty, already in the collection) are reported by name and reason; the rest of the batch continues.
   * Problems only extraction can see (corrupt, encrypted, content not matching the extension) fail the document.
   */
  async upload(actor: RagActor, collectionId: string, files: UploadFile[]): Promise<{ accepted: DocumentView[]; rejected: Rejection[] }> {
    const collection = await this.collections.get(actor, collectionId)
    const rejected: (Rejection & { at: number })[] = []
    const candidates: Candidate[] = []
    files.forEach((file, at) => {
      const checked = this.#check(file)
      if ('reason' in checked) rejected.push({ ...checked, at })
      else candidates.push({ ...checked, at, id: crypto.randomUUID(), sha256: createHash('sha256').update(file.bytes).digest('hex'), wrappedKey: '' })
    })
    let inserted = new Map<string, DocumentRow>()
    if (candidates.length > 0) {
      // Small originals go in with their rows; files are written before the rows that point at them.
      for (const c of candidates)
        if (c.file.bytes.byteLength <= INLINE_ORIGINAL_BYTES) ({ body: c.sealed, wrappedKey: c.wrappedKey } = this.files.seal(c.id, c.file.bytes))
      const onDisk = candidates.filter((c) => !c.sealed)
      try {
        const keys = await this.files.putMany(collection.id, onDisk.map((c) => ({ documentId: c.id, bytes: c.file.bytes })))
        onDisk.forEach((c, i) => (c.wrappedKey = keys[i]!))
        inserted = await this.#insert(actor, collection, candidates)
      } catch (err) {
        // Whichever were written (a failed write leaves the rest written): a missing file is no error to delete.
        await Promise.all(onDisk.map((c) => this.files.delete(collection.id, c.id)))
        throw err
      }
      const duplicates = candidates.filter((c) => !inserted.has(c.id))
      await Promise.all(duplicates.filter((c) => !c.sealed).map((c) => this.files.delete(collection.id, c.id)))
      const existing = duplicates.length === 0 ? new Map<string, string>() : new Map(
        (await this.sql<{ sha256: string; filename: string }[]>`
          SELECT sha256, filename FROM rag_documents WHERE collection_id = ${collection.id} AND sha256 IN ${this.sql(duplicates.map((c) => c.sha256))}`
        ).map((r) => [r.sha256, r.filename]),
      )
      for (const c of duplicates) {
        const as = existing.get(c.sha256)
        rejected.push({ at: c.at, filename: c.file.filename, reason: 'duplicate', message: `${c.name}: the same content is already in this collection${as ? ` as "${as}"` : ''}` })
      }
      for (const row of inserted.values()) this.events.publish(row)
      this.queue.wake()
    }
    return {
      accepted: candidates.flatMap((c) => { const row = inserted.get(c.id); return row ? [presentDocument(row)] : [] }),
      rejected: rejected.sort((x, y) => x.at - y.at).map(({ at: _, ...r }) => r),
    }
  }

  /** The checks a file passes before it is stored: its name, type and size; a rejection otherwise. */
  #check(file: UploadFile): Rejection | { file: UploadFile; name: string; format: string } {
    const name = file.filename.split(/[\\/]/).pop()?.trim() ?? ''
    const reject = (reason: Rejection['reason'], message: string): Rejection => ({ filename: file.filename, reason, message })
    if (!name || name.length > 255) return reject('invalid_name', `"${file.filename}": the file name is empty or longer than 255 characters`)
    const format = formatOf(name)
    if (!format) return reject('unsupported_type', `${name}: this file type is not supported (txt, md, html, pdf, docx, xlsx, xls, csv, json, jsonl are)`)
    if (file.bytes.byteLength === 0) return reject('empty', `${name}: the file is empty`)
    if (file.bytes.byteLength > this.maxFileBytes)
      return reject('too_large', `${name}: the file is ${size(file.bytes.byteLength)}; the limit is ${size(this.maxFileBytes)}`)
    return { file, name, format }
  }

  /**
   * One transaction for the whole request: the jobs, the rows (a content already in the collection, or twice in
   * the request, is skipped by the unique key) and the collection's totals; the rows inserted, by id. Per file, this
   * was ~6 round trips, most of the time of an upload of small files.
   */
  async #insert(actor: RagActor, collection: CollectionRow, candidates: Candidate[]): Promise<Map<string, DocumentRow>> {
    let versions: { before: CollectionVersion; after: CollectionVersion } | undefined
    const rows = await this.sql.begin(async (tx) => {
      const jobIds = await this.queue.enqueueMany(
        INGEST_JOB,
        candidates.map((c) => ingestPayload(c.id, c.file.bytes.byteLength)),
        { sql: tx },
      )
      const docs = await tx<DocumentRow[]>`
        INSERT INTO rag_documents (id, collection_id, filename, format, content_type, size, sha256, wrapped_key, job_id, uploaded_by)
        SELECT t.id, ${collection.id}, t.filename, t.format, t.content_type, t.size, t.sha256, t.wrapped_key, t.job_id, ${actor.userId}
        FROM unnest(${candidates.map((c) => c.id)}::uuid[], ${candidates.map((c) => c.name)}::text[], ${candidates.map((c) => c.format)}::text[],
          ${candidates.map((c) => c.file.contentType)}::text[], ${candidates.map((c) => c.file.bytes.byteLength)}::bigint[],
          ${candidates.map((c) => c.sha256)}::text[], ${candidates.map((c) => c.wrappedKey)}::text[], ${jobIds}::uuid[])
          WITH ORDINALITY AS t(id, filename, format, content_type, size, sha256, wrapped_key, job_id, n)
        ORDER BY t.n
        ON CONFLICT (collection_id, sha256) DO NOTHING
        RETURNING *`
      const kept = new Set(docs.map((d) => d.job_id))
      const unused = jobIds.filter((id) => !kept.has(id))
      if (unused.length > 0) await tx`DELETE FROM jobs WHERE id IN ${tx(unused)}`
      if (docs.length === 0) return docs
      const ids = new Set(docs.map((d) => d.id))
      const originals = candidates.flatMap((c) => (c.sealed && ids.has(c.id) ? [{ document_id: c.id, body: c.sealed }] : []))
      if (originals.length > 0) await tx`INSERT INTO rag_originals ${tx(originals, 'document_id', 'body')}`
      // The version before and after, read under the row's lock, for the lexical cache (its postings are unchanged).
      const [before] = await tx<CollectionVersion[]>`
        SELECT updated_at, chunk_count, term_count FROM rag_collections WHERE id = ${collection.id} FOR NO KEY UPDATE`
      const [after] = await tx<CollectionVersion[]>`
        UPDATE rag_collections SET document_count = document_count + ${docs.length},
          bytes = bytes + ${docs.reduce((n, d) => n + Number(d.size), 0)}, updated_at = now()
        WHERE id = ${collection.id} RETURNING updated_at, chunk_count, term_count`
      if (before && after) versions = { before, after }
      return docs
    })
    if (versions) this.lexical?.relabel(collection.id, versions.before, versions.after)
    return new Map(rows.map((r) => [r.id, r]))
  }

  async list(
    actor: RagActor,
    collectionId: string,
    q: { status?: DocumentRow['status'] | undefined; limit: number; offset: number },
  ): Promise<{ items: DocumentRow[]; total: number }> {
    const collection = await this.collections.get(actor, collectionId)
    const status = q.status ?? null
    const where = this.sql`collection_id = ${collection.id} AND (${status}::text IS NULL OR status = ${status})`
    const items = await this.sql<DocumentRow[]>`
      SELECT * FROM rag_documents WHERE ${where} ORDER BY created_at DESC, id LIMIT ${q.limit} OFFSET ${q.offset}`
    const [count] = await this.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rag_documents WHERE ${where}`
    return { items: [...items], total: count?.n ?? 0 }
  }

  /** Visible through its collection; otherwise reported as missing. */
  async get(actor: RagActor, id: string): Promise<{ doc: DocumentRow; collection: CollectionRow }> {
    const [doc] = await this.sql<DocumentRow[]>`SELECT * FROM rag_documents WHERE id = ${id}`
    if (!doc) throw new ApiError('not_found', `Document ${id} not found`)
    try {
      return { doc, collection: await this.collections.get(actor, doc.collection_id) }
    } catch {
      throw new ApiError('not_found', `Document ${id} not found`)
    }
  }

  async chunks(actor: RagActor, id: string, q: { limit: number; offset: number }): Promise<{ items: ChunkRow[]; total: number }> {
    const { doc } = await this.get(actor, id)
    const items = await this.sql<ChunkRow[]>`
      SELECT id, position, text, tokens, heading, page, sheet, row_from, row_to, metadata FROM rag_chunks
      WHERE document_id = ${doc.id} ORDER BY position LIMIT ${q.limit} OFFSET ${q.offset}`
    const [count] = await this.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rag_chunks WHERE document_id = ${doc.id}`
    return { items: [...items], total: count?.n ?? 0 }
  }

  async download(actor: RagActor, id: string): Promise<{ doc: DocumentRow; bytes: Uint8Array }> {
    const { doc } = await this.get(actor, id)
    try {
      return { doc, bytes: await this.files.get(doc.collection_id, doc.id, doc.wrapped_key) }
    } catch (err) {
      if (err instanceof UnreadableFileError) throw new ApiError('stored_file_unreadable', `${doc.filename}: ${err.message}; upload it again`)
      throw err
    }
  }

  /** Queues the document to be extracted, chunked and embedded again (after a failure or a settings change). */
  async reprocess(actor: RagActor, id: string): Promise<DocumentRow> {
    const { doc } = await this.get(actor, id)
    return this.#requeue(doc)
  }

  async #requeue(doc: DocumentRow): Promise<DocumentRow> {
    const [row] = await this.sql.begin((tx) => this.#queueAgain(tx, [doc]))
    if (!row) throw new ApiError('not_found', `Document ${doc.id} not found`)
    this.events.publish(row)
    return row
  }

  /** New jobs for the documents, in two statements whatever their number; a job still running for one sees the new job id and stops writing. */
  async #queueAgain(tx: Queryable, docs: readonly Pick<DocumentRow, 'id' | 'size'>[]): Promise<DocumentRow[]> {
    const jobIds = await this.queue.enqueueMany(INGEST_JOB, docs.map((d) => ingestPayload(d.id, Number(d.size))), { sql: tx })
    const ids = docs.map((d) => d.id)
    return tx<DocumentRow[]>`
      UPDATE rag_documents d SET status = 'queued', progress = 0, error = NULL, job_id = t.job_id, updated_at = now()
      FROM unnest(${ids}::uuid[], ${jobIds}::uuid[]) AS t(id, job_id)
      WHERE d.id = t.id AND d.id = ANY(${ids}::uuid[])
      RETURNING d.*`
  }

  /**
   * Queues every document of the collection again, within the transaction that changed its chunking or embedding
   * model (and locked its documents): no job of the old settings writes any more, none of the new ones starts
   * before the change is committed. With a new model the old vectors go too, so search meets only one vector size
   * (lexical results carry it until the documents are indexed again). Call `announce` with the result once committed.
   */
  async requeueCollection(tx: Queryable, collectionId: string, change: { modelChanged: boolean }): Promise<DocumentRow[]> {
    // Locked in id order, the order every writer of several documents takes them in.
    const docs = await tx<Pick<DocumentRow, 'id' | 'size'>[]>`
      SELECT id, size FROM rag_documents WHERE collection_id = ${collectionId} ORDER BY id FOR UPDATE`
    const queued = docs.length > 0 ? await this.#queueAgain(tx, docs) : []
    if (change.modelChanged) await this.vectors.clear(collectionId, tx)
    return queued
  }

  announce(queued: readonly DocumentRow[]): void {
    for (const row of queued) this.events.publish(row)
    if (queued.length) this.queue.wake()
  }

  /** Removes the file, the chunks, postings and vectors. */
  async delete(actor: RagActor, id: string): Promise<void> {
    const { doc } = await this.get(actor, id)
    await this.sql.begin(async (tx) => {
      // The document row before the collection row, as the indexer locks them: the other order deadlocks with an
      // indexing write in flight. Waiting for that write also lets its chunks be counted off, not only cascaded away.
      await tx`SELECT 1 FROM rag_documents WHERE id = ${doc.id} FOR UPDATE`
      await removeChunks(tx, doc.collection_id, doc.id)
      const [gone] = await tx<{ size: string }[]>`DELETE FROM rag_documents WHERE id = ${doc.id} RETURNING size`
      if (gone)
        await tx`
          UPDATE rag_collections SET document_count = document_count - 1, bytes = bytes - ${gone.size}, updated_at = now()
          WHERE id = ${doc.collection_id}`
      if (doc.job_id) await tx`UPDATE jobs SET status = 'done', error = 'document deleted' WHERE id = ${doc.job_id} AND status = 'queued'`
    })
    await this.vectors.deleteDocument(doc.collection_id, doc.id)
    await this.files.delete(doc.collection_id, doc.id)
    this.events.publish({ ...doc, status: 'deleted' })
  }

  async deleteCollection(actor: RagActor, collectionId: string): Promise<void> {
    const collection = await this.collections.get(actor, collectionId)
    await this.sql.begin(async (tx) => {
      // The documents before the collection row, the order the indexer locks them in: deleting the collection row
      // first (its cascade then waiting for a document the indexer holds, while the indexer waits for the
      // collection row) deadlocked under load on PostgreSQL.
      await tx`SELECT 1 FROM rag_documents WHERE collection_id = ${collection.id} ORDER BY id FOR UPDATE`
      await tx`SELECT 1 FROM rag_collections WHERE id = ${collection.id} FOR UPDATE`
      await tx`
        UPDATE jobs SET status = 'done', error = 'collection deleted'
        WHERE status = 'queued' AND id IN (SELECT job_id FROM rag_documents WHERE collection_id = ${collection.id})`
      // Chunks first in bulk: cheaper than letting every document cascade on its own.
      await tx`DELETE FROM rag_chunks WHERE collection_id = ${collection.id}`
      await tx`DELETE FROM rag_collections WHERE id = ${collection.id}`
    })
    await this.vectors.deleteCollection(collection.id)
    await this.files.deleteCollection(collection.id)
  }
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`
  if (bytes < 1024 * 1024) return `${Math.round((bytes / 1024) * 10) / 10} KB`
  return `${Math.round((bytes / 1024 / 1024) * 10) / 10} MB`
}
