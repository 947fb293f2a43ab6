-- A confidential model falls back to one outside the TEE only when its settings say so explicitly (off by default);
-- embedding models trained to be shortened say so too, so `dimensions` can be honoured by cutting their vectors.
ALTER TABLE models ADD COLUMN fallback_leaves_tee boolean NOT NULL DEFAULT false;
ALTER TABLE models ADD COLUMN truncatable_dimensions boolean NOT NULL DEFAULT false;
