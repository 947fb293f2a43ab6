import { ExtractionError, type ExtractionFailure, type Format, type Section } from './types.ts'

/** How messages refer to the content the user expected, e.g. "report.pdf: the PDF is password-protected". */
export const FORMAT_NOUN: Record<Format, string> = {
  txt: 'the text file',
  md: 'the Markdown file',
  html: 'the HTML page',
  pdf: 'the PDF',
  docx: 'the Word document',
  xlsx: 'the Excel workbook',
  xls: 'the Excel workbook',
  csv: 'the CSV file',
  json: 'the JSON file',
  jsonl: 'the JSON Lines file',
}

export const FORMAT_INDEFINITE: Record<Format, string> = {
  txt: 'a text file',
  md: 'a Markdown file',
  html: 'an HTML page',
  pdf: 'a PDF',
  docx: 'a Word document',
  xlsx: 'an Excel workbook',
  xls: 'an Excel workbook',
  csv: 'a CSV file',
  json: 'a JSON file',
  jsonl: 'a JSON Lines file',
}

/** Sections are grouped up to about this many characters so that one huge table never becomes one huge section. */
export const SECTION_TARGET_CHARS = 2000

/** Everything a format extractor needs to phrase its own failures. */
export interface Source {
  /** The file's base name, as the user knows it. */
  readonly name: string
  readonly format: Format
  readonly bytes: Uint8Array
}

export function fail(label: string, reason: ExtractionFailure, detail: string, cause?: unknown): ExtractionError {
  return new ExtractionError(reason, `${label}: ${detail}`, cause === undefined ? undefined : { cause })
}

/** The last path segment only: upload names can carry client paths, which the user neither needs nor should see echoed. */
export function baseName(filename: string): string {
  const name = filename.split(/[\\/]/).pop()?.trim() ?? ''
  return name === '' ? 'the file' : name
}

// C0 controls (bar tab and newline) and DEL: in extracted text they are only ever debris from the source format.
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000E-\u001F\u007F]/g

/** The one whitespace policy every format ends with, so chunking sees the same shapes whatever the source was. */
export function normalizeText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/\f/g, '\n\n')
    .replace(CONTROL_CHARS, '')
    .replace(/[ \t\u00A0]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
}

/** Builds a section, leaving out absent fields (exactOptionalPropertyTypes) and dropping sections with no text. */
export function section(text: string, extra: Omit<Section, 'text'> = {}): Section | undefined {
  const normalized = normalizeText(text)
  return normalized === '' ? undefined : { text: normalized, ...extra }
}

/**
 * Packs lines into sections of about SECTION_TARGET_CHARS; a single longer line still gets a section of its own
 * because splitting a record mid-way would separate values from their headers.
 */
export function groupLines<T extends { readonly line: string }>(items: readonly T[], emit: (group: T[], text: string) => void): void {
  let group: T[] = []
  let length = 0
  const flush = (): void => {
    if (group.length > 0) emit(group, group.map((item) => item.line).join('\n'))
    group = []
    length = 0
  }
  for (const item of items) {
    if (length > 0 && length + item.line.length + 1 > SECTION_TARGET_CHARS) flush()
    group.push(item)
    length += item.line.length + 1
  }
  flush()
}
