/** The RAG API's shapes as the dashboard uses them (see src/rag/model.ts), and its paths. */

export const RAG = '/api-internal/v1/rag'

export interface Collection {
  id: string
  owner_id: string
  name: string
  description: string
  embedding_model: string | null
  embedding_dimensions: number | null
  chunk_tokens: number
  chunk_overlap: number
  document_count: number
  chunk_count: number
  bytes: number
  created_at: string
  updated_at: string
}

export type DocumentStatus = 'queued' | 'processing' | 'indexed' | 'failed'

export interface Doc {
  id: string
  collection_id: string
  filename: string
  format: string
  content_type: string | null
  size: number
  sha256: string
  status: DocumentStatus
  error: string | null
  /** 0..1 */
  progress: number
  title: string | null
  record_count: number
  chunk_count: number
  token_count: number
  created_at: string
  updated_at: string
  indexed_at: string | null
}

/** What a progress event carries (src/rag/events.ts). */
export interface DocEvent {
  id: string
  collection_id: string
  filename: string
  status: DocumentStatus
  progress: number
  error: string | null
  chunk_count: number
}

export interface Chunk {
  id: number
  position: number
  text: string
  tokens: number
  heading: string | null
  page: number | null
  sheet: string | null
  rows: [number, number] | null
}

export interface UploadLimits {
  extensions: string[]
  max_file_bytes: number
  max_files_per_upload: number
}

export interface Rejection {
  filename: string
  reason: string
  message: string
}

export interface UploadResult {
  accepted: Doc[]
  rejected: Rejection[]
}

export type SearchMode = 'lexical' | 'vector' | 'hybrid'

export interface SearchResult {
  chunk_id: number
  document_id: string
  document_name: string
  position: number
  snippet: string
  score: number
  scores: { lexical: number | null; lexical_rank: number | null; vector: number | null; vector_rank: number | null; fused: number | null }
  heading: string | null
  page: number | null
  sheet: string | null
}

export interface SearchResponse {
  mode: SearchMode
  results: SearchResult[]
  timing: { total_ms: number }
}

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
