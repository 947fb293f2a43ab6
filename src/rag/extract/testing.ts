// Builders for small, real documents used by the tests. Everything is generated in memory so the fixtures cannot
// drift from what the libraries actually produce.
import { createHash } from 'node:crypto'
import * as XLSX from '@e965/xlsx'
import JSZip from 'jszip'
import { PDFDocument, StandardFonts } from 'pdf-lib'

export const encode = (text: string): Uint8Array => new TextEncoder().encode(text)
const latin1 = (text: string): Uint8Array => Uint8Array.from(text, (char) => char.charCodeAt(0))
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** The 8-byte PNG signature followed by the start of an IHDR chunk: enough for magic-byte detection. */
export const PNG_BYTES = Uint8Array.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
  0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89,
])

export async function pdfLibPdf(pages: readonly string[], title?: string): Promise<Uint8Array> {
  const doc = await PDFDocument.create()
  if (title !== undefined) doc.setTitle(title)
  const font = await doc.embedFont(StandardFonts.Helvetica)
  for (const text of pages) {
    const page = doc.addPage([300, 300])
    if (text !== '') page.drawText(text, { x: 20, y: 200, size: 12, font })
  }
  return doc.save()
}

// Standard security handler revision 2 (PDF 1.7, 7.6.3): 40-bit RC4 keyed by MD5, the simplest scheme pdf.js
// still honours, written out here because pdf-lib cannot encrypt.
const PASSWORD_PAD = Uint8Array.from([
  0x28, 0xbf, 0x4e, 0x5e, 0x4e, 0x75, 0x8a, 0x41, 0x64, 0x00, 0x4e, 0x56, 0xff, 0xfa, 0x01, 0x08,
  0x2e, 0x2e, 0x00, 0xb6, 0xd0, 0x68, 0x3e, 0x80, 0x2f, 0x0c, 0xa9, 0xfe, 0x64, 0x53, 0x69, 0x7a,
])

function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  const s = Uint8Array.from({ length: 256 }, (_, i) => i)
  const at = (i: number): number => s[i] ?? 0
  const swap = (i: number, j: number): void => {
    const t = at(i)
    s[i] = at(j)
    s[j] = t
  }
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + at(i) + (key[i % key.length] ?? 0)) & 255
    swap(i, j)
  }
  const out = new Uint8Array(data.length)
  for (let k = 0, i = 0, j = 0; k < data.length; k++) {
    i = (i + 1) & 255
    j = (j + at(i)) & 255
    swap(i, j)
    out[k] = (data[k] ?? 0) ^ at((at(i) + at(j)) & 255)
  }
  return out
}

const md5 = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(createHash('md5').update(Buffer.concat(parts)).digest())

function padPassword(password: string): Uint8Array {
  const given = encode(password).slice(0, 32)
  const padded = new Uint8Array(32)
  padded.set(given)
  padded.set(PASSWORD_PAD.slice(0, 32 - given.length), given.length)
  return padded
}

/**
 * A hand-assembled PDF with one Helvetica text line per page. With userPassword set it is RC4-encrypted: an empty
 * user password gives a permissions-only PDF that opens without asking, any other value a locked one.
 */
export function handmadePdf(pages: readonly string[], options: { title?: string; userPassword?: string } = {}): Uint8Array {
  const fileId = md5(encode('extract-test-fixture'))
  const permissions = -44
  let fileKey: Uint8Array | undefined
  let encryptDict = ''
  if (options.userPassword !== undefined) {
    const owner = rc4(md5(padPassword('owner-password')).slice(0, 5), padPassword(options.userPassword))
    const p = new Uint8Array(new Int32Array([permissions]).buffer)
    fileKey = md5(padPassword(options.userPassword), owner, p, fileId).slice(0, 5)
    const user = rc4(fileKey, PASSWORD_PAD)
    encryptDict = `<< /Filter /Standard /V 1 /R 2 /O <${hex(owner)}> /U <${hex(user)}> /P ${permissions} >>`
  }
  const protect = (objectNumber: number, text: string): Uint8Array => {
    if (fileKey === undefined) return latin1(text)
    const objectKey = md5(fileKey, Uint8Array.of(objectNumber & 255, (objectNumber >> 8) & 255, 0, 0, 0)).slice(0, 10)
    return rc4(objectKey, latin1(text))
  }

  const objects: ((objectNumber: number) => string)[] = [
    () => '<< /Type /Catalog /Pages 2 0 R >>',
    () => `<< /Type /Pages /Kids [${pages.map((_, i) => `${5 + i * 2} 0 R`).join(' ')}] /Count ${pages.length} >>`,
    () => '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    (n) => `<< /Title <${hex(protect(n, options.title ?? ''))}> >>`,
  ]
  for (const [i, text] of pages.entries()) {
    objects.push(() => `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Resources << /Font << /F1 3 0 R >> >> /Contents ${6 + i * 2} 0 R >>`)
    objects.push((n) => {
      const data = protect(n, `BT /F1 12 Tf 20 200 Td (${text}) Tj ET`)
      return `<< /Length ${data.length} >>\nstream\n${String.fromCharCode(...data)}\nendstream`
    })
  }
  if (encryptDict !== '') objects.push(() => encryptDict)

  let out = '%PDF-1.4\n'
  const offsets: number[] = []
  for (const [i, object] of objects.entries()) {
    offsets.push(out.length)
    out += `${i + 1} 0 obj\n${object(i + 1)}\nendobj\n`
  }
  const xref = out.length
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`
  out += offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`).join('')
  const encryptRef = encryptDict === '' ? '' : ` /Encrypt ${objects.length} 0 R`
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Info 4 0 R${encryptRef} /ID [<${hex(fileId)}> <${hex(fileId)}>] >>\n`
  out += `startxref\n${xref}\n%%EOF\n`
  return latin1(out)
}

const W = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main'
const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** A minimal docx as Word lays it out; styles.xml names the heading styles, which is what mammoth maps to h1/h2. */
export async function docx(paragraphs: readonly (readonly [text: string, style?: 'Heading1' | 'Heading2'])[]): Promise<Uint8Array> {
  const body = paragraphs
    .map(([text, style]) => {
      const props = style === undefined ? '' : `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>`
      return `<w:p>${props}<w:r><w:t xml:space="preserve">${escapeXml(text)}</w:t></w:r></w:p>`
    })
    .join('')
  const zip = new JSZip()
  zip.file(
    '[Content_Types].xml',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/></Types>',
  )
  zip.file(
    '_rels/.rels',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
  )
  zip.file(
    'word/_rels/document.xml.rels',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>',
  )
  zip.file(
    'word/styles.xml',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:styles xmlns:w="${W}"><w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/></w:style><w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/><w:basedOn w:val="Normal"/></w:style></w:styles>`,
  )
  zip.file('word/document.xml', `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="${W}"><w:body>${body}</w:body></w:document>`)
  return zip.generateAsync({ type: 'uint8array' })
}

