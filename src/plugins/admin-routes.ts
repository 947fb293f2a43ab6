import { Elysia, t } from 'elysia'
import { changes } from '../audit/changes.ts'
import { auditFor } from '../audit/service.ts'
import { guards } from '../auth/guards.ts'
import { ApiError } from '../http/errors.ts'
import type { Services } from '../services.ts'
import { CronRunSchema, GrantSchema, PluginHostCallSchema, PluginLogRetentionSchema, PluginLogSchema, PluginSchema, PluginSettingsSchema, PluginStatsSchema } from './model.ts'
import { presentPlugin, type PluginRow } from './store.ts'

const NameParams = t.Object({ name: t.String({ pattern: '^[a-z][a-z0-9-]{1,38}[a-z0-9]$' }) })
/** Logs, audit and cron history: the newest `limit` entries. */
const NewestQuery = t.Object({ limit: t.Integer({ minimum: 1, maximum: 1000, default: 100 }) })

/** Plugin management for administrators: `/api-internal/v1/plugin-admin/plugins`. */
export function pluginAdminRoutes(s: Services) {
  const { plugins } = s
  const present = (row: PluginRow) => presentPlugin(row, { loaded: plugins.isLoaded(row.name) })
  const audit = auditFor(s.audit, 'plugin')

  const admin = new Elysia({ prefix: '/api-internal/v1/plugin-admin/plugins', tags: ['plugins'] })
    .use(guards(s.guardDeps))
    .get('/', async () => ({ data: (await plugins.store.list()).map(present) }), {
      permission: 'plugins:manage',
      response: t.Object({ data: t.Array(PluginSchema) }),
      detail: { summary: 'Installed and discovered plugins with requested and granted permissions' },
    })
    .post(
      '/discover',
      async ({ user, meta }) => {
        const result = await plugins.discover()
        await audit(user, 'plugin.discover', '*', meta, { found: result.found.length, failed: result.failed.length })
        return result
      },
      { permission: 'plugins:manage', detail: { summary: 'Scan the plugin folders again' } },
    )
    .post(
      '/install',
      async ({ body, user, meta, set }) => {
        if (body.archive.size > s.config.PLUGIN_UPLOAD_MAX_MB * 1024 * 1024)
          throw new ApiError('payload_too_large', `Plugin archives may be at most ${s.config.PLUGIN_UPLOAD_MAX_MB} MB`, 'archive')
        const row = await plugins.install(new Uint8Array(await body.archive.arrayBuffer()))
        await audit(user, 'plugin.install', row.name, meta, { version: row.version, code_hash: row.code_hash })
        set.status = 201
        return present(row)
      },
      {
        permission: 'plugins:manage',
        body: t.Object({ archive: t.File() }, { additionalProperties: false }),
        response: { 201: PluginSchema },
        detail: { summary: 'Install a plugin from a .zip (plugin.json + source); it stays disabled until granted' },
      },
    )
    .get('/:name', async ({ params }) => present(await plugins.get(params.name)), {
      permission: 'plugins:manage',
      params: NameParams,
      response: PluginSchema,
      detail: { summary: 'One plugin' },
    })
    .post(
      '/:name/enable',
      async ({ params, body, user, meta }) => {
        const enabled = await plugins.enable(params.name, body.grant, user.id)
        await audit(user, 'plugin.enable', params.name, meta, { version: enabled.version, grant: enabled.granted })
        return present(enabled)
      },
      {
        permission: 'plugins:manage',
        params: NameParams,
        body: t.Object({ grant: t.Optional(GrantSchema) }, { additionalProperties: false }),
        response: PluginSchema,
        detail: {
          summary:
            'Grant permissions and limits (at least those requested; default exactly those) and enable. A plugin that cannot load stays disabled: 422 plugin_invalid names the cause',
        },
      },
    )
    .post(
      '/:name/disable',
      async ({ params, user, meta }) => {
        const row = await plugins.disable(params.name)
        await audit(user, 'plugin.disable', params.name, meta)
        return present(row)
      },
      { permission: 'plugins:manage', params: NameParams, response: PluginSchema, detail: { summary: 'Disable' } },
    )
    .post(
      '/:name/reload',
      async ({ params, user, meta }) => {
        const row = await plugins.reload(params.name)
        await audit(user, 'plugin.reload', params.name, meta, { code_hash: row.code_hash })
        return present(row)
      },
      { permission: 'plugins:manage', params: NameParams, response: PluginSchema, detail: { summary: 'Read the plugin folder again' } },
    )
    .delete(
      '/:name',
      async ({ params, user, meta, set }) => {
        await plugins.uninstall(params.name)
        await audit(user, 'plugin.uninstall', params.name, meta)
        set.status = 204
      },
      { permission: 'plugins:manage', params: NameParams, detail: { summary: 'Uninstall (its settings and kv data go with it)' } },
    )
    .get('/:name/config', ({ params }) => plugins.settings(params.name), {
      permission: 'plugins:manage',
      params: NameParams,
      response: PluginSettingsSchema,
      detail: { summary: 'Settings; secret fields only as set or not' },
    })
    .put(
      '/:name/config',
      async ({ params, body, user, meta }) => {
        const before = await plugins.settings(params.name)
        await plugins.saveSettings(params.name, body.values)
        const after = await plugins.settings(params.name)
        // A PUT replaces the settings: every plain field is compared; a secret sent is recorded as changed, no value.
        const plain = [...new Set([...Object.keys(before.values), ...Object.keys(after.values)])]
        const secrets = Object.keys(after.secrets).filter((f) => f in body.values)
        const diff = { ...changes(before.values, after.values, plain), ...Object.fromEntries(secrets.map((f) => [f, { changed: true }])) }
        await audit(user, 'plugin.config', params.name, meta, { fields: Object.keys(body.values), changes: diff })
        return after
      },
      {
        permission: 'plugins:manage',
        params: NameParams,
        body: t.Object({ values: t.Record(t.String({ maxLength: 64 }), t.Unknown()) }, { additionalProperties: false }),
        response: PluginSettingsSchema,
        detail: { summary: 'Replace settings (validated against the plugin schema; omitted secrets are kept, null clears one)' },
      },
    )
    .get('/:name/stats', ({ params }) => plugins.stats(params.name), {
      permission: 'plugins:manage',
      params: NameParams,
      response: PluginStatsSchema,
      detail: { summary: 'Invocations, errors, limit violations, latency p50/p99 (7 days), CPU' },
    })
    .get(
      '/:name/logs',
      async ({ params, query }) => ({
        retention: await plugins.records.logUsage(params.name),
        data: await s.sql`SELECT id, invocation_id, level, message, created_at FROM plugin_logs WHERE plugin = ${params.name} ORDER BY id DESC LIMIT ${query.limit}`,
      }),
      {
        permission: 'plugins:manage',
        params: NameParams,
        query: NewestQuery,
        response: t.Object({ data: t.Array(PluginLogSchema), retention: PluginLogRetentionSchema }),
        detail: { summary: 'Plugin log lines, newest first, and how much is kept (the newest PLUGIN_LOG_MAX_MB, PLUGIN_LOG_RETENTION_DAYS days)' },
      },
    )
    .get(
      '/:name/audit',
      async ({ params, query }) => ({
        data: await plugins.records.flush().then(() => s.sql`SELECT id, invocation_id, call, allowed, detail, created_at FROM plugin_audit WHERE plugin = ${params.name} ORDER BY id DESC LIMIT ${query.limit}`),
      }),
      { permission: 'plugins:manage', params: NameParams, query: NewestQuery, response: t.Object({ data: t.Array(PluginHostCallSchema) }), detail: { summary: 'Host calls, allowed and refused, newest first' } },
    )
    .get(
      '/:name/cron',
      async ({ params, query }) => ({
        data: await s.sql`
          SELECT id, job, scheduled_for, started_at, finished_at, status, duration_ms, error FROM plugin_cron_runs
          WHERE plugin = ${params.name} ORDER BY id DESC LIMIT ${query.limit}`,
      }),
      { permission: 'plugins:manage', params: NameParams, query: NewestQuery, response: t.Object({ data: t.Array(CronRunSchema) }), detail: { summary: 'Cron run history' } },
    )

  return admin
}

