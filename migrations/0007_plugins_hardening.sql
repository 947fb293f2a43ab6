-- A plugin's LLM budget holds the worst case of every call in flight, so concurrent calls cannot overspend it.
-- One row per call; a replica that dies mid-call leaves a row that stops counting once it expires.
CREATE TABLE plugin_spend_reservations (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  plugin text NOT NULL,
  micros bigint NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX plugin_spend_reservations_plugin_idx ON plugin_spend_reservations (plugin);

-- Cron: a run holds its job until it finishes or its deadline passes (a replica that died mid-run never marks it
-- finished); a tick due meanwhile is recorded as skipped instead of running alongside. Runs recorded by an earlier
-- version (and by replicas still running one during an upgrade) hold it for the longest timeout a manifest may set.
ALTER TABLE plugin_cron_runs ADD COLUMN deadline timestamptz NOT NULL DEFAULT now() + interval '1 hour';
UPDATE plugin_cron_runs SET deadline = started_at + interval '1 hour';
ALTER TABLE plugin_cron_runs DROP CONSTRAINT plugin_cron_runs_status_check;
ALTER TABLE plugin_cron_runs ADD CONSTRAINT plugin_cron_runs_status_check CHECK (status IN ('running', 'ok', 'error', 'skipped'));
CREATE INDEX plugin_cron_runs_running_idx ON plugin_cron_runs (plugin, job) WHERE status = 'running';
