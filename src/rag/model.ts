import { t } from 'elysia'

const collectionFields = {
  name: t.String({ minLength: 1, maxLength: 200 }),
  description: t.String({ maxLength: 2000 }),
  /** A gateway embeddings model; null makes the collection lexical-only (still fully searchable). */
  embedding_model: t.Nullable(t.String({ minLength: 1, maxLength: 200 })),
  chunk_tokens: t.Integer({ minimum: 50, maximum: 4000 }),
  chunk_overlap: t.Integer({ minimum: 0, maximum: 1000 }),
}

export const CreateCollectionBody = t.Object(
  {
    name: collectionFields.name,
    description: t.Optional(collectionFields.description),
    embedding_model: t.Optional(collectionFields.embedding_model),
    chunk_tokens: t.Optional(collectionFields.chunk_tokens),
    chunk_overlap: t.Optional(collectionFields.chunk_overlap),
  },
  { additionalProperties: false },
)
export type CreateCollectionInput = typeof CreateCollectionBody.static

export const UpdateCollectionBody = t.Partial(t.Object(collectionFields), { additionalProperties: false, minProperties: 1 })
export type UpdateCollectionInput = typeof UpdateCollectionBody.static

export const CollectionSchema = t.Object({
  id: t.String({ format: 'uuid' }),
  owner_id: t.String({ format: 'uuid' }),
  name: t.String(),
  description: t.String(),
  embedding_model: t.Nullable(t.String()),
  embedding_dimensions: t.Nullable(t.Integer()),
  chunk_tokens: t.Integer(),
  chunk_overlap: t.Integer(),
  document_count: t.Integer(),
  chunk_count: t.Integer(),
  bytes: t.Integer(),
  created_at: t.String({ format: 'date-time' }),
  updated_at: t.String({ format: 'date-time' }),
})

export const DocumentStatus = t.Union([t.Literal('queued'), t.Literal('processing'), t.Literal('indexed'), t.Literal('failed')])

export const DocumentSchema = t.Object({
  id: t.String({ format: 'uuid' }),
  collection_id: t.String({ format: 'uuid' }),
  filename: t.String(),
  format: t.String(),
  content_type: t.Nullable(t.String()),
  size: t.Integer(),
  sha256: t.String(),
  status: DocumentStatus,
  error: t.Nullable(t.String()),
  progress: t.Number(),
  title: t.Nullable(t.String()),
  metadata: t.Record(t.String(), t.Unknown()),
  record_count: t.Integer(),
  chunk_count: t.Integer(),
  token_count: t.Integer(),
  created_at: t.String({ format: 'date-time' }),
  updated_at: t.String({ format: 'date-time' }),
  indexed_at: t.Nullable(t.String({ format: 'date-time' })),
})

export const ChunkSchema = t.Object({
  id: t.Integer(),
  position: t.Integer(),
  text: t.String(),
  tokens: t.Integer(),
  heading: t.Nullable(t.String()),
  page: t.Nullable(t.Integer()),
  sheet: t.Nullable(t.String()),
  rows: t.Nullable(t.Tuple([t.Integer(), t.Integer()])),
  metadata: t.Record(t.String(), t.Unknown()),
})

/** What an upload may carry, so a client can refuse a file before sending it (the server checks again). */
export const UploadLimitsSchema = t.Object({
  extensions: t.Array(t.String()),
  max_file_bytes: t.Integer(),
  max_files_per_upload: t.Integer(),
})

const RejectionSchema = t.Object({ filename: t.String(), reason: t.String(), message: t.String() })

export const UploadResultSchema = t.Object({
  accepted: t.Array(DocumentSchema),
  rejected: t.Array(RejectionSchema),
})

/**
 * Nothing accepted: the same lists, plus the usual error envelope so that a client reading only `error` still
 * shows why (the refusals' messages, each naming its file; the reasons are in `rejected`).
 */
export const UploadRefusedSchema = t.Composite([
  UploadResultSchema,
  t.Object({ error: t.Object({ message: t.String(), type: t.String(), code: t.String(), param: t.String() }) }),
])

