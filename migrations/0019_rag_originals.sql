-- Small originals (up to 64 KB, documents.ts INLINE_ORIGINAL_BYTES) are kept here, beside their row, rather than as
-- a file each: sealed exactly as on disk (their own AES-256-GCM key, wrapped in rag_documents.wrapped_key), inserted
-- in the upload's transaction and gone with their row. A file per document cost a directory entry and an inode each;
-- on ext4 without a journal, with many files deleted in the minutes before (this machine's tests and benches), each
-- create took 0.1–1.5 ms of kernel time, and SciFact's 5,183 one-abstract files spent longer being written than being
-- indexed (bench/README.md, ingestion). On a shared volume (several replicas) each create is a network round trip.
CREATE TABLE rag_originals (
  document_id uuid PRIMARY KEY REFERENCES rag_documents (id) ON DELETE CASCADE,
  body bytea NOT NULL
);
-- Ciphertext does not compress: stored out of line when large, never tried for compression.
ALTER TABLE rag_originals ALTER COLUMN body SET STORAGE EXTERNAL;
