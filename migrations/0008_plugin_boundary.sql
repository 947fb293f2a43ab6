-- Plugins cannot slow the platform or each other through their own records.

-- Refusals the platform makes (for load, a crashed sandbox, a cancelled call) are recorded apart from the plugin's
-- own faults: only 'limit' counts toward disabling a plugin automatically.
ALTER TABLE plugin_invocations DROP CONSTRAINT plugin_invocations_status_check;
ALTER TABLE plugin_invocations ADD CONSTRAINT plugin_invocations_status_check CHECK (status IN ('ok', 'error', 'limit', 'refused'));

-- Each plugin's kv usage as a running total, updated with every write under the row's lock: the quota check is one
-- row, not a sum over every key the plugin holds (which slowed as keys accumulated, under a lock, for everyone).
CREATE TABLE plugin_kv_usage (
  plugin text PRIMARY KEY REFERENCES plugins (name) ON DELETE CASCADE,
  bytes bigint NOT NULL DEFAULT 0,
  keys integer NOT NULL DEFAULT 0
);
INSERT INTO plugin_kv_usage (plugin, bytes, keys) SELECT plugin, sum(bytes), count(*) FROM plugin_kv GROUP BY plugin;
CREATE INDEX plugin_kv_expires_idx ON plugin_kv (plugin, expires_at) WHERE expires_at IS NOT NULL;

-- Retention removes by age across plugins.
CREATE INDEX plugin_logs_created_idx ON plugin_logs (created_at);
CREATE INDEX plugin_audit_created_idx ON plugin_audit (created_at);
CREATE INDEX plugin_invocations_created_idx ON plugin_invocations (created_at);
