import { baseName, fail, FORMAT_NOUN, section, type Source } from './common.ts'
import { decodeText } from './sniff.ts'
import { extractJson, extractJsonLines } from './structured.ts'
import { ExtractionError, type ExtractedDocument, type ExtractedFile, type Format } from './types.ts'

export { ExtractionError } from './types.ts'
export type { ExtractedDocument, ExtractedFile, ExtractionFailure, Format, Section } from './types.ts'
export { MAX_CELLS, MAX_PDF_PAGES } from './limits.ts'

// The format readers are imported when a file of their kind first comes: their libraries (unpdf, mammoth, SheetJS,
// htmlparser2, marked, csv-parse) held tens of MB of a server that had not been sent a file (`bun bench/footprint.ts`).
const pdf = () => import('./pdf.ts')
const docx = () => import('./docx.ts')
const tables = () => import('./tables.ts')
const markdown = () => import('./markdown.ts')
const html = () => import('./html.ts')

const EXTENSIONS: Record<string, Format> = {
  txt: 'txt',
  text: 'txt',
  md: 'md',
  markdown: 'md',
  html: 'html',
  htm: 'html',
  pdf: 'pdf',
  docx: 'docx',
  xlsx: 'xlsx',
  xls: 'xls',
  csv: 'csv',
  json: 'json',
  jsonl: 'jsonl',
  ndjson: 'jsonl',
}

/** Every extension an upload may carry, lower case and without the dot (what the dashboard checks before sending). */
export const SUPPORTED_EXTENSIONS: readonly string[] = Object.keys(EXTENSIONS)

const SUPPORTED = [...new Set(Object.keys(EXTENSIONS).map((ext) => `.${ext}`))].join(', ')

function extensionOf(filename: string): string | undefined {
  const name = baseName(filename)
  const dot = name.lastIndexOf('.')
  // A leading dot marks a hidden file (".env"), not an extension.
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : undefined
}

/**
 * The format a file name claims, by extension and case-insensitively.
 *
 * @example
 * formatOf('Notes.MARKDOWN') // 'md'
 * formatOf('photo.png')      // undefined
 */
export function formatOf(filename: string): Format | undefined {
  const ext = extensionOf(filename)
  return ext === undefined ? undefined : EXTENSIONS[ext]
}

/**
 * Extracts plain text, split into structural sections, from an uploaded file. The extension decides the format and
 * the content must then match it. Every failure is an ExtractionError whose message names the file and can be
 * shown to the user as it is.
 *
 * @example
 * const { format, documents } = await extractFile('report.pdf', bytes)
 * for (const { sections } of documents) for (const { text, page } of sections) index(text, { page })
 */
export async function extractFile(filename: string, bytes: Uint8Array): Promise<ExtractedFile> {
  const name = baseName(filename)
  const format = formatOf(filename)
  if (format === undefined) {
    const ext = extensionOf(filename)
    const claim = ext === undefined ? 'the file name has no extension, so its type is unknown' : `".${ext}" files are not supported`
    throw fail(name, 'unsupported_type', `${claim} (supported: ${SUPPORTED})`)
  }
  if (bytes.byteLength === 0) throw fail(name, 'empty', 'the file is empty')

  const source: Source = { name, format, bytes }
  let documents: ExtractedDocument[]
  try {
    documents = await extractDocuments(source)
  } catch (cause) {
    if (cause instanceof ExtractionError) throw cause
    // A library failing in a way the extractor did not anticipate still gets a user-readable verdict.
    throw fail(name, 'corrupt', `${FORMAT_NOUN[format]} could not be read`, cause)
  }
  if (documents.every((document) => document.sections.length === 0)) {
    throw fail(name, 'empty', 'the file contains no text')
  }
  return { format, documents }
}

async function extractDocuments(source: Source): Promise<ExtractedDocument[]> {
  switch (source.format) {
    case 'pdf':
      return [await (await pdf()).extractPdf(source)]
    case 'docx':
      return [await (await docx()).extractDocx(source)]
    case 'xlsx':
    case 'xls':
      return [await (await tables()).extractWorkbook(source)]
    default:
      break
  }
  const text = await decodeText(source)
  if (text.trim() === '') throw fail(source.name, 'empty', 'the file contains only whitespace')
  switch (source.format) {
    case 'txt': {
      // One section: paragraph splitting is the chunker's job.
      const built = section(text)
      return [{ sections: built === undefined ? [] : [built], metadata: {} }]
    }
    case 'md':
      return [(await markdown()).extractMarkdown(text)]
    case 'html': {
      const { title, sections } = (await html()).htmlToSections(text)
      return [title === undefined ? { sections, metadata: {} } : { title, sections, metadata: {} }]
    }
    case 'csv':
      return [(await tables()).extractCsv(source, text)]
    case 'json':
      return [extractJson(source, text)]
    case 'jsonl':
      return extractJsonLines(source, text)
  }
}
