import type { CacheStore } from '../cache/types.ts'
import type { Logger } from '../log.ts'
import type { DocumentStatus } from './model.ts'

export interface DocumentEvent {
  id: string
  collection_id: string
  filename: string
  /** `deleted` is the last event of a deleted document. */
  status: typeof DocumentStatus.static | 'deleted'
  progress: number
  error: string | null
  chunk_count: number
}

/** The fields a progress event carries, whatever row or event it is made from. */
export function toDocumentEvent(doc: DocumentEvent): DocumentEvent {
  return {
    id: doc.id,
    collection_id: doc.collection_id,
    filename: doc.filename,
    status: doc.status,
    progress: doc.progress,
    error: doc.error,
    chunk_count: doc.chunk_count,
  }
}

/**
 * Document status changes, fanned out through the cache's pub/sub so that a dashboard connected to one replica
 * sees progress made by a worker on another.
 */
export class RagEvents {
  constructor(
    readonly cache: CacheStore,
    readonly log: Logger,
  ) {}

  publish(doc: DocumentEvent): void {
    this.cache
      .publish(`rag:events:${doc.collection_id}`, JSON.stringify(toDocumentEvent(doc)))
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'could not publish a document event'))
  }

  subscribe(collectionId: string, handler: (event: DocumentEvent) => void): Promise<() => Promise<void>> {
    return this.cache.subscribe(`rag:events:${collectionId}`, (message) => handler(JSON.parse(message) as DocumentEvent))
  }
}
