import * as XLSX from '@e965/xlsx'
import { CsvError, parse } from 'csv-parse/sync'
import { fail, groupLines, section, type Source } from './common.ts'
import { MAX_CELLS } from './limits.ts'
import { detectType, inspectCfb, mismatch } from './sniff.ts'
import type { ExtractedDocument, Section } from './types.ts'

const EXCEL_ZIPS = new Set(['xlsx', 'xlsm', 'xltx', 'xltm'])

interface RowLine {
  readonly line: string
  /** Data row number: 1 is the row just below the header. */
  readonly row: number
}

/**
 * Renders rows as "Header: value; Header2: value" lines, taking the first non-blank row as the header, so every
 * line still says what its values mean once the chunker has split the table apart.
 */
function renderRows(rows: readonly (readonly string[])[], columnName: (index: number) => string): { lines: RowLine[]; headerOnly?: string } {
  const headerIndex = rows.findIndex((cells) => cells.some((cell) => cell !== ''))
  const header = rows[headerIndex]
  if (header === undefined) return { lines: [] }
  const names = header.map((cell, index) => (cell === '' ? columnName(index) : cell))
  const lines: RowLine[] = []
  for (let index = headerIndex + 1; index < rows.length; index++) {
    const pairs: string[] = []
    for (const [column, value] of (rows[index] ?? []).entries()) {
      if (value !== '') pairs.push(`${names[column] ?? columnName(column)}: ${value}`)
    }
    if (pairs.length > 0) lines.push({ line: pairs.join('; '), row: index - headerIndex })
  }
  if (lines.length > 0) return { lines }
  // A lone row is content, not a header of nothing.
  return { lines, headerOnly: header.filter((cell) => cell !== '').join(' | ') }
}

function toSections(rendered: ReturnType<typeof renderRows>, extra: { sheet?: string }): Section[] {
  const sections: Section[] = []
  if (rendered.headerOnly !== undefined) {
    const built = section(rendered.headerOnly, extra)
    if (built !== undefined) sections.push(built)
  }
  groupLines(rendered.lines, (group, text) => {
    const first = group[0]?.row ?? 0
    const last = group.at(-1)?.row ?? first
    const built = section(text, { ...extra, rows: [first, last] })
    if (built !== undefined) sections.push(built)
  })
  return sections
}

const cellText = (value: unknown): string => (value === undefined || value === null ? '' : String(value).replace(/\s+/g, ' ').trim())

export async function extractWorkbook(source: Source): Promise<ExtractedDocument> {
  await checkWorkbookContainer(source)
  let workbook: XLSX.WorkBook
  try {
    workbook = XLSX.read(source.bytes, {
      type: 'array',
      // Dense storage halves memory for big sheets; nodim makes the used range come from the cells actually
      // present instead of the file's own (possibly inflated) <dimension> claim.
      dense: true,
      nodim: true,
      cellFormula: false,
      cellHTML: false,
      cellStyles: false,
      bookVBA: false,
    })
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : ''
    // SheetJS reports an xls FILEPASS record (and OOXML encryption) as "password-protected".
    if (/password/i.test(message)) {
      throw fail(source.name, 'encrypted', 'the Excel workbook is password-protected; remove the password and upload it again', cause)
    }
    throw fail(source.name, 'corrupt', 'the Excel workbook is damaged and could not be read', cause)
  }

  let cells = 0
  for (const name of workbook.SheetNames) {
    const ref = workbook.Sheets[name]?.['!ref']
    if (ref === undefined) continue
    const range = XLSX.utils.decode_range(ref)
    cells += (range.e.r - range.s.r + 1) * (range.e.c - range.s.c + 1)
  }
  if (cells > MAX_CELLS) {
    throw fail(source.name, 'corrupt', `the Excel workbook spans ${cells.toLocaleString('en')} cells; at most ${MAX_CELLS.toLocaleString('en')} can be extracted`)
  }

  const sections: Section[] = []
  for (const name of workbook.SheetNames) {
    const sheet = workbook.Sheets[name]
    const ref = sheet?.['!ref']
    if (sheet === undefined || ref === undefined) continue
    const firstColumn = XLSX.utils.decode_range(ref).s.c
    const rows = XLSX.utils.sheet_to_json<unknown[]>(sheet, { header: 1, raw: false, blankrows: true, defval: '' })
    const rendered = renderRows(
      rows.map((row) => row.map(cellText)),
      (index) => XLSX.utils.encode_col(firstColumn + index),
    )
    sections.push(...toSections(rendered, { sheet: name }))
  }
  const document: ExtractedDocument = { sections, metadata: { sheets: [...workbook.SheetNames] } }
  const title = workbook.Props?.Title?.trim()
  if (title !== undefined && title !== '') document.title = title
  return document
}

