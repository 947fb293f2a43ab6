import type { Queryable, Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { GatewayService } from '../gateway/service.ts'
import { PermanentJobError, type Job, type JobControl, type JobHandler } from '../jobs/queue.ts'
import type { Logger } from '../log.ts'
import type { CollectionRow } from './collections.ts'
import { removeChunks, type DocumentRow } from './documents.ts'
import type { RagEvents } from './events.ts'
import { UnreadableFileError, type FileStore } from './file-store.ts'
import { asRead, chunkKey, insertChunks, insertTerms, WRITE_BATCH, type ChunkRows, type PreparedChunk } from './chunk-rows.ts'
import type { Prepared } from './prepare.ts'
import type { PreparePool } from './prepare-pool.ts'
import type { CollectionVersion, LexicalCache, WrittenChunk } from './lexical-cache.ts'
import type { VectorStore } from './vectors/index.ts'
import type { ChunkScreen } from '../security/chunk-screen.ts'
import { indexBatch } from './indexer-batch.ts'

/** Inputs per embeddings request. */
const EMBED_BATCH = 64
/**
 * Small documents (marked so in their job at upload, documents.ts SMALL_FILE_BYTES) are indexed up to this many at a
 * time: one-abstract files went at ~90 documents/s, each paying ~20 round trips to the database on its own.
 */
export const INGEST_BATCH = 32

/**
 * The ingestion job: decrypt the original, extract text, chunk it, write BM25 postings and embeddings in short
 * batches. Safe to run again: a failed or crashed attempt of the same job is continued after the chunks it wrote,
 * anything else is removed first. It stops writing as soon as the document is deleted or queued again, or the
 * job is taken over by another worker.
 */
export class Indexer implements JobHandler<{ documentId: string }> {
  constructor(
    readonly deps: {
      sql: Sql
      files: FileStore
      vectors: VectorStore
      gateway: GatewayService
      events: RagEvents
      log: Logger
      /** Prompt-injection screening of each chunk (src/security); none: chunks are stored unscored. */
      screen?: ChunkScreen | null
      /** Hears a document whose indexing gave up, once (the notification document.failed). */
      onFailed?: ((doc: DocumentRow, error: string) => void) | undefined
      /** The replica's in-memory postings, told of every batch written. */
      lexical?: LexicalCache | undefined
      /** The threads that extract, chunk, analyse and score documents (prepare.ts). */
      preparer: PreparePool
    },
  ) {}

  /** Small documents are claimed and indexed together (indexer-batch.ts). */
  readonly batch = {
    size: INGEST_BATCH,
    when: { small: true },
    run: (jobs: Job<{ documentId: string }>[], control: (job: Job<{ documentId: string }>) => JobControl) => indexBatch(this, jobs, control),
  }

  async #load(documentId: string, jobId: string): Promise<{ doc: DocumentRow; collection: CollectionRow } | null> {
    const [doc] = await this.deps.sql<DocumentRow[]>`SELECT * FROM rag_documents WHERE id = ${documentId}`
    // Deleted, or superseded by a newer job (reprocess): nothing to do.
    if (!doc || doc.job_id !== jobId) return null
    const [collection] = await this.deps.sql<CollectionRow[]>`SELECT * FROM rag_collections WHERE id = ${doc.collection_id}`
    return collection ? { doc, collection } : null
  }

  /** Updates the document while this job still owns it, and tells its watchers; the row, or undefined. */
  async #status(documentId: string, jobId: string, fields: Partial<Pick<DocumentRow, 'status' | 'progress' | 'error'>>): Promise<DocumentRow | undefined> {
    const [row] = await this.deps.sql<DocumentRow[]>`
      UPDATE rag_documents SET ${this.deps.sql(fields)}, updated_at = now()
      WHERE id = ${documentId} AND job_id = ${jobId} RETURNING *`
    if (row) this.deps.events.publish(row)
    return row
  }

  async run(job: Job<{ documentId: string }>, ctl: JobControl): Promise<void> {
    const loaded = await this.#load(job.payload.documentId, job.id)
    if (!loaded) return
    const { doc, collection } = loaded
    // Progress is kept: above 0 it says an earlier attempt of this job has written chunks (see #written).
    if (!(await this.#status(doc.id, job.id, { status: 'processing', error: null }))) return

    const prepared = await this.prepare(doc, collection)
    const { chunks } = prepared
    await ctl.progress(0.05)

    // An earlier attempt of this job that wrote chunks is continued, so its embeddings are not paid for twice;
    // anything else left behind (another job's chunks, a partial mismatch) is removed before writing again.
    let written = doc.progress > 0 ? await this.#written(doc.id, chunks) : 0
    if (written === 0) {
      await this.deps.sql.begin((tx) => removeChunks(tx, collection.id, doc.id))
      await this.deps.vectors.deleteDocument(collection.id, doc.id)
    }

    let dimensions = collection.embedding_dimensions
    const flags = { chunks: 0, signals: new Set<string>() }
    for (let at = written; at < chunks.length; at += WRITE_BATCH) {
      if (ctl.signal.aborted) throw ctl.signal.reason
      const batch = chunks.slice(at, at + WRITE_BATCH)
      // Scored as the model would read the chunk: with its title and heading.
      const verdicts = this.deps.screen
        ? await this.deps.screen.screen(batch.map(asRead), { userId: collection.owner_id, documentId: doc.id }, ctl.signal, prepared.heuristics?.slice(at, at + WRITE_BATCH))
        : null
      for (const v of verdicts ?? []) if (v.flagged) {
        flags.chunks++
        for (const signal of v.signals) flags.signals.add(signal)
      }
      const vectors = collection.embedding_model ? await this.embed(collection, doc, batch, ctl.signal) : null
      if (vectors && vectors[0]) {
        if (dimensions !== null && dimensions !== vectors[0].length)
          throw new PermanentJobError(
            `${doc.filename}: the model ${collection.embedding_model} returned ${vectors[0].length}-dimensional vectors; the collection has ${dimensions}`,
          )
        dimensions = vectors[0].length
      }
      const rows: ChunkRows = {
        collection,
        doc,
        chunks: batch,
        terms: prepared.terms.slice(at, at + WRITE_BATCH),
        lengths: prepared.lengths.slice(at, at + WRITE_BATCH),
        verdicts,
      }
      const stillOurs = await this.#write(collection, doc, job, rows, vectors)
      if (!stillOurs) return
      // The replica's in-memory postings follow its own writes (a search right after indexing needs no reload).
      this.deps.lexical?.applyWrite(collection.id, stillOurs.before, stillOurs.after, stillOurs.chunks)
      written += batch.length
      await ctl.progress(0.05 + (0.95 * written) / chunks.length)
      await this.#status(doc.id, job.id, { progress: 0.05 + (0.95 * written) / chunks.length })
    }

    const { title, metadata } = prepared
    // The document row before the collection row, the order every writer locks them in (no deadlocks).
    const row = await this.deps.sql.begin(async (tx) => {
      if (!(await this.#owns(tx, doc.id, job))) return undefined
      const [updated] = await tx<DocumentRow[]>`
        UPDATE rag_documents SET status = 'indexed', progress = 1, error = NULL, title = ${title}, metadata = ${tx.json(metadata as never)},
          record_count = ${prepared.records}, chunk_count = ${chunks.length},
          token_count = ${chunks.reduce((n, c) => n + c.tokens, 0)}, indexed_at = now(), updated_at = now()
        WHERE id = ${doc.id} RETURNING *`
      if (dimensions !== null && collection.embedding_dimensions === null)
        await tx`UPDATE rag_collections SET embedding_dimensions = ${dimensions} WHERE id = ${collection.id} AND embedding_dimensions IS NULL`
      return updated
    })
    if (row) this.deps.events.publish(row)
    if (row && flags.chunks > 0)
      await this.deps.screen?.flagged({ id: doc.id, collectionId: collection.id, filename: doc.filename, ownerId: collection.owner_id }, flags.chunks, chunks.length, [...flags.signals])
  }

  /**
   * The document's chunks, their terms and heuristic verdicts, prepared on a thread of the pool from the stored
   * original (`originals`: a batch's small ones, read at once); one that cannot be read or holds no text fails for good.
   */
  async prepare(doc: DocumentRow, collection: CollectionRow, originals?: Map<string, Buffer>): Promise<Extract<Prepared, { ok: true }>> {
    let bytes: Uint8Array
    try {
      bytes = await this.deps.files.get(doc.collection_id, doc.id, doc.wrapped_key, originals)
    } catch (err) {
      if (err instanceof UnreadableFileError) throw new PermanentJobError(`${doc.filename}: ${err.message}`)
      throw err
    }
    const prepared = await this.deps.preparer.prepare({
      filename: doc.filename,
      bytes,
      chunkTokens: collection.chunk_tokens,
      chunkOverlap: collection.chunk_overlap,
      injectionThreshold: this.deps.screen ? this.deps.screen.threshold : null,
    })
    if (!prepared.ok) throw new PermanentJobError(prepared.message)
    return prepared
  }

  /**
   * Whether the document is still this attempt's: not deleted, not queued again, and the job not taken over by
   * another worker after this one's lease ran out (which bumps the attempt count). The shared locks make a
   * delete, a requeue or a takeover wait until the caller's transaction ends.
   */
  async #owns(tx: Queryable, documentId: string, job: Job): Promise<boolean> {
    const [mine] = await tx`
      SELECT 1 FROM rag_documents d JOIN jobs j ON j.id = d.job_id
      WHERE d.id = ${documentId} AND j.id = ${job.id} AND j.attempts = ${job.attempts} AND j.status = 'processing'
      FOR SHARE`
    return Boolean(mine)
  }

  /** How many leading chunks are stored exactly as this attempt would write them; 0 when they are not. */
  async #written(documentId: string, chunks: PreparedChunk[]): Promise<number> {
    const rows = await this.deps.sql<{ position: number; text: string }[]>`
      SELECT position, text FROM rag_chunks WHERE document_id = ${documentId} ORDER BY position`
    const intact = rows.length <= chunks.length && rows.every((r, i) => r.position === i && r.text === chunks[i]!.text)
    return intact ? rows.length : 0
  }

  async embed(collection: CollectionRow, doc: DocumentRow, batch: PreparedChunk[], signal: AbortSignal): Promise<Float32Array[]> {
    const out: Float32Array[] = []
    for (let at = 0; at < batch.length; at += EMBED_BATCH) {
      const slice = batch.slice(at, at + EMBED_BATCH)
      try {
        out.push(
          ...(await this.deps.gateway.embed(
            { source: 'rag', userId: collection.owner_id, apiKey: null, requestId: `ingest:${doc.id}`, startedAt: performance.now() },
            collection.embedding_model!,
            slice.map(asRead),
            signal,
          )),
        )
      } catch (err) {
        // Budget and model problems are the owner's to fix; retrying would only fail again.
        if (err instanceof ApiError && err.status < 500 && err.status !== 429)
          throw new PermanentJobError(`${doc.filename}: embedding failed: ${err.message}`)
        throw err
      }
    }
    return out
  }

  /**
   * One transaction: chunks, their postings and vectors, the collection's totals. False when the document is no longer
   * ours; otherwise the chunks written and the collection's version before and after (for the lexical cache).
   */
  async #write(
    collection: CollectionRow,
    doc: DocumentRow,
    job: Job,
    rows: ChunkRows,
    vectors: Float32Array[] | null,
  ): Promise<false | { before: CollectionVersion; after: CollectionVersion; chunks: WrittenChunk[] }> {
    const batch = rows.chunks
    return this.deps.sql.begin(async (tx) => {
      if (!(await this.#owns(tx, doc.id, job))) return false
      const ids = await insertChunks(tx, [rows])
      await insertTerms(tx, [rows], ids)
      const idOf = (c: PreparedChunk) => ids.get(chunkKey(doc.id, c.position))!
      if (vectors)
        await this.deps.vectors.upsert(
          collection.id,
          batch.map((c, i) => ({ chunkId: idOf(c), documentId: doc.id, vector: vectors[i]!, metadata: c.metadata })),
          tx,
        )
      // Locked and read first, so `before` is the version this write follows, whatever committed meanwhile. (NO KEY:
      // the chunks inserted above hold a key-share lock on the row, which FOR UPDATE would wait on across writers.)
      const [before] = await tx<CollectionVersion[]>`
        SELECT updated_at, chunk_count, term_count FROM rag_collections WHERE id = ${collection.id} FOR NO KEY UPDATE`
      const [after] = await tx<CollectionVersion[]>`
        UPDATE rag_collections SET chunk_count = chunk_count + ${batch.length},
          term_count = term_count + ${rows.lengths.reduce((a, b) => a + b, 0)}, updated_at = now()
        WHERE id = ${collection.id} RETURNING updated_at, chunk_count, term_count`
      if (!before || !after) return false
      return { before, after, chunks: batch.map((c, i) => ({ id: idOf(c), documentId: doc.id, length: rows.lengths[i]!, terms: rows.terms[i]! })) }
    })
  }

  async onGiveUp(job: Job<{ documentId: string }>, error: string): Promise<void> {
    const row = await this.#status(job.payload.documentId, job.id, { status: 'failed', error })
    if (row) {
      // A failed document keeps no half-written chunks.
      await this.deps.sql.begin((tx) => removeChunks(tx, row.collection_id, row.id))
      await this.deps.vectors.deleteDocument(row.collection_id, row.id)
      this.deps.onFailed?.(row, error)
    }
  }

  async onRetry(job: Job<{ documentId: string }>, error: string, runAfter: Date): Promise<void> {
    await this.#status(job.payload.documentId, job.id, {
      status: 'queued',
      error: `attempt ${job.attempts} failed, retrying at ${runAfter.toISOString()}: ${error}`,
    })
  }
}
