import { marked, type Token } from 'marked'
import { section } from './common.ts'
import { htmlToSections } from './html.ts'
import type { ExtractedDocument, Section } from './types.ts'

// Only the common "key: value" front matter form; anything fancier stays in the text rather than being misparsed.
const FRONT_MATTER = /^---[ \t]*\n([\s\S]*?)\n(?:---|\.\.\.)[ \t]*(?:\n|$)/
const FRONT_MATTER_LINE = /^([A-Za-z_][\w-]*)[ \t]*:[ \t]*(.*)$/

/**
 * Splits off YAML front matter, which marked would otherwise read as a setext heading ("title: x" underlined by
 * the closing ---).
 */
function splitFrontMatter(text: string): { body: string; fields: Record<string, string> } {
  const match = FRONT_MATTER.exec(text)
  if (match === null) return { body: text, fields: {} }
  const fields: Record<string, string> = {}
  for (const line of (match[1] ?? '').split('\n')) {
    const field = FRONT_MATTER_LINE.exec(line)
    const key = field?.[1]
    const value = field?.[2]?.trim().replace(/^(["'])(.*)\1$/, '$2')
    if (key !== undefined && value !== undefined && value !== '') fields[key] = value
  }
  return { body: text.slice(match[0].length), fields }
}

/** Inline markdown reduced to its visible text, so "**Scope** [v2](#x)" becomes "Scope v2" in heading paths. */
function plainInline(tokens: readonly Token[] | undefined, fallback: string): string {
  if (tokens === undefined) return fallback
  return tokens
    .map((token) => {
      if ('tokens' in token && Array.isArray(token.tokens)) return plainInline(token.tokens, '')
      return 'text' in token && typeof token.text === 'string' ? token.text : ''
    })
    .join('')
}

export function extractMarkdown(text: string): ExtractedDocument {
  const { body, fields } = splitFrontMatter(text)
  const sections: Section[] = []
  const path: (string | undefined)[] = []
  let blocks: string[] = []
  let firstHeading: string | undefined
  let firstTopHeading: string | undefined

  const emit = (): void => {
    const heading = path.filter((part): part is string => part !== undefined).join(' > ')
    const built = section(blocks.join('\n\n'), heading === '' ? {} : { heading })
    if (built !== undefined) sections.push(built)
    blocks = []
  }

  for (const token of marked.lexer(body)) {
    switch (token.type) {
      case 'heading': {
        const heading = plainInline(token.tokens, token.text).replace(/\s+/g, ' ').trim()
        if (heading === '') break
        emit()
        const depth: number = token.depth
        path.length = depth - 1
        path[depth - 1] = heading
        firstHeading ??= heading
        if (depth === 1) firstTopHeading ??= heading
        break
      }
      case 'space':
      case 'hr':
      case 'def':
        break
      case 'html': {
        // Raw HTML may carry <script> or <style>; it goes through the same walker as .html files.
        const html = htmlToSections(token.raw).sections.map((part) => part.text).join('\n\n')
        if (html !== '') blocks.push(html)
        break
      }
      default:
        blocks.push(token.raw.trim())
    }
  }
  emit()

  const document: ExtractedDocument = { sections, metadata: {} }
  const title = fields['title'] ?? firstTopHeading ?? firstHeading
  if (title !== undefined) document.title = title
  if (Object.keys(fields).length > 0) document.metadata['frontMatter'] = fields
  return document
}
