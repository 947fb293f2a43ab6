-- Confidentiality guarantees, guardrails and threat detection (issue 17).

-- Confidential-only and data-loss prevention per user (set by administrators) and per key (set by its owner, and
-- only ever tightening what the owner's policy says). NULL dlp_mode: the platform's setting (users) or no change (keys).
ALTER TABLE users ADD COLUMN confidential_only boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN dlp_mode text CHECK (dlp_mode IN ('off', 'redact', 'block'));
ALTER TABLE api_keys ADD COLUMN confidential_only boolean NOT NULL DEFAULT false;
ALTER TABLE api_keys ADD COLUMN dlp_mode text CHECK (dlp_mode IN ('off', 'redact', 'block'));
-- Set by threat detection (an anomaly under the "suspend" policy); an administrator reinstates the key.
ALTER TABLE api_keys ADD COLUMN suspended_at timestamptz;
ALTER TABLE api_keys ADD COLUMN suspended_reason text;

-- A chatbot may require confidential models, and keeps chunks flagged as prompt injection out of the model's context
-- (on by default: a flagged chunk holds instructions aimed at the model, which is the attack).
ALTER TABLE chatbots ADD COLUMN confidential_only boolean NOT NULL DEFAULT false;
ALTER TABLE chatbots ADD COLUMN exclude_flagged_context boolean NOT NULL DEFAULT true;

-- Prompt-injection score of each chunk at ingestion (0..1); NULL for chunks indexed before scoring existed.
ALTER TABLE rag_chunks ADD COLUMN injection_score real;
ALTER TABLE rag_chunks ADD COLUMN injection_flagged boolean NOT NULL DEFAULT false;
-- What the heuristics found (signal names, never the text), and whether a judge model confirmed it.
ALTER TABLE rag_chunks ADD COLUMN injection_signals text[] NOT NULL DEFAULT '{}';

-- Addresses blocked by threat detection or an administrator. Enforced from each replica's in-memory copy (told of
-- changes over the cache's pub/sub, and re-read every few seconds); rows are the list administrators see and lift.
-- At most one live (not lifted) row per address; an expired one is closed before a new block of the address.
CREATE TABLE ip_blocks (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ip text NOT NULL,
  reason text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  created_by uuid,
  lifted_at timestamptz,
  lifted_by uuid
);
CREATE UNIQUE INDEX ip_blocks_live_idx ON ip_blocks (ip) WHERE lifted_at IS NULL;
CREATE INDEX ip_blocks_created_idx ON ip_blocks (created_at DESC);

-- The networks (/24 for IPv4, /48 for IPv6) each key was used from: a new one is an anomaly for a key with history.
CREATE TABLE api_key_networks (
  api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
  network text NOT NULL,
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (api_key_id, network)
);

-- Security thresholds changed at run time (one row); the environment gives the defaults.
CREATE TABLE security_settings (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  settings jsonb NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by uuid
);

-- Security events are audit events (action 'security.*'); reading them by time and by kind.
CREATE INDEX audit_log_security_idx ON audit_log (created_at DESC, id DESC) WHERE action LIKE 'security.%';
