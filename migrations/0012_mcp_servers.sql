-- MCP servers: remote tool servers (Model Context Protocol) that agents call through the tools engine. A user
-- registers their own; an administrator may share one with everyone.
CREATE TABLE mcp_servers (
  id uuid PRIMARY KEY,
  owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- Also the prefix of the server's tool names as a model sees them (<name>__<tool>).
  name text NOT NULL,
  url text NOT NULL,
  -- 'auto': Streamable HTTP, and the older HTTP+SSE transport when the server answers a POST with 404 or 405.
  transport text NOT NULL DEFAULT 'auto' CHECK (transport IN ('auto', 'streamable_http', 'sse')),
  -- Header values (e.g. Authorization) as one JSON object sealed with ENCRYPTION_KEY; only their names are shown.
  headers_encrypted text,
  header_names text[] NOT NULL DEFAULT '{}',
  -- The server's tools that may be used; NULL: every tool it lists.
  allowed_tools text[],
  -- Visible to and usable by everyone (set by administrators only).
  shared boolean NOT NULL DEFAULT false,
  -- The URL was set by an administrator, so it may name a private or loopback host exactly (a server beside
  -- Enclava); a URL set by anyone else must reach a public address.
  private_network boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX mcp_servers_owner_name_idx ON mcp_servers (owner_id, lower(name));
CREATE INDEX mcp_servers_shared_idx ON mcp_servers (shared) WHERE shared;