/** A zip that is a valid archive but holds no Word parts. */
export async function plainZip(): Promise<Uint8Array> {
  const zip = new JSZip()
  zip.file('notes.txt', 'not a document')
  return zip.generateAsync({ type: 'uint8array' })
}

/** The zip local-file signature followed by noise: right magic, nothing readable behind it. */
export function zipGarbage(): Uint8Array {
  const bytes = new Uint8Array(400)
  bytes.set([0x50, 0x4b, 0x03, 0x04])
  for (let i = 4; i < bytes.length; i++) bytes[i] = (i * 37 + 11) & 255
  return bytes
}

export function workbook(bookType: 'xlsx' | 'xls', sheets: Record<string, unknown[][]>): Uint8Array {
  const book = XLSX.utils.book_new()
  for (const [name, rows] of Object.entries(sheets)) XLSX.utils.book_append_sheet(book, XLSX.utils.aoa_to_sheet(rows), name)
  return new Uint8Array(XLSX.write(book, { type: 'buffer', bookType }) as Uint8Array)
}

/** What Office writes for a password-protected .docx/.xlsx: a CFB container, not a zip, holding the encrypted package. */
export function encryptedOoxml(): Uint8Array {
  const container = XLSX.CFB.utils.cfb_new()
  // EncryptionInfo header for "agile" encryption (version 4.4), followed by a token XML body.
  XLSX.CFB.utils.cfb_add(container, '/EncryptionInfo', new Uint8Array([4, 0, 4, 0, 0x40, 0, 0, 0, ...encode('<encryption/>')]))
  XLSX.CFB.utils.cfb_add(container, '/EncryptedPackage', new Uint8Array(512).fill(0xa5))
  return new Uint8Array(XLSX.CFB.write(container, { type: 'buffer' }) as Uint8Array)
}

/**
 * An xls whose Workbook stream carries a FILEPASS record (XOR obfuscation) right after BOF, as Excel writes for a
 * password-protected 97-2003 workbook. SheetJS cannot write one, so it is patched into its own output.
 */
export function xlsWithFilePass(): Uint8Array {
  const container = XLSX.CFB.read(workbook('xls', { S: [['a'], ['b']] }), { type: 'buffer' })
  const entry = XLSX.CFB.find(container, 'Workbook') as { content: Uint8Array; size: number }
  const stream = Uint8Array.from(entry.content)
  const afterBof = 4 + ((stream[2] ?? 0) | ((stream[3] ?? 0) << 8))
  // Record 0x002F, 6 bytes: wEncryptionType 0 (XOR), key, verification bytes.
  const filePass = Uint8Array.from([0x2f, 0x00, 0x06, 0x00, 0x00, 0x00, 0x34, 0x12, 0x78, 0x56])
  const patched = new Uint8Array(stream.length + filePass.length)
  patched.set(stream.subarray(0, afterBof))
  patched.set(filePass, afterBof)
  patched.set(stream.subarray(afterBof), afterBof + filePass.length)
  entry.content = patched
  entry.size = patched.length
  return new Uint8Array(XLSX.CFB.write(container, { type: 'buffer' }) as Uint8Array)
}

/**
 * A one-sheet xlsx whose sheet XML has been rewritten by `edit`, for shapes SheetJS will not write quickly (its
 * writer walks the whole declared range, so a far-away cell or a huge <dimension> takes it minutes).
 */
export async function patchedWorkbook(rows: unknown[][], edit: (sheetXml: string) => string): Promise<Uint8Array> {
  const zip = await JSZip.loadAsync(workbook('xlsx', { Sheet1: rows }))
  const path = 'xl/worksheets/sheet1.xml'
  const xml = await zip.file(path)?.async('string')
  if (xml === undefined) throw new Error(`SheetJS output has no ${path}`)
  const edited = edit(xml)
  if (edited === xml) throw new Error('the edit changed nothing')
  zip.file(path, edited)
  return zip.generateAsync({ type: 'uint8array' })
}
