import { scoreInjection, type InjectionVerdict } from '../security/injection.ts'
import { asRead, indexTerms, type PreparedChunk } from './chunk-rows.ts'
import { ExtractionError, extractFile } from './extract/index.ts'
import { htmlToSections } from './extract/html.ts'
import { chunkSections } from './text/chunker.ts'

/** What the indexer asks of one document's file. */
export interface PrepareRequest {
  filename: string
  bytes: Uint8Array
  chunkTokens: number
  chunkOverlap: number
  /** The prompt-injection heuristics' threshold, or null when chunks are not screened. */
  injectionThreshold: number | null
}

/** A document ready to be written, or why its file can never be indexed (a message the user is shown). */
export type Prepared =
  | {
      ok: true
      /** Documents in the file (a jsonl file has one per record). */
      records: number
      title: string | null
      metadata: Record<string, unknown>
      chunks: PreparedChunk[]
      /** Each chunk's term frequencies and its length in terms (what BM25 needs). */
      terms: Map<string, number>[]
      lengths: number[]
      /** The injection heuristics' verdict on each chunk, as a model would read it (null: not screened). */
      heuristics: InjectionVerdict[] | null
    }
  | { ok: false; message: string }

/**
 * Everything the indexer computes from a file's bytes alone: its text extracted, chunked, analysed for BM25 and
 * scored by the injection heuristics. The bytes are a client's upload, so this runs on a worker thread (see
 * prepare-pool.ts), never on the server's: a PDF of 2,000 pages or megabytes of text kept it busy for seconds.
 */
export async function prepareDocument(r: PrepareRequest): Promise<Prepared> {
  let extracted
  try {
    extracted = await extractFile(r.filename, r.bytes)
  } catch (err) {
    if (err instanceof ExtractionError) return { ok: false, message: err.message }
    throw err
  }
  const single = extracted.format !== 'jsonl'
  const chunks = chunkDocuments(extracted.documents, r.chunkTokens, r.chunkOverlap, !single)
  if (chunks.length === 0) return { ok: false, message: `${r.filename}: there is no text to index` }
  const threshold = r.injectionThreshold
  return {
    ok: true,
    records: extracted.documents.length,
    // What the document row says of its content: a single document's title and metadata, or a jsonl file's record count.
    title: single ? (extracted.documents[0]?.title ?? null) : null,
    metadata: single ? (extracted.documents[0]?.metadata ?? {}) : { records: extracted.documents.length },
    chunks,
    ...indexTerms(chunks),
    heuristics: threshold === null ? null : chunks.map((c) => scoreInjection(asRead(c), threshold)),
  }
}

/** What a `web_fetch` tool asks of a response it fetched: the text a model should read of its body. */
export interface PageRequest {
  page: true
  contentType: string
  bytes: Uint8Array
  url: string
}

/** The text of a fetched page, or why it has none (a message the model is shown). */
export type PageText = { ok: true; text: string } | { ok: false; message: string }

/**
 * HTML reduced to its text, PDF pages extracted, text as it is. The bytes are whatever a remote host answered (up to
 * 10 MB), so this too runs on the preparation threads, never on the server's.
 */
export async function readPage(r: PageRequest): Promise<PageText> {
  const type = r.contentType.split(';')[0]?.trim().toLowerCase() ?? ''
  if (type === 'text/html' || type === 'application/xhtml+xml') {
    const html = htmlToSections(new TextDecoder().decode(r.bytes))
    const parts = [html.title ? `# ${html.title}` : '', ...html.sections.map((s) => (s.heading ? `## ${s.heading}\n${s.text}` : s.text))]
    return { ok: true, text: parts.filter(Boolean).join('\n\n') }
  }
  if (type === 'application/pdf') {
    try {
      const file = await extractFile('page.pdf', r.bytes)
      return { ok: true, text: file.documents.flatMap((d) => d.sections.map((s) => (s.page ? `[page ${s.page}] ${s.text}` : s.text))).join('\n\n') }
    } catch (err) {
      if (err instanceof ExtractionError) return { ok: false, message: `${r.url}: ${err.message}` }
      throw err
    }
  }
  if (type.startsWith('text/') || type.includes('json') || type.includes('xml')) return { ok: true, text: new TextDecoder().decode(r.bytes) }
  return { ok: false, message: `${r.url} answered with ${type || 'no content type'}, which is not text, HTML or PDF` }
}

interface ExtractedLike {
  title?: string
  sections: { text: string; heading?: string; page?: number; sheet?: string; rows?: [number, number] }[]
  metadata: Record<string, unknown>
}

/** Chunks every extracted document (a jsonl file has one per record) and carries its title and metadata along. */
function chunkDocuments(documents: readonly ExtractedLike[], chunkTokens: number, overlapTokens: number, perRecord: boolean): PreparedChunk[] {
  const out: PreparedChunk[] = []
  documents.forEach((d, record) => {
    for (const c of chunkSections(d.sections, { chunkTokens, overlapTokens })) {
      const metadata: Record<string, unknown> = perRecord ? { ...d.metadata, record } : {}
      if (perRecord && d.title) metadata.title = d.title
      out.push({
        position: out.length,
        text: c.text,
        tokens: c.tokens,
        heading: c.heading ?? null,
        page: c.page ?? null,
        sheet: c.sheet ?? null,
        rows: c.rows ?? null,
        metadata,
        // A chunk as the model reads it, and as it is indexed: with its title and heading, so it is found by its context too.
        context: [d.title, c.heading].filter(Boolean).join('\n'),
      })
    }
  })
  return out
}
