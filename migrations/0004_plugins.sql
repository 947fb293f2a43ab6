-- Plugins: what was discovered or installed, what an administrator granted, settings (secrets sealed), the
-- plugin-scoped key/value store, the audit of host calls, cron runs and per-invocation stats.

CREATE TABLE plugins (
  name text PRIMARY KEY,
  version text NOT NULL,
  manifest jsonb NOT NULL,
  source text NOT NULL CHECK (source IN ('bundled', 'uploaded')),
  -- Folder the code was read from (bundled), or where an upload was unpacked.
  path text NOT NULL,
  code_hash text NOT NULL,
  enabled boolean NOT NULL DEFAULT false,
  -- NULL until an administrator grants; enabling needs a grant that covers what the manifest asks for.
  granted jsonb,
  granted_by uuid,
  granted_at timestamptz,
  config jsonb NOT NULL DEFAULT '{}',
  -- Secret settings, each sealed with the platform key (AES-256-GCM), bound to plugin and field.
  secrets jsonb NOT NULL DEFAULT '{}',
  disabled_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE plugin_kv (
  plugin text NOT NULL REFERENCES plugins (name) ON DELETE CASCADE,
  key text NOT NULL,
  value jsonb NOT NULL,
  bytes integer NOT NULL,
  expires_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (plugin, key)
);

-- What each plugin spent on LLM calls per calendar month, against the budget of its grant.
CREATE TABLE plugin_spend (
  plugin text NOT NULL,
  month date NOT NULL,
  micros bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (plugin, month)
);

CREATE TABLE plugin_invocations (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  plugin text NOT NULL,
  kind text NOT NULL,
  status text NOT NULL CHECK (status IN ('ok', 'error', 'limit')),
  error_code text,
  duration_ms real NOT NULL,
  host_calls integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plugin_invocations_plugin_idx ON plugin_invocations (plugin, created_at DESC);

-- Every host call, allowed or refused.
CREATE TABLE plugin_audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  plugin text NOT NULL,
  invocation_id text,
  call text NOT NULL,
  allowed boolean NOT NULL,
  detail text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plugin_audit_plugin_idx ON plugin_audit (plugin, created_at DESC);

-- One row per (plugin, job, scheduled minute): the unique key is what lets exactly one replica run each tick.
CREATE TABLE plugin_cron_runs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  plugin text NOT NULL,
  job text NOT NULL,
  scheduled_for timestamptz NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'error')),
  duration_ms real,
  error text,
  replica text,
  UNIQUE (plugin, job, scheduled_for)
);
CREATE INDEX plugin_cron_runs_plugin_idx ON plugin_cron_runs (plugin, started_at DESC);

CREATE TABLE plugin_logs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  plugin text NOT NULL,
  invocation_id text,
  level text NOT NULL,
  message text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plugin_logs_plugin_idx ON plugin_logs (plugin, created_at DESC);
