-- Documents and retrieval: collections, encrypted originals, documents, chunks, BM25 postings, vectors; and a
-- general job queue that the ingestion runs on.

CREATE TABLE jobs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'processing', 'done', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 5,
  run_after timestamptz NOT NULL DEFAULT now(),
  -- A worker holds a job only while its lease lasts: a crashed worker's job is taken up again when it runs out.
  lease_until timestamptz,
  locked_by text,
  progress real NOT NULL DEFAULT 0,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_ready_idx ON jobs (run_after) WHERE status = 'queued';
CREATE INDEX jobs_leased_idx ON jobs (lease_until) WHERE status = 'processing';

CREATE TABLE rag_collections (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  -- NULL: lexical only, still fully searchable.
  embedding_model text,
  embedding_dimensions integer,
  chunk_tokens integer NOT NULL DEFAULT 300,
  chunk_overlap integer NOT NULL DEFAULT 50,
  document_count integer NOT NULL DEFAULT 0,
  chunk_count integer NOT NULL DEFAULT 0,
  bytes bigint NOT NULL DEFAULT 0,
  -- Sum of the BM25 lengths of all chunks: with chunk_count it gives the average length BM25 normalises by.
  term_count bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (owner_id, name)
);

-- One row per uploaded file. The bytes live encrypted on disk under a per-file data key, wrapped by the master key.
CREATE TABLE rag_documents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  collection_id uuid NOT NULL REFERENCES rag_collections (id) ON DELETE CASCADE,
  filename text NOT NULL,
  format text NOT NULL,
  content_type text,
  size bigint NOT NULL,
  sha256 text NOT NULL,
  wrapped_key text NOT NULL,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'processing', 'indexed', 'failed')),
  error text,
  progress real NOT NULL DEFAULT 0,
  job_id uuid,
  title text,
  metadata jsonb NOT NULL DEFAULT '{}',
  record_count integer NOT NULL DEFAULT 0,
  chunk_count integer NOT NULL DEFAULT 0,
  token_count integer NOT NULL DEFAULT 0,
  uploaded_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  indexed_at timestamptz,
  UNIQUE (collection_id, sha256)
);
CREATE INDEX rag_documents_collection_idx ON rag_documents (collection_id, created_at DESC);

CREATE TABLE rag_chunks (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  collection_id uuid NOT NULL REFERENCES rag_collections (id) ON DELETE CASCADE,
  document_id uuid NOT NULL REFERENCES rag_documents (id) ON DELETE CASCADE,
  position integer NOT NULL,
  text text NOT NULL,
  tokens integer NOT NULL,
  -- BM25 length (index terms), kept so removing a chunk can correct the collection's total.
  terms integer NOT NULL,
  heading text,
  page integer,
  sheet text,
  row_from integer,
  row_to integer,
  metadata jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX rag_chunks_document_idx ON rag_chunks (document_id, position);
CREATE INDEX rag_chunks_collection_idx ON rag_chunks (collection_id);

-- BM25 postings. The chunk's length rides along so a query is scored from this index alone (an index-only scan),
-- and document frequencies are counted at query time, so nothing else has to be kept in step.
CREATE TABLE rag_postings (
  collection_id uuid NOT NULL,
  term text NOT NULL,
  chunk_id bigint NOT NULL REFERENCES rag_chunks (id) ON DELETE CASCADE,
  tf integer NOT NULL,
  length integer NOT NULL,
  PRIMARY KEY (collection_id, term, chunk_id) INCLUDE (tf, length)
);
CREATE INDEX rag_postings_chunk_idx ON rag_postings (chunk_id);

-- Vectors where PostgreSQL has no pgvector: float32 bytes, searched exactly in the server process.
CREATE TABLE rag_embeddings (
  chunk_id bigint PRIMARY KEY REFERENCES rag_chunks (id) ON DELETE CASCADE,
  collection_id uuid NOT NULL,
  embedding bytea NOT NULL,
  -- With the row count, tells a replica's in-memory copy that the collection's vectors changed.
  written_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rag_embeddings_collection_idx ON rag_embeddings (collection_id);

-- Where pgvector is installed (always in the embedded PGlite), vectors go to a vector column instead.
DO $$
BEGIN
  IF to_regtype('vector') IS NOT NULL THEN
    EXECUTE 'CREATE TABLE rag_vectors (
      chunk_id bigint PRIMARY KEY REFERENCES rag_chunks (id) ON DELETE CASCADE,
      collection_id uuid NOT NULL,
      embedding vector NOT NULL
    )';
    EXECUTE 'CREATE INDEX rag_vectors_collection_idx ON rag_vectors (collection_id)';
  END IF;
END
$$;

ALTER TABLE api_keys ADD COLUMN allowed_collections text[] NOT NULL DEFAULT '{}';
