import type { FileTypeResult } from 'file-type'
import { fail, FORMAT_INDEFINITE, type Source } from './common.ts'
import type { ExtractionError } from './types.ts'

/**
 * file-type and SheetJS are loaded on first use: imported at start-up they held 16 and 17 MB of a server that had
 * not been sent a file yet (`bun bench/footprint.ts`).
 */
let fileType: Promise<typeof import('file-type')> | undefined
let sheetJs: Promise<typeof import('@e965/xlsx')> | undefined

export async function detectType(bytes: Uint8Array): Promise<FileTypeResult | undefined> {
  try {
    fileType ??= import('file-type')
    return await (await fileType).fileTypeFromBuffer(bytes)
  } catch {
    // Detection is advisory: a container too broken for file-type to walk is reported by the real parser, with a
    // better message than a tokenizer error.
    return undefined
  }
}

const DESCRIPTIONS: Record<string, string> = {
  png: 'a PNG image',
  jpg: 'a JPEG image',
  gif: 'a GIF image',
  webp: 'a WebP image',
  bmp: 'a BMP image',
  tif: 'a TIFF image',
  heic: 'a HEIC image',
  avif: 'an AVIF image',
  ico: 'an icon file',
  pdf: 'a PDF document',
  zip: 'a ZIP archive',
  gz: 'a gzip archive',
  '7z': 'a 7-Zip archive',
  rar: 'a RAR archive',
  tar: 'a tar archive',
  docx: 'a Word document (.docx)',
  docm: 'a Word document (.docm)',
  xlsx: 'an Excel workbook (.xlsx)',
  xlsm: 'an Excel workbook (.xlsm)',
  pptx: 'a PowerPoint presentation',
  cfb: 'a legacy Microsoft Office file (.doc, .xls or .ppt)',
  odt: 'an OpenDocument text file',
  ods: 'an OpenDocument spreadsheet',
  odp: 'an OpenDocument presentation',
  epub: 'an EPUB e-book',
  rtf: 'an RTF document',
  exe: 'a Windows program',
  elf: 'a Linux program',
  sqlite: 'an SQLite database',
}

/** Plain words for a detected type, for "(looks like …)". */
export function describeType(type: FileTypeResult): string {
  const known = DESCRIPTIONS[type.ext]
  if (known !== undefined) return known
  const ext = type.ext.toUpperCase()
  if (type.mime.startsWith('image/')) return `a ${ext} image`
  if (type.mime.startsWith('audio/')) return `a ${ext} audio file`
  if (type.mime.startsWith('video/')) return `a ${ext} video`
  return `a ${ext} file`
}

export function mismatch(source: Source, detected: FileTypeResult | undefined, hint?: string): ExtractionError {
  const looks = detected === undefined ? '' : ` (looks like ${describeType(detected)})`
  const tail = hint === undefined ? '' : `; ${hint}`
  return fail(source.name, 'type_mismatch', `the content is not ${FORMAT_INDEFINITE[source.format]}${looks}${tail}`)
}

// NUL never occurs in UTF-8 prose but fills UTF-16 text and binary formats alike.
const NUL = '\u0000'
// Controls that real text files do not contain (tab, newline, CR, FF, VT and ESC aside).
const BINARY_CONTROLS = /[\u0000-\u0008\u000E-\u001A\u001C-\u001F]/

/**
 * Decodes a text format's bytes, refusing anything that is not UTF-8 text. A detected binary type alone is not
 * enough to refuse: several file-type signatures are two printable ASCII letters ("BM" for BMP, "MZ" for EXE), so
 * prose can start with one. Only detection plus bytes that are not clean text counts as a mismatch.
 */
export async function decodeText(source: Source): Promise<string> {
  const detected = await detectType(source.bytes)
  let text: string
  try {
    // The default ignoreBOM: false drops a leading BOM.
    text = new TextDecoder('utf-8', { fatal: true }).decode(source.bytes)
  } catch (cause) {
    if (detected !== undefined) throw mismatchText(source, detected, cause)
    throw fail(source.name, 'type_mismatch', 'the content is not UTF-8 text; save it with UTF-8 encoding and upload it again', cause)
  }
  if (text.includes(NUL) || (detected !== undefined && BINARY_CONTROLS.test(text))) {
    if (detected !== undefined) throw mismatchText(source, detected)
    throw fail(source.name, 'type_mismatch', 'the content is binary data, not UTF-8 text (UTF-16 text must be saved as UTF-8)')
  }
  return text
}

function mismatchText(source: Source, detected: FileTypeResult, cause?: unknown): ExtractionError {
  return fail(source.name, 'type_mismatch', `the content is not text (looks like ${describeType(detected)})`, cause)
}

/** What an OLE compound file (CFB) holds, judged by its stream names. */
export type CfbContents = 'encrypted_ooxml' | 'xls' | 'doc' | 'ppt' | 'other'

interface CfbEntry {
  name: string
}

/**
 * Office saves a password-protected .docx/.xlsx as a CFB container with EncryptionInfo and EncryptedPackage streams
 * instead of a zip, and legacy .doc/.xls/.ppt files are CFB too, so the stream names tell them apart.
 * Returns undefined when the container itself cannot be read.
 */
export async function inspectCfb(bytes: Uint8Array): Promise<CfbContents | undefined> {
  sheetJs ??= import('@e965/xlsx')
  const XLSX = await sheetJs
  let names: Set<string>
  try {
    // SheetJS types its bundled CFB reader as any; only the directory entry names are used.
    const container = XLSX.CFB.read(bytes, { type: 'buffer' }) as { FileIndex: CfbEntry[] }
    names = new Set(container.FileIndex.map((entry) => entry.name))
  } catch {
    return undefined
  }
  if (names.has('EncryptionInfo') || names.has('EncryptedPackage')) return 'encrypted_ooxml'
  if (names.has('Workbook') || names.has('Book')) return 'xls'
  if (names.has('WordDocument')) return 'doc'
  if (names.has('PowerPoint Document')) return 'ppt'
  return 'other'
}
