import { fail, groupLines, section, type Source } from './common.ts'
import type { ExtractedDocument, Section } from './types.ts'

type Leaf = { readonly line: string }

/**
 * Flattens a JSON value into "a.b[0].c: value" lines. Iterative rather than recursive: JSON.parse accepts nesting
 * deep enough to overflow the stack of a recursive walker.
 */
function flattenJson(root: unknown): { lines: Leaf[]; meaningful: number } {
  const lines: Leaf[] = []
  let meaningful = 0
  const stack: [string, unknown][] = [['', root]]
  const label = (path: string, value: string): Leaf => ({ line: path === '' ? value : `${path}: ${value}` })
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const [path, value] = entry
    if (Array.isArray(value)) {
      if (value.length === 0) lines.push(label(path, '[]'))
      for (let i = value.length - 1; i >= 0; i--) stack.push([`${path}[${i}]`, value[i]])
    } else if (typeof value === 'object' && value !== null) {
      const fields = Object.entries(value)
      if (fields.length === 0) lines.push(label(path, '{}'))
      for (let i = fields.length - 1; i >= 0; i--) {
        const [key, child] = fields[i] ?? ['', undefined]
        stack.push([path === '' ? key : `${path}.${key}`, child])
      }
    } else {
      const text = String(value)
      if (value !== null && text.trim() !== '') meaningful++
      lines.push(label(path, text))
    }
  }
  return { lines, meaningful }
}

export function extractJson(source: Source, text: string): ExtractedDocument {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw fail(source.name, 'corrupt', 'the content is not valid JSON', cause)
  }
  const { lines, meaningful } = flattenJson(value)
  if (meaningful === 0) throw fail(source.name, 'empty', 'the JSON holds no text or values')
  const sections: Section[] = []
  groupLines(lines, (_group, joined) => {
    const built = section(joined)
    if (built !== undefined) sections.push(built)
  })
  return { sections, metadata: {} }
}

/** One document per line: {"text": required string, "title"?: string, ...everything else is metadata}. */
export function extractJsonLines(source: Source, text: string): ExtractedDocument[] {
  const documents: ExtractedDocument[] = []
  // Split before any whitespace normalisation, so reported line numbers match the user's editor.
  const lines = text.split('\n')
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim()
    if (line === '') continue
    const where = `${source.name} line ${index + 1}`
    let record: unknown
    try {
      record = JSON.parse(line)
    } catch (cause) {
      throw fail(where, 'corrupt', 'not valid JSON', cause)
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw fail(where, 'corrupt', 'not a JSON object')
    }
    const { text: body, title, ...metadata } = record as Record<string, unknown>
    if (typeof body !== 'string') throw fail(where, 'corrupt', 'the "text" field is missing or is not a string')
    if (title !== undefined && title !== null && typeof title !== 'string') {
      throw fail(where, 'corrupt', 'the "title" field is not a string')
    }
    const built = section(body)
    if (built === undefined) throw fail(where, 'corrupt', 'the "text" field is empty')
    const document: ExtractedDocument = { sections: [built], metadata }
    const cleanTitle = title?.trim()
    if (cleanTitle !== undefined && cleanTitle !== '') document.title = cleanTitle
    documents.push(document)
  }
  if (documents.length === 0) throw fail(source.name, 'empty', 'the file contains no records')
  return documents
}
