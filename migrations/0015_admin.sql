-- Administration (issue 18): platform settings, modules, custom roles, notifications, retention.

-- Platform settings changed at run time, over the environment's defaults (one row; security thresholds keep their own
-- row in security_settings). Secret settings (the SMTP password) are sealed under ENCRYPTION_KEY in `secrets`.
CREATE TABLE platform_settings (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  settings jsonb NOT NULL DEFAULT '{}',
  secrets jsonb NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by uuid
);

-- Modules an administrator turned off (or on again); a module without a row is enabled.
CREATE TABLE modules (
  name text PRIMARY KEY CHECK (name IN ('chatbots', 'rag', 'agents', 'plugins', 'playground')),
  enabled boolean NOT NULL,
  reason text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by uuid
);

-- Roles: the four built-in ones (their permissions live in the code, src/auth/roles.ts) and custom ones with a chosen
-- set of permissions. users.role names a row here, so no user can hold a role that does not exist; a role is renamed
-- along with its users, and deleting one moves its users to read_only first (in the same transaction).
CREATE TABLE roles (
  name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{1,39}$'),
  builtin boolean NOT NULL DEFAULT false,
  description text NOT NULL DEFAULT '',
  permissions text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid,
  updated_by uuid
);
INSERT INTO roles (name, builtin) VALUES ('read_only', true), ('user', true), ('admin', true), ('super_admin', true);
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_fkey FOREIGN KEY (role) REFERENCES roles (name) ON UPDATE CASCADE;
CREATE INDEX users_role_idx ON users (role);

-- Notification channels: owner_id NULL is an administrator's platform-wide channel (every event of its types);
-- otherwise a user's own, which hears only events that concern that user. The webhook secret is sealed.
CREATE TABLE notification_channels (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id uuid REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL,
  type text NOT NULL CHECK (type IN ('webhook', 'email')),
  target text NOT NULL,
  secret text,
  events text[] NOT NULL,
  is_active boolean NOT NULL DEFAULT true,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_channels_owner_idx ON notification_channels (owner_id);

-- One row per occurrence: dedupe_key makes an event raised by several replicas (or twice) count once.
CREATE TABLE notification_events (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  type text NOT NULL,
  dedupe_key text NOT NULL UNIQUE,
  -- The user the event concerns (their budget, key, document); NULL for platform events.
  user_id uuid,
  title text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_events_created_idx ON notification_events (created_at);

-- The outbox: each (event, channel) is delivered by one replica at a time (claimed under a lease), retried with
-- backoff, and logged with its outcome.
CREATE TABLE notification_deliveries (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id uuid NOT NULL REFERENCES notification_events (id) ON DELETE CASCADE,
  channel_id uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivering', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz,
  locked_by text,
  last_error text,
  response_status integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  UNIQUE (event_id, channel_id)
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at) WHERE status IN ('pending', 'delivering');
CREATE INDEX notification_deliveries_channel_idx ON notification_deliveries (channel_id, created_at DESC);

-- The dashboard's inbox.
CREATE TABLE notification_inbox (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  event_id uuid NOT NULL REFERENCES notification_events (id) ON DELETE CASCADE,
  read_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, event_id)
);
CREATE INDEX notification_inbox_user_idx ON notification_inbox (user_id, created_at DESC);

-- The events a user wants in their dashboard inbox (no row: every event they may receive).
CREATE TABLE notification_subscriptions (
  user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  events text[] NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Which providers are down, as one replica first saw it: provider.down and provider.recovered are raised on the
-- transition only, however many replicas' circuits open.
CREATE TABLE provider_health (
  name text PRIMARY KEY,
  state text NOT NULL CHECK (state IN ('up', 'down')),
  changed_at timestamptz NOT NULL DEFAULT now()
);

-- Usage records past their retention, summed per day before they are deleted: totals stay (several rows may share a
-- day and key; readers sum them).
CREATE TABLE usage_rollups (
  day date NOT NULL,
  user_id uuid,
  api_key_id uuid,
  model text NOT NULL,
  provider text,
  source text NOT NULL,
  endpoint text NOT NULL,
  is_tee boolean NOT NULL,
  requests bigint NOT NULL,
  errors bigint NOT NULL,
  prompt_tokens bigint NOT NULL,
  completion_tokens bigint NOT NULL,
  cost_micros bigint NOT NULL,
  latency_ms_sum bigint NOT NULL,
  latency_count bigint NOT NULL
);
CREATE INDEX usage_rollups_day_idx ON usage_rollups (day);
CREATE INDEX usage_rollups_key_idx ON usage_rollups (api_key_id, day);
CREATE INDEX usage_rollups_user_idx ON usage_rollups (user_id, day);

-- The scheduled deletion: one replica at a time holds the lease; the last run's counts are kept for the dashboard.
CREATE TABLE retention_runs (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  locked_by text,
  locked_until timestamptz,
  last_started_at timestamptz,
  last_finished_at timestamptz,
  last_result jsonb
);
INSERT INTO retention_runs (id) VALUES (true);

CREATE INDEX chatbot_conversations_updated_idx ON chatbot_conversations (updated_at);
CREATE INDEX responses_created_idx ON responses (created_at);
CREATE INDEX conversations_updated_idx ON conversations (updated_at);
