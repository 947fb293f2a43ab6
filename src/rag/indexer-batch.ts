import type { Queryable } from '../db/client.ts'
import { PermanentJobError, type Job, type JobControl } from '../jobs/queue.ts'
import type { CollectionRow } from './collections.ts'
import type { DocumentRow } from './documents.ts'
import { asRead, chunkKey, insertChunks, insertTerms, WRITE_BATCH, type ChunkRows } from './chunk-rows.ts'
import type { Indexer } from './indexer.ts'
import type { CollectionVersion, WrittenChunk } from './lexical-cache.ts'

type IngestJob = Job<{ documentId: string }>

/** Documents of a batch read, chunked, screened and embedded at once. */
const STAGE_CONCURRENCY = 8

/** A small document read, chunked, screened and embedded, waiting for the batch's transaction. */
interface Staged extends ChunkRows {
  job: IngestJob
  doc: DocumentRow
  collection: CollectionRow
  records: number
  title: string | null
  metadata: Record<string, unknown>
  vectors: Float32Array[] | null
}

/**
 * Indexes small documents together: one statement marks them all processing, and one transaction per ~128 chunks
 * writes their chunks, postings, vectors and totals and marks them indexed, so a batch costs the round trips one
 * document did. Each document keeps its own outcome (a corrupt file fails alone). One that continues an earlier
 * attempt, or turns out to hold more chunks than one write, runs on its own through `Indexer.run`.
 */
export async function indexBatch(indexer: Indexer, jobs: IngestJob[], control: (job: IngestJob) => JobControl): Promise<Map<string, unknown>> {
  const { sql } = indexer.deps
  const failures = new Map<string, unknown>()
  const controls = new Map(jobs.map((j) => [j.id, control(j)]))
  const jobOf = new Map(jobs.map((j) => [j.id, j]))
  // A document deleted or queued again since (its job_id moved on) is not this batch's: nothing to do, as in `run`.
  // Locked in id order, as every writer of several documents takes them (a re-index of the collection does).
  // Each statement joining a list of ids also names them with `= ANY`: joined alone, a planner without statistics
  // (the embedded database has no autovacuum) hashed the list against a scan of the whole table, for every batch
  // (src/rag/ingest-scans.test.ts).
  const documentIds = jobs.map((j) => j.payload.documentId)
  const docs = await sql<DocumentRow[]>`
    WITH mine AS (
      SELECT d.id FROM rag_documents d
      JOIN unnest(${documentIds}::uuid[], ${jobs.map((j) => j.id)}::uuid[]) AS t(id, job_id)
        ON d.id = t.id AND d.job_id = t.job_id
      WHERE d.id = ANY(${documentIds}::uuid[])
      ORDER BY d.id FOR UPDATE OF d
    )
    UPDATE rag_documents d SET status = 'processing', error = NULL, updated_at = now()
    FROM mine WHERE d.id = mine.id
    RETURNING d.*`
  if (docs.length === 0) return failures
  for (const doc of docs) indexer.deps.events.publish(doc)
  const collections = new Map(
    (await sql<CollectionRow[]>`SELECT * FROM rag_collections WHERE id IN ${sql([...new Set(docs.map((d) => d.collection_id))])}`).map((c) => [c.id, c]),
  )
  const originals = await indexer.deps.files.rows(docs.map((d) => d.id))

  const alone: IngestJob[] = []
  // Staged several at a time: each document waits on its file and its screen, and one after another those waits
  // added up behind the rest of the main thread's work. Kept in the batch's order.
  const outcomes: (Staged | 'alone' | null)[] = new Array(docs.length).fill(null)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < docs.length; i = next++) {
      const doc = docs[i]!
      const job = jobOf.get(doc.job_id!)!
      const collection = collections.get(doc.collection_id)
      if (!collection) continue
      if (doc.progress > 0) {
        outcomes[i] = 'alone'
        continue
      }
      try {
        outcomes[i] = (await stage(indexer, job, doc, collection, originals, controls.get(job.id)!.signal)) ?? 'alone'
      } catch (err) {
        failures.set(job.id, err)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(STAGE_CONCURRENCY, docs.length) }, worker))
  const staged: Staged[] = []
  outcomes.forEach((o, i) => {
    if (o === 'alone') alone.push(jobOf.get(docs[i]!.job_id!)!)
    else if (o) staged.push(o)
  })

  for (const group of groups(staged.filter((s) => !failed(s, controls, failures)))) {
    try {
      await write(indexer, group)
    } catch (err) {
      for (const s of group) failures.set(s.job.id, err)
    }
  }
  for (const job of alone) {
    try {
      await indexer.run(job, controls.get(job.id)!)
    } catch (err) {
      failures.set(job.id, err)
    }
  }
  return failures
}