/** xlsx must be an OOXML zip and xls an OLE container; SheetJS would happily parse either, or even a CSV, regardless. */
async function checkWorkbookContainer(source: Source): Promise<void> {
  const detected = await detectType(source.bytes)
  const isXlsx = source.format === 'xlsx'
  if (detected !== undefined && EXCEL_ZIPS.has(detected.ext)) {
    if (isXlsx) return
    throw mismatch(source, detected, 'it is an .xlsx workbook; rename it to .xlsx and upload it again')
  }
  // A generic zip is left to SheetJS, whose failure then means a damaged workbook rather than a different type.
  if (detected?.ext === 'zip' && isXlsx) return
  if (detected?.ext !== 'cfb') throw mismatch(source, detected)

  const contents = await inspectCfb(source.bytes)
  if (contents === 'encrypted_ooxml') {
    throw fail(source.name, 'encrypted', 'the Excel workbook is password-protected; remove the password and upload it again')
  }
  if (contents === undefined) throw fail(source.name, 'corrupt', 'the Excel workbook is damaged and could not be read')
  if (contents === 'xls') {
    if (!isXlsx) return
    throw mismatch(source, detected, 'it is an older .xls workbook; rename it to .xls and upload it again')
  }
  if (contents === 'doc') throw mismatch(source, detected, 'it looks like a Word .doc document')
  if (contents === 'ppt') throw mismatch(source, detected, 'it looks like a PowerPoint .ppt presentation')
  throw mismatch(source, detected)
}

const DELIMITERS = [',', ';', '\t', '|'] as const

/** Picks the delimiter that splits the first line most, ignoring quoted text: many locales export ";" CSV. */
function sniffDelimiter(text: string): string {
  const firstLine = (text.split('\n', 1)[0] ?? '').replace(/"[^"]*"/g, '')
  let best: string = ','
  let bestCount = 0
  for (const delimiter of DELIMITERS) {
    const count = firstLine.split(delimiter).length - 1
    if (count > bestCount) {
      best = delimiter
      bestCount = count
    }
  }
  return best
}

export function extractCsv(source: Source, text: string): ExtractedDocument {
  let records: string[][]
  try {
    records = parse(text, {
      delimiter: sniffDelimiter(text),
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: false,
    })
  } catch (cause) {
    if (cause instanceof CsvError) {
      const where = `${source.name} line ${cause.lines}`
      if (cause.code === 'CSV_QUOTE_NOT_CLOSED') throw fail(where, 'corrupt', 'a quoted field is never closed', cause)
      throw fail(where, 'corrupt', 'the CSV could not be parsed', cause)
    }
    throw fail(source.name, 'corrupt', 'the CSV could not be parsed', cause)
  }
  const cells = records.reduce((total, record) => total + record.length, 0)
  if (cells > MAX_CELLS) {
    throw fail(source.name, 'corrupt', `the CSV has ${cells.toLocaleString('en')} cells; at most ${MAX_CELLS.toLocaleString('en')} can be extracted`)
  }
  const rendered = renderRows(
    records.map((record) => record.map(cellText)),
    (index) => `column ${index + 1}`,
  )
  return { sections: toSections(rendered, {}), metadata: {} }
}
