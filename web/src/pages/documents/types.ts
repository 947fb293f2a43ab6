/** The RAG API's shapes, from the server's schemas, and its paths and small helpers. */
import type { DocumentEvent } from '../../../../src/rag/events.ts'
import type {
  ChunkSchema,
  CollectionSchema,
  DocumentSchema,
  DocumentStatus as DocumentStatusSchema,
  SearchMode,
  SearchResponse,
  UploadLimitsSchema,
  UploadResultSchema,
} from '../../../../src/rag/model.ts'

export const RAG = '/api-internal/v1/rag'

export type Collection = typeof CollectionSchema.static

export type DocumentStatus = typeof DocumentStatusSchema.static

export type Doc = typeof DocumentSchema.static

/** What a progress event carries; a deleted document's last event says `deleted`. */
export type DocEvent = DocumentEvent

export type Chunk = typeof ChunkSchema.static
export type UploadLimits = typeof UploadLimitsSchema.static
export type UploadResult = typeof UploadResultSchema.static
export type Rejection = UploadResult['rejected'][number]
export type { SearchMode, SearchResponse }
export type SearchResult = SearchResponse['results'][number]

export const finished = (status: DocumentStatus) => status === 'indexed' || status === 'failed'

/** "1 document", "3 documents". */
export const count = (n: number, word: string) => `${new Intl.NumberFormat().format(n)} ${word}${n === 1 ? '' : 's'}`

/** Bytes as people read them: 1.2 MB, 830 B. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}
