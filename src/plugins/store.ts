import type { Sql } from '../db/client.ts'
import { requestedLimits, sandboxLimits } from './manifest.ts'
import type { Grant, Manifest, PluginView } from './model.ts'

export interface PluginRow {
  name: string
  version: string
  manifest: Manifest
  source: 'bundled' | 'uploaded'
  path: string
  code_hash: string
  enabled: boolean
  granted: Grant | null
  granted_by: string | null
  granted_at: Date | null
  config: Record<string, unknown>
  secrets: Record<string, string>
  disabled_reason: string | null
  created_at: Date
  updated_at: Date
}

/** Whitelists what the API shows of a plugin: secret values never, only which secret fields are set. */
export function presentPlugin(p: PluginRow, extra: { loaded: boolean }): PluginView {
  return {
    name: p.name,
    version: p.version,
    description: p.manifest.description,
    author: p.manifest.author,
    license: p.manifest.license,
    homepage: p.manifest.homepage ?? null,
    source: p.source,
    code_hash: p.code_hash,
    enabled: p.enabled,
    loaded: extra.loaded,
    requested_permissions: p.manifest.permissions,
    requested_limits: requestedLimits(p.manifest),
    granted_permissions: p.granted,
    granted_at: p.granted_at?.toISOString() ?? null,
    routes: p.manifest.routes.map((r) => ({ method: r.method, path: r.path, auth: r.auth })),
    cron: p.manifest.cron,
    // Rows recorded before manifests had tools (uploads are not rediscovered) have none.
    tools: (p.manifest.tools ?? []).map((tool) => ({ name: tool.name, description: tool.description, parameters: tool.parameters })),
    config_schema: p.manifest.config,
    limits: p.manifest.limits,
    effective_limits: (({ memoryMb, cpuMs, wallMs }) => ({ memory_mb: memoryMb, cpu_ms: cpuMs, wall_ms: wallMs }))(sandboxLimits(p.manifest, p.granted)),
    disabled_reason: p.disabled_reason,
    created_at: p.created_at.toISOString(),
    updated_at: p.updated_at.toISOString(),
  }
}

/** The plugins table. */
export class PluginStore {
  constructor(readonly sql: Sql) {}

  async list(): Promise<PluginRow[]> {
    return [...(await this.sql<PluginRow[]>`SELECT * FROM plugins ORDER BY name`)]
  }

  async get(name: string): Promise<PluginRow | undefined> {
    const [row] = await this.sql<PluginRow[]>`SELECT * FROM plugins WHERE name = ${name}`
    return row
  }

  /**
   * Records what was found on disk; a new manifest or code moves updated_at, which replicas compare to notice it.
   * A changed code hash keeps the grant only while it still covers what the new manifest asks for (the caller
   * decides); settings are kept.
   */
  async upsert(p: { name: string; manifest: Manifest; source: PluginRow['source']; path: string; codeHash: string }): Promise<PluginRow> {
    const [row] = await this.sql<PluginRow[]>`
      INSERT INTO plugins (name, version, manifest, source, path, code_hash)
      VALUES (${p.name}, ${p.manifest.version}, ${this.sql.json(p.manifest as never)}, ${p.source}, ${p.path}, ${p.codeHash})
      ON CONFLICT (name) DO UPDATE SET version = excluded.version, manifest = excluded.manifest, source = excluded.source,
        path = excluded.path, code_hash = excluded.code_hash,
        updated_at = CASE WHEN plugins.code_hash = excluded.code_hash AND plugins.manifest = excluded.manifest THEN plugins.updated_at ELSE now() END
      RETURNING *`
    return row!
  }

  async update(name: string, fields: Partial<Pick<PluginRow, 'enabled' | 'disabled_reason' | 'granted_by' | 'granted_at'>> & { granted?: Grant | null }): Promise<PluginRow | undefined> {
    const values: Record<string, unknown> = { ...fields }
    if ('granted' in fields) values.granted = fields.granted === null ? null : this.sql.json(fields.granted as never)
    const [row] = await this.sql<PluginRow[]>`UPDATE plugins SET ${this.sql(values)}, updated_at = now() WHERE name = ${name} RETURNING *`
    return row
  }

  async saveConfig(name: string, config: Record<string, unknown>, secrets: Record<string, string>): Promise<void> {
    await this.sql`
      UPDATE plugins SET config = ${this.sql.json(config as never)}, secrets = ${this.sql.json(secrets)}, updated_at = now()
      WHERE name = ${name}`
  }

  async delete(name: string): Promise<void> {
    await this.sql`DELETE FROM plugins WHERE name = ${name}`
  }
}