const SearchModeSchema = t.Union([t.Literal('lexical'), t.Literal('vector'), t.Literal('hybrid')])
export type SearchMode = typeof SearchModeSchema.static

const GroupBySchema = t.UnionEnum(['chunk', 'document'], {
  default: 'chunk',
  description:
    '"chunk": the best chunks, several may come from one document. "document": each document once, at its best chunk ' +
    '(its score, ranks and snippet are that chunk\'s; `chunks` counts its chunks among the candidates), top_k documents ' +
    'however many chunks that takes (in hybrid mode, grouped after fusion).',
})

export const SearchBody = t.Object(
  {
    query: t.String({ minLength: 1, maxLength: 4000 }),
    /** Default: hybrid when the collection has an embedding model, else lexical. */
    mode: t.Optional(SearchModeSchema),
    top_k: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 5, description: 'Chunks to return, or documents with group_by "document".' })),
    group_by: t.Optional(GroupBySchema),
    /**
     * Drops results under this score. The score is the mode's own: BM25 (lexical), cosine similarity (vector),
     * or the fused score scaled to 0..1 (hybrid; 1 = ranked first by every ranker).
     */
    score_threshold: t.Optional(t.Number()),
    document_ids: t.Optional(t.Array(t.String({ format: 'uuid' }), { maxItems: 1000 })),
    /** Chunks whose metadata contains all these key/value pairs (e.g. {"source_url": "..."}). */
    metadata: t.Optional(t.Record(t.String({ maxLength: 200 }), t.Union([t.String(), t.Number(), t.Boolean()]))),
    /** Reciprocal rank fusion weights and constant. */
    weights: t.Optional(
      t.Object({ lexical: t.Number({ minimum: 0, maximum: 10 }), vector: t.Number({ minimum: 0, maximum: 10 }) }, { additionalProperties: false }),
    ),
    rrf_k: t.Optional(t.Integer({ minimum: 1, maximum: 1000 })),
  },
  { additionalProperties: false },
)
export type SearchInput = typeof SearchBody.static

export const SearchResultSchema = t.Object({
  chunk_id: t.Integer(),
  document_id: t.String(),
  document_name: t.String(),
  collection_id: t.String(),
  position: t.Integer(),
  text: t.String(),
  snippet: t.String(),
  score: t.Number(),
  scores: t.Object({
    lexical: t.Nullable(t.Number()),
    lexical_rank: t.Nullable(t.Integer()),
    vector: t.Nullable(t.Number()),
    vector_rank: t.Nullable(t.Integer()),
    fused: t.Nullable(t.Number()),
  }),
  heading: t.Nullable(t.String()),
  page: t.Nullable(t.Integer()),
  sheet: t.Nullable(t.String()),
  metadata: t.Record(t.String(), t.Unknown()),
  /**
   * Prompt-injection screening of the chunk at ingestion: flagged chunks hold text aimed at a model ("ignore previous
   * instructions", chat-template tokens, hidden characters); chatbots leave them out of the context by default. Null
   * for chunks indexed before screening existed.
   */
  injection: t.Nullable(
    t.Object({ flagged: t.Boolean(), score: t.Number(), signals: t.Array(t.String(), { description: 'What was found, by name (never the text)' }) }),
  ),
  chunks: t.Optional(
    t.Integer({
      minimum: 1,
      description:
        'group_by "document" only: how many of the document\'s chunks were among the ranked candidates (a lower bound when ' +
        'the rankers were not asked for every match).',
    }),
  ),
})

export const SearchResponseSchema = t.Object({
  mode: SearchModeSchema,
  group_by: GroupBySchema,
  results: t.Array(SearchResultSchema),
  timing: t.Object({ total_ms: t.Number(), lexical_ms: t.Nullable(t.Number()), embed_ms: t.Nullable(t.Number()), vector_ms: t.Nullable(t.Number()) }),
})
export type SearchResponse = typeof SearchResponseSchema.static
