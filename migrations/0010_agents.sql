-- Agents: a model with instructions and tools, run in a loop that executes the model's tool calls server-side.
CREATE TABLE agents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL,
  model text NOT NULL,
  instructions text NOT NULL DEFAULT '',
  -- Tool specs as configured ({type, ...settings}); resolved for the caller on every run.
  tools jsonb NOT NULL DEFAULT '[]',
  max_steps integer NOT NULL DEFAULT 8,
  -- A run stops before it could cost more than this (NULL: only budgets bound it).
  max_cost_micros bigint,
  temperature real,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_owner_idx ON agents (owner_id, created_at DESC);

-- One row per run; runs sharing a conversation_id continue one conversation.
CREATE TABLE agent_runs (
  id uuid PRIMARY KEY,
  agent_id uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  api_key_id uuid,
  source text NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'completed', 'max_steps', 'max_cost', 'budget_exceeded', 'error', 'cancelled')),
  input text NOT NULL,
  output text,
  -- Model calls and tool calls in order, as shown to the run's owner.
  steps jsonb NOT NULL DEFAULT '[]',
  prompt_tokens integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0,
  cost_micros bigint NOT NULL DEFAULT 0,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX agent_runs_agent_idx ON agent_runs (agent_id, created_at DESC);
CREATE INDEX agent_runs_conversation_idx ON agent_runs (conversation_id, created_at);
