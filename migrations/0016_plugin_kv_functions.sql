-- A plugin's kv write in one statement: the usage row locked, the old entry read after the lock, the quota checked,
-- the entry written and the total moved. It was a transaction of six round trips (BEGIN, lock, read, write, total,
-- COMMIT), about 1.1 ms on the embedded database, most of a plugin's kv.set. Each statement of a (volatile) PL/pgSQL
-- function takes its own snapshot under READ COMMITTED, so the read after the lock sees what the last writer
-- committed, as the separate statements did.
CREATE FUNCTION plugin_kv_put(p_plugin text, p_key text, p_value jsonb, p_bytes integer, p_expires timestamptz, p_quota bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  used bigint;
  old_bytes integer;
  delta bigint;
  freed_bytes bigint;
  freed_keys integer;
BEGIN
  INSERT INTO plugin_kv_usage (plugin) VALUES (p_plugin)
    ON CONFLICT (plugin) DO UPDATE SET plugin = excluded.plugin RETURNING bytes INTO used;
  SELECT bytes INTO old_bytes FROM plugin_kv WHERE plugin = p_plugin AND key = p_key;
  delta := p_bytes - coalesce(old_bytes, 0);
  IF used + delta > p_quota THEN
    -- Expired entries are invisible to the plugin, so they must not use up its quota: let them go, then look again.
    WITH gone AS (DELETE FROM plugin_kv WHERE plugin = p_plugin AND expires_at <= now() AND key <> p_key RETURNING bytes)
      SELECT coalesce(sum(bytes), 0), count(*) INTO freed_bytes, freed_keys FROM gone;
    IF freed_bytes > 0 THEN
      UPDATE plugin_kv_usage SET bytes = bytes - freed_bytes, keys = keys - freed_keys WHERE plugin = p_plugin;
      used := used - freed_bytes;
    END IF;
    IF used + delta > p_quota THEN
      RETURN false;
    END IF;
  END IF;
  INSERT INTO plugin_kv (plugin, key, value, bytes, expires_at) VALUES (p_plugin, p_key, p_value, p_bytes, p_expires)
    ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, bytes = excluded.bytes, expires_at = excluded.expires_at, updated_at = now();
  UPDATE plugin_kv_usage SET bytes = bytes + delta, keys = keys + CASE WHEN old_bytes IS NULL THEN 1 ELSE 0 END WHERE plugin = p_plugin;
  RETURN true;
END
$$;

-- A kv delete in one statement, under the same lock.
CREATE FUNCTION plugin_kv_remove(p_plugin text, p_key text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  gone_bytes integer;
BEGIN
  INSERT INTO plugin_kv_usage (plugin) VALUES (p_plugin) ON CONFLICT (plugin) DO UPDATE SET plugin = excluded.plugin;
  DELETE FROM plugin_kv WHERE plugin = p_plugin AND key = p_key RETURNING bytes INTO gone_bytes;
  IF gone_bytes IS NOT NULL THEN
    UPDATE plugin_kv_usage SET bytes = bytes - gone_bytes, keys = keys - 1 WHERE plugin = p_plugin;
  END IF;
END
$$;
