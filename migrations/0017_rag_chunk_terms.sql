-- BM25's index as one row per chunk (its terms and their frequencies) instead of one row per (term, chunk).
-- Ingesting SciFact on the embedded database spent 9.2 of its ~12 s of database time inserting ~600,000 postings
-- rows (15 µs each: a heap tuple and two B-tree entries); one row per chunk with a GIN index inserts the same
-- 5,183 abstracts in 1.2 s instead of 10.9 (PGlite, in process), and reading a collection for the replica's
-- in-memory index takes 0.25 s instead of 2 s. Searches are answered from that in-memory index; SQL scores from
-- these rows only where it is not held (docs/decisions.md has the measurements and what the SQL path costs).
CREATE TABLE rag_chunk_terms (
  chunk_id bigint PRIMARY KEY REFERENCES rag_chunks (id) ON DELETE CASCADE,
  collection_id uuid NOT NULL,
  -- The chunk's document, so the in-memory index can group a search's results by document without a query.
  document_id uuid NOT NULL,
  -- The chunk's length in terms (BM25's document length), so a collection's index is read from this table alone.
  length integer NOT NULL,
  -- Distinct terms, and each one's frequency at the same position.
  terms text[] NOT NULL,
  tfs integer[] NOT NULL,
  CHECK (cardinality(terms) = cardinality(tfs))
);
CREATE INDEX rag_chunk_terms_collection_idx ON rag_chunk_terms (collection_id, chunk_id);
-- The chunks that hold any of a query's terms, for the SQL path.
CREATE INDEX rag_chunk_terms_terms_idx ON rag_chunk_terms USING gin (terms);

INSERT INTO rag_chunk_terms (chunk_id, collection_id, document_id, length, terms, tfs)
SELECT p.chunk_id, p.collection_id, c.document_id, min(p.length), array_agg(p.term ORDER BY p.term), array_agg(p.tf ORDER BY p.term)
FROM rag_postings p JOIN rag_chunks c ON c.id = p.chunk_id GROUP BY p.chunk_id, p.collection_id, c.document_id;

DROP TABLE rag_postings;
