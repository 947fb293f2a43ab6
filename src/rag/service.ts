import { join } from 'node:path'
import type { CacheStore } from '../cache/types.ts'
import type { Config } from '../config.ts'
import type { Queryable, Sql } from '../db/client.ts'
import type { GatewayService } from '../gateway/service.ts'
import { JobQueue } from '../jobs/queue.ts'
import type { Logger } from '../log.ts'
import { CollectionService, type RagActor } from './collections.ts'
import { DocumentService, INGEST_JOB, type DocumentRow } from './documents.ts'
import { eventStream } from '../http/sse.ts'
import { RagEvents, toDocumentEvent, type DocumentEvent } from './events.ts'
import { FileStore } from './file-store.ts'
import { Indexer } from './indexer.ts'
import { LexicalCache } from './lexical-cache.ts'
import { SearchService } from './search.ts'
import { PreparePool } from './prepare-pool.ts'
import { openVectorStore, type SearchFilter, type VectorItem, type VectorStore } from './vectors/index.ts'
import { ChunkScreen } from '../security/chunk-screen.ts'
import type { SecurityService } from '../security/service.ts'
import type { AuditLog } from '../audit/service.ts'

/** Stands in for the vector store until start-up has asked the database which backend it can offer. */
class ChosenVectorStore implements VectorStore {
  #store: VectorStore | undefined
  get kind() {
    return this.#current.kind
  }
  get #current(): VectorStore {
    if (!this.#store) throw new Error('the vector store is not open yet')
    return this.#store
  }
  choose(store: VectorStore) {
    this.#store = store
  }
  upsert(c: string, items: VectorItem[], tx?: Queryable) {
    return this.#current.upsert(c, items, tx)
  }
  search(c: string, v: Float32Array, k: number, f?: SearchFilter) {
    return this.#current.search(c, v, k, f)
  }
  deleteDocument(c: string, d: string) {
    return this.#current.deleteDocument(c, d)
  }
  deleteCollection(c: string) {
    return this.#current.deleteCollection(c)
  }
  clear(c: string, tx?: Queryable) {
    return this.#current.clear(c, tx)
  }
}

/** Files younger than this may belong to an upload still in flight on some replica. */
const SWEEP_AFTER_MS = 60 * 60_000

/** Documents and retrieval, wired: collections, documents, the ingestion worker and search. */
export class RagService {
  readonly events: RagEvents
  readonly files: FileStore
  readonly vectors = new ChosenVectorStore()
  readonly queue: JobQueue
  readonly collections: CollectionService
  readonly documents: DocumentService
  readonly search: SearchService
  readonly lexical: LexicalCache
  readonly indexer: Indexer
  /** Threads that parse hostile bytes: uploaded files, and the pages `web_fetch` tools fetch. */
  readonly preparer: PreparePool

  constructor(
    readonly deps: {
      config: Config
      sql: Sql
      cache: CacheStore
      log: Logger
      gateway: GatewayService
      workerId: string
      /** Prompt-injection screening at ingestion; without it chunks are stored unscored. */
      security?: { service: SecurityService; audit: AuditLog }
      /** A document's indexing gave up (notifications). */
      onDocumentFailed?: (doc: DocumentRow, error: string) => void
      /** The size limit of one uploaded file, read on every upload (a runtime setting); default UPLOAD_MAX_FILE_MB. */
      maxFileBytes?: () => number
    },
  ) {
    const { config, sql, cache, log, gateway } = deps
    this.events = new RagEvents(cache, log)
    this.preparer = new PreparePool(config.INGEST_CONCURRENCY)
    this.files = new FileStore(config.FILE_STORAGE_DIR ?? join(config.DATA_DIR, 'files'), config.FILE_MASTER_KEY ?? config.ENCRYPTION_KEY, sql)
    this.queue = new JobQueue(sql, log, {
      workerId: deps.workerId,
      concurrency: config.INGEST_CONCURRENCY,
      leaseMs: config.JOB_LEASE_SECONDS * 1000,
    })
    this.collections = new CollectionService(sql)
    this.lexical = new LexicalCache(sql, log, config.LEXICAL_CACHE_MB * 1024 * 1024)
    this.documents = new DocumentService(sql, this.collections, this.files, this.queue, this.vectors, this.events, deps.maxFileBytes ?? config.UPLOAD_MAX_FILE_MB * 1024 * 1024, this.lexical)
    this.search = new SearchService(sql, this.collections, this.vectors, gateway, this.lexical, config.CHUNK_CACHE_MB * 1024 * 1024)
    const screen = deps.security ? new ChunkScreen({ settings: deps.security.service.settings, gateway, audit: deps.security.audit, log }) : null
    this.indexer = new Indexer({
      sql,
      files: this.files,
      vectors: this.vectors,
      gateway,
      events: this.events,
      log,
      screen,
      onFailed: deps.onDocumentFailed,
      lexical: this.lexical,
      preparer: this.preparer,
    })
    this.queue.register(INGEST_JOB, this.indexer)
  }

  async start(): Promise<void> {
    this.vectors.choose(await openVectorStore(this.deps.config, this.deps.sql))
    this.queue.start()
    // In the background: a large store takes a while to walk, and nothing waits on it.
    void this.sweepFiles().catch((err) => this.deps.log.error({ err: (err as Error).message }, 'file sweep failed'))
  }

  /** Removes files left by crashed writes or uploads; see FileStore.sweep. Returns the paths removed. */
  async sweepFiles(olderThan = new Date(Date.now() - SWEEP_AFTER_MS)): Promise<string[]> {
    const removed = await this.files.sweep(olderThan, async (collectionId, ids) => {
      const rows = await this.deps.sql<{ id: string }[]>`
        SELECT id FROM rag_documents WHERE collection_id = ${collectionId} AND id = ANY(${ids}::uuid[])`
      return new Set(rows.map((r) => r.id))
    })
    if (removed.length > 0) this.deps.log.info({ count: removed.length }, 'removed leftover files')
    return removed
  }

  async stop(): Promise<void> {
    await this.queue.stop()
  }

  async deleteCollection(actor: RagActor, collectionId: string): Promise<void> {
    await this.documents.deleteCollection(actor, collectionId)
    this.lexical.drop(collectionId)
  }

  /**
   * Server-sent events for a collection: first the documents not yet indexed (so a page that connects late is
   * current), then every change as it happens, with a comment line every 15 s to keep proxies from closing it.
   */
  async progressStream(actor: RagActor, collectionId: string, signal: AbortSignal): Promise<Response> {
    const collection = await this.collections.get(actor, collectionId)
    // Subscribed before the snapshot is read: a document finishing in between would otherwise be shown unfinished
    // for good. What arrives before the stream is open follows the snapshot.
    const missed: DocumentEvent[] = []
    let forward: (e: DocumentEvent) => void = (e) => {
      missed.push(e)
    }
    const unsubscribe = await this.events.subscribe(collection.id, (e) => forward(e))
    let pending: DocumentRow[]
    try {
      pending = await this.deps.sql<DocumentRow[]>`
        SELECT * FROM rag_documents WHERE collection_id = ${collection.id} AND status IN ('queued', 'processing')
        ORDER BY created_at`
    } catch (err) {
      await unsubscribe()
      throw err
    }
    return eventStream({
      initial: pending.map((d) => ({ event: 'document', data: toDocumentEvent(d) })),
      subscribe: async (send) => {
        forward = (e) => send({ event: 'document', data: e })
        for (const e of missed) forward(e)
        return unsubscribe
      },
      signal,
    })
  }
}
