-- Chatbots in agent mode: the tools an agent can have (same specs, resolved for the chatbot's owner on each turn),
-- called in a loop of at most max_tool_steps model calls per turn; none: the chatbot answers as before.
ALTER TABLE chatbots ADD COLUMN tools jsonb NOT NULL DEFAULT '[]';
ALTER TABLE chatbots ADD COLUMN max_tool_steps integer NOT NULL DEFAULT 4;
-- An agent that may only run on confidential (TEE) models, whoever runs it.
ALTER TABLE agents ADD COLUMN confidential_only boolean NOT NULL DEFAULT false;
-- A chatbot may take its instructions from a prompt template of its owner (its latest version); a deleted template
-- leaves the chatbot on its own system_prompt.
ALTER TABLE chatbots ADD COLUMN prompt_id text REFERENCES prompts (id) ON DELETE SET NULL;
