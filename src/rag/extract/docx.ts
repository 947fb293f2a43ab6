import mammoth from 'mammoth'
import { fail, type Source } from './common.ts'
import { htmlToSections } from './html.ts'
import { detectType, inspectCfb, mismatch } from './sniff.ts'
import type { ExtractedDocument } from './types.ts'

/** Word's zip-based variants; mammoth reads them all the same way. */
const WORD_ZIPS = new Set(['docx', 'docm', 'dotx', 'dotm'])

// Images are dropped without being read: the default converter inlines every image as a base64 data URI, which
// costs memory and time for text we then throw away.
const skipImages = mammoth.images.imgElement(async () => ({ src: '' }))

export async function extractDocx(source: Source): Promise<ExtractedDocument> {
  const detected = await detectType(source.bytes)
  if (detected?.ext === 'cfb') {
    const contents = await inspectCfb(source.bytes)
    if (contents === 'encrypted_ooxml') {
      throw fail(source.name, 'encrypted', 'the Word document is password-protected; remove the password and upload it again')
    }
    if (contents === 'doc') throw mismatch(source, detected, 'it is an older Word .doc file; save it as .docx and upload it again')
    throw mismatch(source, detected)
  }
  // A plain "zip" verdict means file-type could not find Word's parts; mammoth decides whether the archive is a
  // damaged document (corrupt) rather than something else entirely.
  if (detected === undefined || (!WORD_ZIPS.has(detected.ext) && detected.ext !== 'zip')) throw mismatch(source, detected)

  let html: string
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength) },
      // Linked external content (e.g. an INCLUDETEXT field pointing at a server path) must never be fetched.
      { convertImage: skipImages, externalFileAccess: false },
    )
    html = result.value
  } catch (cause) {
    throw fail(source.name, 'corrupt', 'the Word document is damaged and could not be read', cause)
  }
  const content = htmlToSections(html)
  const document: ExtractedDocument = { sections: content.sections, metadata: {} }
  if (content.firstHeading !== undefined) document.title = content.firstHeading
  return document
}
