-- The Responses, Conversations and Prompts APIs (OpenAI's shapes, served over chat-completion upstreams).
-- Everything is owned by a user and goes with them. Item bodies ({item, messages} JSON) are sealed under
-- ENCRYPTION_KEY with their row as context, like other secrets at rest: a database dump holds no conversation text.

CREATE TABLE conversations (
  id text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_user_idx ON conversations (user_id, created_at DESC);

CREATE TABLE conversation_items (
  -- The sealing context; item ids may repeat (a client passes earlier items back by value).
  row_id uuid PRIMARY KEY,
  conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  id text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_items_order_idx ON conversation_items (conversation_id, seq);
CREATE INDEX conversation_items_id_idx ON conversation_items (conversation_id, id);

CREATE TABLE responses (
  id text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  api_key_id uuid,
  model text NOT NULL,
  status text NOT NULL CHECK (status IN ('completed', 'incomplete', 'failed', 'cancelled')),
  -- No foreign key: a deleted response ends the history of those that followed it, it does not delete them.
  previous_response_id text,
  conversation_id text REFERENCES conversations (id) ON DELETE SET NULL,
  -- The request's settings as the response object shows them (tools without their headers).
  params jsonb NOT NULL,
  -- Sealed; NULL when there were none.
  instructions text,
  usage jsonb,
  error jsonb,
  incomplete_details jsonb,
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz
);
CREATE INDEX responses_user_idx ON responses (user_id, created_at DESC);

CREATE TABLE response_items (
  response_id text NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
  position integer NOT NULL,
  kind text NOT NULL CHECK (kind IN ('input', 'output')),
  id text NOT NULL,
  body text NOT NULL,
  PRIMARY KEY (response_id, position)
);
CREATE INDEX response_items_id_idx ON response_items (id);

-- Reusable prompt templates; every save is a new version, and a response may name one.
CREATE TABLE prompts (
  id text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  latest_version integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, name)
);

CREATE TABLE prompt_versions (
  prompt_id text NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
  version integer NOT NULL,
  instructions text NOT NULL DEFAULT '',
  messages jsonb NOT NULL DEFAULT '[]',
  variables jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (prompt_id, version)
);
