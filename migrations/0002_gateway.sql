-- The gateway: providers and model settings added through the admin API, budgets with their reservations, and
-- one usage record per request. Money is integer micro-USD (1e-6 USD): exact sums, no float drift.

CREATE TABLE providers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL UNIQUE,
  kind text NOT NULL CHECK (kind IN ('privatemode', 'openai-compatible')),
  base_url text NOT NULL,
  api_key_encrypted text,
  is_active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Settings for a model id as clients name it; models without a row use the provider's list and default prices.
CREATE TABLE models (
  id text PRIMARY KEY,
  provider_name text,
  upstream_id text,
  input_price_per_million numeric(14, 6),
  output_price_per_million numeric(14, 6),
  max_output_tokens integer,
  fallback_model text,
  is_active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE budgets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  scope text NOT NULL CHECK (scope IN ('global', 'user', 'api_key')),
  user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  api_key_id uuid REFERENCES api_keys (id) ON DELETE CASCADE,
  limit_micros bigint NOT NULL CHECK (limit_micros >= 0),
  period text NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly', 'yearly', 'custom')),
  period_start timestamptz NOT NULL,
  period_end timestamptz NOT NULL,
  is_hard boolean NOT NULL DEFAULT true,
  warn_threshold_pct integer NOT NULL DEFAULT 80 CHECK (warn_threshold_pct BETWEEN 1 AND 100),
  spent_micros bigint NOT NULL DEFAULT 0,
  reserved_micros bigint NOT NULL DEFAULT 0 CHECK (reserved_micros >= 0),
  warned_at timestamptz,
  is_active boolean NOT NULL DEFAULT true,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (
    (scope = 'global' AND user_id IS NULL AND api_key_id IS NULL)
    OR (scope = 'user' AND user_id IS NOT NULL AND api_key_id IS NULL)
    OR (scope = 'api_key' AND api_key_id IS NOT NULL)
  )
);
CREATE INDEX budgets_user_idx ON budgets (user_id) WHERE is_active;
CREATE INDEX budgets_key_idx ON budgets (api_key_id) WHERE is_active;

-- Worst-case cost held against budgets while a request runs; settled (deleted) when it ends, or released by the
-- sweeper after expires_at if the replica holding it died.
CREATE TABLE budget_reservations (
  id uuid PRIMARY KEY,
  budget_ids uuid[] NOT NULL,
  amount_micros bigint NOT NULL CHECK (amount_micros >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX budget_reservations_expiry_idx ON budget_reservations (expires_at);

-- id is made by the gateway before the request is dispatched, so a retried write can never count twice.
CREATE TABLE usage_records (
  id uuid PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  request_id text,
  source text NOT NULL,
  api_key_id uuid,
  user_id uuid,
  model text NOT NULL,
  provider text,
  endpoint text NOT NULL,
  prompt_tokens integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0,
  cost_micros bigint NOT NULL DEFAULT 0,
  latency_ms integer,
  ttft_ms integer,
  status integer NOT NULL,
  error_code text,
  is_tee boolean NOT NULL DEFAULT false,
  streamed boolean NOT NULL DEFAULT false
);
CREATE INDEX usage_records_key_idx ON usage_records (api_key_id, created_at DESC);
CREATE INDEX usage_records_user_idx ON usage_records (user_id, created_at DESC);
CREATE INDEX usage_records_created_idx ON usage_records (created_at DESC);

ALTER TABLE api_keys ADD COLUMN rate_limit_tokens_per_minute integer;
