import { extractText, getDocumentProxy, getMeta } from 'unpdf'
import { fail, section, type Source } from './common.ts'
import { MAX_PDF_PAGES } from './limits.ts'
import { detectType, mismatch } from './sniff.ts'
import { ExtractionError, type ExtractedDocument, type Section } from './types.ts'

type PdfDocument = Awaited<ReturnType<typeof getDocumentProxy>>

export async function extractPdf(source: Source): Promise<ExtractedDocument> {
  const detected = await detectType(source.bytes)
  if (detected?.ext !== 'pdf' && !(detected === undefined && hasLateHeader(source.bytes))) throw mismatch(source, detected)

  let pdf: PdfDocument
  try {
    // pdf.js may take ownership of (detach) the buffer it is given; the caller's bytes must stay usable. A copy, not
    // .slice(): on a Node Buffer that is a view of a shared pool.
    pdf = await getDocumentProxy(new Uint8Array(source.bytes), { verbosity: 0, stopAtErrors: false })
  } catch (cause) {
    throw openFailure(source, cause)
  }
  try {
    if (pdf.numPages > MAX_PDF_PAGES) {
      throw fail(source.name, 'corrupt', `the PDF has ${pdf.numPages} pages; at most ${MAX_PDF_PAGES} can be extracted`)
    }
    const { text } = await extractText(pdf, { mergePages: false })
    const sections: Section[] = []
    for (const [index, pageText] of text.entries()) {
      const built = section(pageText, { page: index + 1 })
      if (built !== undefined) sections.push(built)
    }
    if (sections.length === 0) {
      throw fail(source.name, 'empty', 'the PDF contains no extractable text (scanned pages would need OCR, which is not supported)')
    }
    const document: ExtractedDocument = { sections, metadata: { pages: pdf.numPages } }
    const { info } = await getMeta(pdf)
    const title = stringField(info, 'Title')
    if (title !== undefined) document.title = title
    const author = stringField(info, 'Author')
    if (author !== undefined) document.metadata['author'] = author
    return document
  } catch (cause) {
    if (cause instanceof ExtractionError) throw cause
    throw fail(source.name, 'corrupt', 'the PDF is damaged and its text could not be read', cause)
  } finally {
    await pdf.loadingTask.destroy()
  }
}

/**
 * Readers accept "%PDF-" anywhere in the first 1024 bytes and some generators prepend junk (a BOM, blank lines, a
 * stray HTTP header); file-type only looks at offset 0.
 */
function hasLateHeader(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 1024)).includes('%PDF-')
}

function openFailure(source: Source, cause: unknown): ExtractionError {
  const name = cause instanceof Error ? cause.name : ''
  // pdf.js opens PDFs that are encrypted with an empty user password (permissions-only protection) by itself;
  // it asks for a password only when the content really is locked.
  if (name === 'PasswordException') return fail(source.name, 'encrypted', 'the PDF is password-protected; remove the password and upload it again', cause)
  return fail(source.name, 'corrupt', 'the PDF is damaged or incomplete', cause)
}

function stringField(info: Record<string, unknown>, key: string): string | undefined {
  const value = info[key]
  if (typeof value !== 'string') return undefined
  const trimmed = value.replace(/\s+/g, ' ').trim()
  return trimmed === '' ? undefined : trimmed
}
