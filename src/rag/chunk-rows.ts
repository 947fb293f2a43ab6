import type { Queryable } from '../db/client.ts'
import type { InjectionVerdict } from '../security/injection.ts'
import type { ChunkRow } from './documents.ts'
import { termFrequencies } from './text/analyzer.ts'

/**
 * Chunks written per transaction (one document's run, or a batch of small documents): short transactions keep the
 * single embedded connection free for requests.
 */
export const WRITE_BATCH = 128

/** A chunk as the indexer makes it, before it has a row (`ChunkRow` is the stored one). */
export interface PreparedChunk extends Pick<ChunkRow, 'position' | 'text' | 'tokens' | 'heading' | 'page' | 'sheet' | 'metadata'> {
  rows: [number, number] | null
  /** Title and heading go into the index terms and the embedded text, so a chunk is found by its context too. */
  context: string
}

/** The text a model (embedding, screen) and the lexical index read: the chunk with its title and heading. */
export const asRead = (c: PreparedChunk): string => (c.context ? `${c.context}\n${c.text}` : c.text)

/** One document's chunks as they are written: with their index terms, lengths and screen verdicts. */
export interface ChunkRows {
  collection: { id: string }
  doc: { id: string }
  chunks: PreparedChunk[]
  terms: Map<string, number>[]
  lengths: number[]
  verdicts: InjectionVerdict[] | null
}

/** Each chunk's term frequencies and its length in terms (what BM25 needs). */
export function indexTerms(chunks: PreparedChunk[]): { terms: Map<string, number>[]; lengths: number[] } {
  const terms = chunks.map((c) => termFrequencies(asRead(c)))
  return { terms, lengths: terms.map((tf) => [...tf.values()].reduce((a, b) => a + b, 0)) }
}

/** The key of a written chunk's id in `insertChunks`'s answer. */
export const chunkKey = (documentId: string, position: number): string => `${documentId}:${position}`

/** Every chunk of the documents in one statement; their ids by `chunkKey`. */
export async function insertChunks(tx: Queryable, docs: ChunkRows[]): Promise<Map<string, number>> {
  const all = docs.flatMap((s) => s.chunks.map((c, i) => ({ s, c, i })))
  const rows = await tx<{ id: string; document_id: string; position: number }[]>`
    INSERT INTO rag_chunks (collection_id, document_id, position, text, tokens, terms, heading, page, sheet, row_from, row_to, metadata,
      injection_score, injection_flagged, injection_signals)
    SELECT t.collection_id, t.document_id, t.position, t.text, t.tokens, t.terms, t.heading, t.page, t.sheet, t.row_from, t.row_to, t.metadata::jsonb,
      t.injection_score, coalesce(t.injection_flagged = 1, false), coalesce(string_to_array(nullif(t.injection_signals, ''), ','), '{}')
    FROM unnest(
      ${all.map(({ s }) => s.collection.id)}::uuid[], ${all.map(({ s }) => s.doc.id)}::uuid[],
      ${all.map(({ c }) => c.position)}::int[], ${all.map(({ c }) => c.text)}::text[], ${all.map(({ c }) => c.tokens)}::int[],
      ${all.map(({ s, i }) => s.lengths[i]!)}::int[], ${all.map(({ c }) => c.heading)}::text[], ${all.map(({ c }) => c.page)}::int[],
      ${all.map(({ c }) => c.sheet)}::text[], ${all.map(({ c }) => c.rows?.[0] ?? null)}::int[],
      ${all.map(({ c }) => c.rows?.[1] ?? null)}::int[], ${all.map(({ c }) => JSON.stringify(c.metadata))}::text[],
      ${all.map(({ s, i }) => s.verdicts?.[i]?.score ?? null)}::real[],
      ${all.map(({ s, i }) => { const v = s.verdicts?.[i]; return v ? Number(v.flagged) : null })}::int[],
      ${all.map(({ s, i }) => s.verdicts?.[i]?.signals.join(',') ?? null)}::text[]
    ) AS t(collection_id, document_id, position, text, tokens, terms, heading, page, sheet, row_from, row_to, metadata,
      injection_score, injection_flagged, injection_signals)
    RETURNING id, document_id, position`
  return new Map(rows.map((r) => [chunkKey(r.document_id, r.position), Number(r.id)]))
}

/**
 * Each chunk's terms and their frequencies, one row per chunk (the BM25 index; see 0017_rag_chunk_terms.sql), in one
 * statement. Each chunk's terms travel as one text, split in SQL at spaces (a term is letters, marks and digits, see
 * analyze): a flat list of every term, regrouped in SQL, would pay per term again, and array literals (quoted, so
 * that a term spelled `null` is not read as NULL) were escaped a second time by the driver.
 */
export async function insertTerms(tx: Queryable, docs: ChunkRows[], ids: Map<string, number>): Promise<void> {
  const r: { collection: string[]; document: string[]; chunk: number[]; length: number[]; terms: string[]; tfs: string[] } = {
    collection: [],
    document: [],
    chunk: [],
    length: [],
    terms: [],
    tfs: [],
  }
  for (const s of docs)
    s.chunks.forEach((c, i) => {
      const tf = s.terms[i]!
      if (tf.size === 0) return
      r.collection.push(s.collection.id)
      r.document.push(s.doc.id)
      r.chunk.push(ids.get(chunkKey(s.doc.id, c.position))!)
      r.length.push(s.lengths[i]!)
      r.terms.push([...tf.keys()].join(' '))
      r.tfs.push([...tf.values()].join(' '))
    })
  if (r.chunk.length === 0) return
  await tx`
    INSERT INTO rag_chunk_terms (chunk_id, collection_id, document_id, length, terms, tfs)
    SELECT t.chunk_id, t.collection_id, t.document_id, t.length, string_to_array(t.terms, ' '), string_to_array(t.tfs, ' ')::int[]
    FROM unnest(${r.chunk}::bigint[], ${r.collection}::uuid[], ${r.document}::uuid[], ${r.length}::int[], ${r.terms}::text[], ${r.tfs}::text[])
      AS t(chunk_id, collection_id, document_id, length, terms, tfs)`
}
