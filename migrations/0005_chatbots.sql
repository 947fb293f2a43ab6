-- Chatbots: assistants over the gateway, grounded in document collections, with persistent conversations.

CREATE TABLE chatbots (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL,
  type text NOT NULL CHECK (type IN ('assistant', 'customer_support', 'teacher', 'researcher', 'creative_writer', 'custom')),
  model text NOT NULL,
  system_prompt text NOT NULL,
  -- Values for {{name}} placeholders in the system prompt ({{date}} is always today).
  prompt_variables jsonb NOT NULL DEFAULT '{}',
  temperature real NOT NULL DEFAULT 0.7,
  max_tokens integer NOT NULL DEFAULT 1024,
  -- The model's context window: the prompt sent upstream is trimmed (oldest history first) to fit it.
  context_window integer NOT NULL DEFAULT 8192,
  -- How many earlier messages of a conversation go upstream with a new one.
  memory_length integer NOT NULL DEFAULT 10,
  rag_collections text[] NOT NULL DEFAULT '{}',
  rag_top_k integer NOT NULL DEFAULT 5,
  rag_score_threshold real,
  rag_mode text CHECK (rag_mode IN ('lexical', 'vector', 'hybrid')),
  -- Said instead of asking the model when retrieval finds nothing relevant.
  fallback_response text,
  must_cite boolean NOT NULL DEFAULT false,
  is_active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chatbots_owner_idx ON chatbots (owner_id);

CREATE TABLE chatbot_conversations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  chatbot_id uuid NOT NULL REFERENCES chatbots (id) ON DELETE CASCADE,
  -- Who talks: a user (dashboard), an API key (external API), or a plugin.
  user_id uuid,
  api_key_id uuid,
  source text NOT NULL,
  title text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chatbot_conversations_chatbot_idx ON chatbot_conversations (chatbot_id, updated_at DESC);

CREATE TABLE chatbot_messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  conversation_id uuid NOT NULL REFERENCES chatbot_conversations (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('user', 'assistant')),
  content text NOT NULL,
  sources jsonb NOT NULL DEFAULT '[]',
  prompt_tokens integer,
  completion_tokens integer,
  model text,
  latency_ms integer,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chatbot_messages_conversation_idx ON chatbot_messages (conversation_id, id);

-- A refresh token retired by a lost-rotation resume (src/auth/service.ts) never gets that grace itself.
ALTER TABLE refresh_tokens ADD COLUMN retired_at timestamptz;

-- Prompt templates: an administrator's replacement of a type's built-in default (owner_id NULL, type set), or a
-- user's own named template.
CREATE TABLE prompt_templates (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id uuid REFERENCES users (id) ON DELETE CASCADE,
  type text CHECK (type IN ('assistant', 'customer_support', 'teacher', 'researcher', 'creative_writer', 'custom')),
  name text NOT NULL,
  content text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (owner_id IS NOT NULL OR type IS NOT NULL)
);
CREATE UNIQUE INDEX prompt_templates_default_idx ON prompt_templates (type) WHERE owner_id IS NULL;
CREATE INDEX prompt_templates_owner_idx ON prompt_templates (owner_id);

ALTER TABLE api_keys ADD COLUMN allowed_chatbots text[] NOT NULL DEFAULT '{}';
-- Web origins allowed to use the key from a browser (the chat widget's publishable keys); empty: none.
ALTER TABLE api_keys ADD COLUMN allowed_origins text[] NOT NULL DEFAULT '{}';