/** Whether a staged document's job was stopped meanwhile (lease lost, worker stopping); recorded as its failure. */
function failed(s: Staged, controls: Map<string, JobControl>, failures: Map<string, unknown>): boolean {
  const { signal } = controls.get(s.job.id)!
  if (signal.aborted) failures.set(s.job.id, signal.reason)
  return signal.aborted
}

/** Reads, chunks, screens and embeds one document; null when it holds more chunks than one write (it runs alone). */
async function stage(
  indexer: Indexer,
  job: IngestJob,
  doc: DocumentRow,
  collection: CollectionRow,
  originals: Map<string, Buffer>,
  signal: AbortSignal,
): Promise<Staged | null> {
  const prepared = await indexer.prepare(doc, collection, originals)
  originals.delete(doc.id)
  const { chunks } = prepared
  if (chunks.length > WRITE_BATCH) return null
  // Vectors of an earlier index (kept outside the database by Qdrant); the chunks go in the write's transaction.
  await indexer.deps.vectors.deleteDocument(collection.id, doc.id)
  const { screen } = indexer.deps
  const verdicts = screen ? await screen.screen(chunks.map(asRead), { userId: collection.owner_id, documentId: doc.id }, signal, prepared.heuristics ?? undefined) : null
  const vectors = collection.embedding_model ? await indexer.embed(collection, doc, chunks, signal) : null
  const dims = vectors?.[0]?.length
  if (dims !== undefined && collection.embedding_dimensions !== null && dims !== collection.embedding_dimensions)
    throw new PermanentJobError(
      `${doc.filename}: the model ${collection.embedding_model} returned ${dims}-dimensional vectors; the collection has ${collection.embedding_dimensions}`,
    )
  return {
    job,
    doc,
    collection,
    chunks,
    terms: prepared.terms,
    lengths: prepared.lengths,
    records: prepared.records,
    title: prepared.title,
    metadata: prepared.metadata,
    vectors,
    verdicts,
  }
}

/** The staged documents in runs of at most WRITE_BATCH chunks, so no transaction holds the connection long. */
function* groups(staged: Staged[]): Generator<Staged[]> {
  let group: Staged[] = []
  let size = 0
  for (const s of staged) {
    if (size + s.chunks.length > WRITE_BATCH && group.length > 0) {
      yield group
      group = []
      size = 0
    }
    group.push(s)
    size += s.chunks.length
  }
  if (group.length > 0) yield group
}

