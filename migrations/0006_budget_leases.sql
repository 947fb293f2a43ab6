-- Budget leases: a replica holds a slice of a budget as one reservation row and serves requests from it in memory,
-- so the hot path needs no SQL. 'request' rows are the exact per-request reservations, as before.
ALTER TABLE budget_reservations
  ADD COLUMN kind text NOT NULL DEFAULT 'request' CHECK (kind IN ('request', 'lease'));
