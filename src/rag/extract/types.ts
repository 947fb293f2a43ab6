export type Format = 'txt' | 'md' | 'html' | 'pdf' | 'docx' | 'xlsx' | 'xls' | 'csv' | 'json' | 'jsonl'

export interface Section {
  /** Plain text of one structural unit: a heading block, a PDF page or a group of table rows. */
  text: string
  /** Heading path the text sits under, outermost first, e.g. "Intro > Scope" (md, html, docx). */
  heading?: string
  /** 1-based page number (pdf). */
  page?: number
  /** Sheet name (xlsx, xls). */
  sheet?: string
  /**
   * First and last data row covered (csv, xlsx, xls). Data rows are counted from 1 starting just below the header
   * row, blank rows included, so data row n is n rows below the header.
   */
  rows?: [number, number]
}

export interface ExtractedDocument {
  /** html <title>, first md/docx heading, pdf Title metadata, or a jsonl record's title. */
  title?: string
  sections: Section[]
  /** Format-specific facts such as {pages: 3} or {sheets: [...]}; for jsonl, the record's other fields. */
  metadata: Record<string, unknown>
}

/** jsonl yields one document per record; every other format yields exactly one. */
export interface ExtractedFile {
  format: Format
  documents: ExtractedDocument[]
}

export type ExtractionFailure = 'unsupported_type' | 'type_mismatch' | 'encrypted' | 'corrupt' | 'empty'

/** A verdict about the file itself; the message is written for the person who uploaded it and names the file. */
export class ExtractionError extends Error {
  override readonly name = 'ExtractionError'

  constructor(
    readonly reason: ExtractionFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}