/** One transaction for a group of documents; afterwards the lexical cache, the watchers and the screen are told. */
async function write(indexer: Indexer, group: Staged[]): Promise<void> {
  const { sql, lexical, events, screen } = indexer.deps
  const done = await sql.begin(async (tx) => {
    const mine = await owned(tx, group)
    if (mine.length === 0) return null
    // Locked in one order by every batch, before anything below touches them, so batches cannot deadlock.
    const before = new Map(
      (await tx<(CollectionVersion & { id: string })[]>`
        SELECT id, updated_at, chunk_count, term_count FROM rag_collections
        WHERE id IN ${tx([...new Set(mine.map((s) => s.collection.id))])} ORDER BY id FOR NO KEY UPDATE`).map((r) => [r.id, r]),
    )
    // Chunks of an earlier index (a document processed again) go first; a collection that lost some has a version
    // this replica's postings never saw, so they are not updated below and are loaded again when next searched.
    const cleared = new Set(
      (await tx<{ id: string }[]>`
        WITH gone AS (DELETE FROM rag_chunks WHERE document_id IN ${tx(mine.map((s) => s.doc.id))} RETURNING collection_id, terms),
          per AS (SELECT collection_id, count(*) AS n, coalesce(sum(terms), 0) AS t FROM gone GROUP BY collection_id)
        UPDATE rag_collections c SET chunk_count = c.chunk_count - per.n, term_count = c.term_count - per.t, updated_at = now()
        FROM per WHERE c.id = per.collection_id RETURNING c.id`).map((r) => r.id),
    )
    const ids = await insertChunks(tx, mine)
    await insertTerms(tx, mine, ids)
    for (const s of mine)
      if (s.vectors)
        await indexer.deps.vectors.upsert(
          s.collection.id,
          s.chunks.map((c, i) => ({ chunkId: ids.get(chunkKey(s.doc.id, c.position))!, documentId: s.doc.id, vector: s.vectors![i]!, metadata: c.metadata })),
          tx,
        )
    const totals = new Map<string, { chunks: number; terms: number; dims: number | null }>()
    for (const s of mine) {
      const t = totals.get(s.collection.id) ?? { chunks: 0, terms: 0, dims: null }
      t.chunks += s.chunks.length
      t.terms += s.lengths.reduce((a, b) => a + b, 0)
      if (s.vectors?.[0] && s.collection.embedding_dimensions === null) t.dims = s.vectors[0].length
      totals.set(s.collection.id, t)
    }
    const entries = [...totals]
    const after = await tx<(CollectionVersion & { id: string })[]>`
      UPDATE rag_collections c SET chunk_count = c.chunk_count + t.chunks, term_count = c.term_count + t.terms,
        embedding_dimensions = coalesce(c.embedding_dimensions, t.dims), updated_at = now()
      FROM unnest(${entries.map(([id]) => id)}::uuid[], ${entries.map(([, t]) => t.chunks)}::int[],
        ${entries.map(([, t]) => t.terms)}::bigint[], ${entries.map(([, t]) => t.dims)}::int[]) AS t(id, chunks, terms, dims)
      WHERE c.id = t.id
      RETURNING c.id, c.updated_at, c.chunk_count, c.term_count`
    const documentIds = mine.map((s) => s.doc.id)
    const rows = await tx<DocumentRow[]>`
      UPDATE rag_documents d SET status = 'indexed', progress = 1, error = NULL, title = t.title, metadata = t.metadata::jsonb,
        record_count = t.records, chunk_count = t.chunks, token_count = t.tokens, indexed_at = now(), updated_at = now()
      FROM unnest(${documentIds}::uuid[], ${mine.map((s) => s.title)}::text[], ${mine.map((s) => JSON.stringify(s.metadata))}::text[],
        ${mine.map((s) => s.records)}::int[], ${mine.map((s) => s.chunks.length)}::int[],
        ${mine.map((s) => s.chunks.reduce((n, c) => n + c.tokens, 0))}::int[]) AS t(id, title, metadata, records, chunks, tokens)
      WHERE d.id = t.id AND d.id = ANY(${documentIds}::uuid[])
      RETURNING d.*`
    return { mine, before, after, cleared, ids, rows }
  })
  if (!done) return
  for (const a of done.after) {
    const b = done.before.get(a.id)
    if (!b || done.cleared.has(a.id)) continue
    const chunks: WrittenChunk[] = []
    for (const s of done.mine)
      if (s.collection.id === a.id)
        s.chunks.forEach((c, i) => chunks.push({ id: done.ids.get(chunkKey(s.doc.id, c.position))!, documentId: s.doc.id, length: s.lengths[i]!, terms: s.terms[i]! }))
    lexical?.applyWrite(a.id, b, a, chunks)
  }
  for (const row of done.rows) events.publish(row)
  for (const s of done.mine) {
    const flagged = s.verdicts?.filter((v) => v.flagged) ?? []
    if (flagged.length > 0)
      await screen?.flagged(
        { id: s.doc.id, collectionId: s.collection.id, filename: s.doc.filename, ownerId: s.collection.owner_id },
        flagged.length,
        s.chunks.length,
        [...new Set(flagged.flatMap((v) => v.signals))],
      )
  }
}

/**
 * The group's documents still this batch's (not deleted, not queued again, their jobs not taken over), under shared
 * locks that make a delete, a requeue or a takeover wait for the transaction, as `Indexer.run` checks each write;
 * taken in id order (ORDER BY comes before the locking).
 */
async function owned(tx: Queryable, group: Staged[]): Promise<Staged[]> {
  const [docs, jobs] = [group.map((s) => s.doc.id), group.map((s) => s.job.id)]
  const rows = await tx<{ id: string }[]>`
    SELECT d.id FROM rag_documents d
    JOIN jobs j ON j.id = d.job_id
    JOIN unnest(${docs}::uuid[], ${jobs}::uuid[], ${group.map((s) => s.job.attempts)}::int[])
      AS t(doc, job, attempts) ON d.id = t.doc AND j.id = t.job AND j.attempts = t.attempts
    WHERE j.status = 'processing' AND d.id = ANY(${docs}::uuid[]) AND j.id = ANY(${jobs}::uuid[])
    ORDER BY d.id
    FOR SHARE OF d, j`
  const ids = new Set(rows.map((r) => r.id))
  return group.filter((s) => ids.has(s.doc.id))
}
