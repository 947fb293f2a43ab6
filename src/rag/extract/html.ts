import { Parser } from 'htmlparser2'
import { section } from './common.ts'
import type { Section } from './types.ts'

export interface HtmlContent {
  /** Text of the first <title>. */
  title?: string
  /** Text of the first non-empty h1-h6; docx has no <title>, so this stands in for one. */
  firstHeading?: string
  sections: Section[]
}

/** Elements whose content is never document text. <head> is handled apart because its <title> is wanted. */
const SKIPPED = new Set(['script', 'style', 'noscript', 'template'])
const PARAGRAPH = new Set([
  'address', 'article', 'aside', 'blockquote', 'caption', 'center', 'details', 'dialog', 'div', 'dl', 'fieldset',
  'figcaption', 'figure', 'footer', 'form', 'header', 'hgroup', 'hr', 'main', 'nav', 'ol', 'p', 'pre', 'section',
  'summary', 'table', 'ul',
])
const LINE = new Set(['li', 'dt', 'dd'])
const CELL = new Set(['td', 'th'])
const HEADING = /^h([1-6])$/

interface Row {
  cells: string[]
  inCell: boolean
}

const collapse = (text: string): string => text.replace(/\s+/g, ' ')

/**
 * Turns HTML into sections, one per heading block, carrying the heading path ("Intro > Scope").
 * Whitespace follows HTML rendering: runs collapse to one space except inside <pre>, and block elements end lines.
 */
export function htmlToSections(html: string): HtmlContent {
  const sections: Section[] = []
  const path: (string | undefined)[] = []
  const rows: Row[] = []
  let title: string | undefined
  let firstHeading: string | undefined

  let skipDepth = 0
  let inHead = false
  let titleText: string | undefined
  let heading: { level: number; text: string } | undefined
  let preDepth = 0

  // The current section is built from parts; pending separators are only written once more text follows, so
  // trailing spaces and breaks never accumulate.
  let parts: string[] = []
  let pendingBreak = 0
  let pendingSpace = false

  const flushPending = (spaceBefore: boolean): void => {
    if (parts.length > 0) {
      if (pendingBreak > 0) parts.push('\n'.repeat(pendingBreak))
      else if (pendingSpace || spaceBefore) parts.push(' ')
    }
    pendingBreak = 0
    pendingSpace = false
  }

  const writeInline = (raw: string): void => {
    const text = collapse(raw)
    const core = text.trim()
    if (core === '') {
      if (text !== '') pendingSpace = true
      return
    }
    flushPending(text.startsWith(' '))
    parts.push(core)
    pendingSpace = text.endsWith(' ')
  }

  const writeBlockText = (text: string): void => {
    flushPending(false)
    parts.push(text)
  }

  const lineBreak = (count: 1 | 2): void => {
    const row = rows.at(-1)
    if (row?.inCell) {
      // Inside a table cell, block structure flattens so that one table row stays one line.
      appendToCell(row, ' ')
      return
    }
    pendingBreak = Math.max(pendingBreak, count)
  }

  const appendToCell = (row: Row, text: string): void => {
    const last = row.cells.length - 1
    if (last < 0) row.cells.push(text)
    else row.cells[last] += text
  }

  const emitSection = (): void => {
    const heading = path.filter((part): part is string => part !== undefined).join(' > ')
    const built = section(parts.join(''), heading === '' ? {} : { heading })
    if (built !== undefined) sections.push(built)
    parts = []
    pendingBreak = 0
    pendingSpace = false
  }

  const closeRow = (): void => {
    const row = rows.pop()
    if (row === undefined) return
    const line = row.cells.map((cell) => collapse(cell).trim()).join(' | ')
    if (line.replace(/[ |]/g, '') === '') return
    const outer = rows.at(-1)
    if (outer?.inCell) {
      appendToCell(outer, ` ${line} `)
      return
    }
    lineBreak(1)
    writeBlockText(line)
    lineBreak(1)
  }

  const parser = new Parser(
    {
      onopentag(name) {
        if (skipDepth > 0 || SKIPPED.has(name)) {
          if (SKIPPED.has(name)) skipDepth++
          return
        }
        if (name === 'head') inHead = true
        else if (name === 'title') titleText ??= ''
        if (inHead) return
        const level = HEADING.exec(name)?.[1]
        if (level !== undefined) heading = { level: Number(level), text: '' }
        else if (name === 'tr') rows.push({ cells: [], inCell: false })
        else if (CELL.has(name)) {
          const row = rows.at(-1)
          if (row !== undefined) {
            row.cells.push('')
            row.inCell = true
          }
        } else if (name === 'br') {
          if (rows.at(-1)?.inCell) lineBreak(1)
          else pendingBreak = Math.min(2, pendingBreak + 1)
        } else if (name === 'pre') {
          lineBreak(2)
          preDepth++
        } else if (PARAGRAPH.has(name)) lineBreak(2)
        else if (LINE.has(name)) {
          lineBreak(1)
          if (name === 'li' && !rows.at(-1)?.inCell) writeBlockText('- ')
        }
      },
      ontext(text) {
        if (skipDepth > 0) return
        if (titleText !== undefined && title === undefined) {
          titleText += text
          return
        }
        if (inHead) return
        if (heading !== undefined) {
          heading.text += text
          return
        }
        const row = rows.at(-1)
        if (row !== undefined) {
          if (row.inCell || text.trim() !== '') appendToCell(row, text)
          return
        }
        if (preDepth > 0) writeBlockText(text)
        else writeInline(text)
      },
      onclosetag(name) {
        if (SKIPPED.has(name)) {
          if (skipDepth > 0) skipDepth--
          return
        }
        if (skipDepth > 0) return
        if (name === 'title' && titleText !== undefined && title === undefined) {
          title = collapse(titleText).trim()
          return
        }
        if (name === 'head') {
          inHead = false
          return
        }
        if (inHead) return
        const level = HEADING.exec(name)?.[1]
        if (level !== undefined && heading !== undefined) {
          const text = collapse(heading.text).trim()
          heading = undefined
          if (text === '') return
          emitSection()
          const depth = Number(level)
          // Deeper headings belong to the previous block; skipped levels stay holes and drop out of the path.
          path.length = depth - 1
          path[depth - 1] = text
          firstHeading ??= text
        } else if (name === 'tr') closeRow()
        else if (CELL.has(name)) {
          const row = rows.at(-1)
          if (row !== undefined) row.inCell = false
        } else if (name === 'pre') {
          preDepth = Math.max(0, preDepth - 1)
          lineBreak(2)
        } else if (PARAGRAPH.has(name)) lineBreak(2)
        else if (LINE.has(name)) lineBreak(1)
      },
    },
    { decodeEntities: true, lowerCaseTags: true },
  )
  parser.write(html)
  parser.end()
  emitSection()

  const content: HtmlContent = { sections }
  if (title !== undefined && title !== '') content.title = title
  if (firstHeading !== undefined) content.firstHeading = firstHeading
  return content
}
