import { Elysia, t } from 'elysia'
import { auditCsv } from '../audit/csv.ts'
import { guards } from '../auth/guards.ts'
import { ApiError } from '../http/errors.ts'
import type { Services } from '../services.ts'
import { normalizeIp } from './ip-blocks.ts'
import {
  BlockBody,
  ExportEventsQuery,
  IpBlockSchema,
  IpParams,
  KeyIdParams,
  ListEventsQuery,
  SecurityEventSchema,
  SecurityOverviewSchema,
  SecuritySettingsPatch,
  SecuritySettingsView,
  SuspendedKeySchema,
} from './model.ts'

const ipOrThrow = (raw: string): string => {
  const ip = normalizeIp(raw)
  if (!ip) throw new ApiError('validation_failed', `'${raw.slice(0, 64)}' is not an IP address`, 'ip')
  return ip
}

/**
 * Security administration on the internal API. Reading (events, blocks, suspended keys, settings) needs audit:read,
 * as the events are audit events; changing anything (blocks, suspensions, thresholds) needs settings:manage. Every
 * change is audited and reversible: a block is lifted, a suspension reinstated, a setting set back.
 */
export function securityRoutes(s: Services) {
  const sec = s.security
  return new Elysia({ prefix: '/api-internal/v1/security', tags: ['security'] })
    .use(guards(s.guardDeps))
    .model({ SecurityEvent: SecurityEventSchema, IpBlock: IpBlockSchema })
    .get('/overview', () => sec.overview(), {
      permission: 'audit:read',
      response: SecurityOverviewSchema,
      detail: { summary: 'Confidentiality and DLP settings, live blocks, suspended keys, flagged chunks and the last day of events' },
    })
    .get(
      '/events',
      async ({ query }) => {
        const { limit, offset, ...filters } = query
        const ip = filters.ip ? { ip: normalizeIp(filters.ip) ?? filters.ip } : {}
        const { items, total } = await sec.events({ ...filters, ...ip, limit, offset })
        return { data: items, total, limit, offset }
      },
      {
        permission: 'audit:read',
        query: ListEventsQuery,
        response: t.Object({ data: t.Array(SecurityEventSchema), total: t.Integer(), limit: t.Integer(), offset: t.Integer() }),
        detail: {
          summary:
            'Security events, newest first: blocks, probes, key anomalies and suspensions, DLP finds, prompt injection, ' +
            'confidentiality refusals, lockouts (filters: action, severity, ip, actor_user_id, api_key_id, since, until)',
        },
      },
    )
    .get(
      '/events/export',
      async ({ query, user, meta }) => {
        const { format, limit, ...filters } = query
        const { items, total } = await sec.events({ ...filters, limit, offset: 0 })
        await s.audit.record(
          { action: 'audit.export', outcome: 'success', actor: { userId: user.id, label: user.email }, details: { feed: 'security', format, filters, rows: items.length } },
          meta,
        )
        const stamp = new Date().toISOString().replace(/[:.]/g, '-')
        const headers: Record<string, string> = {
          'content-disposition': `attachment; filename="security-events-${stamp}.${format}"`,
          'cache-control': 'no-store',
          'x-total-count': String(total),
          'x-truncated': String(total > items.length),
        }
        if (format === 'csv') return new Response(auditCsv(items), { headers: { ...headers, 'content-type': 'text/csv; charset=utf-8' } })
        const body = JSON.stringify({ exported_at: new Date().toISOString(), filters, total, data: items }, null, 2)
        return new Response(body, { headers: { ...headers, 'content-type': 'application/json; charset=utf-8' } })
      },
      { permission: 'audit:read', query: ExportEventsQuery, detail: { summary: 'Download the filtered security events as CSV or JSON (the export is audited)' } },
    )
    .get('/blocks', async () => ({ data: await sec.blocks.list() }), {
      permission: 'audit:read',
      response: t.Object({ data: t.Array(IpBlockSchema) }),
      detail: { summary: 'Blocked addresses: live blocks first, then the recent history' },
    })
    .post(
      '/blocks',
      async ({ body, user, meta, set }) => {
        const ip = ipOrThrow(body.ip)
        await sec.blocks.block(ip, { reason: body.reason ?? 'manual', minutes: body.minutes, actor: { id: user.id, email: user.email } }, meta)
        set.status = 201
        return { ip, blocked: true }
      },
      { permission: 'settings:manage', body: BlockBody, detail: { summary: 'Block an address for a while (every replica at once)' } },
    )
    .delete(
      '/blocks/:ip',
      async ({ params, user, meta, set }) => {
        if (!(await sec.blocks.lift(ipOrThrow(decodeURIComponent(params.ip)), { id: user.id, email: user.email }, meta)))
          throw new ApiError('not_found', `No live block of ${params.ip}`)
        set.status = 204
      },
      { permission: 'settings:manage', params: IpParams, detail: { summary: 'Lift a block at once, on every replica' } },
    )
    .get('/keys/suspended', async () => ({ data: await sec.suspendedKeys() }), {
      permission: 'audit:read',
      response: t.Object({ data: t.Array(SuspendedKeySchema) }),
      detail: { summary: 'API keys suspended by threat detection or an administrator' },
    })
    .post(
      '/keys/:id/suspend',
      async ({ params, user, meta }) => {
        await s.apiKeys.get(params.id, { userId: user.id, isAdmin: true })
        return { suspended: await sec.anomalies.suspend(params.id, `suspended by ${user.email}`, { id: user.id, email: user.email }, meta) }
      },
      { permission: 'settings:manage', params: KeyIdParams, detail: { summary: 'Suspend a key on every replica (reinstate to undo)' } },
    )
    .post(
      '/keys/:id/reinstate',
      async ({ params, user, meta }) => {
        if (!(await sec.anomalies.reinstate(params.id, { id: user.id, email: user.email }, meta)))
          throw new ApiError('not_found', `API key ${params.id} is not suspended`)
        return { reinstated: true }
      },
      { permission: 'settings:manage', params: KeyIdParams, detail: { summary: "Reinstate a suspended key; its anomalies are ignored for one window" } },
    )
    .get('/settings', () => ({ settings: sec.settings.current, defaults: sec.settings.defaults, updated_at: sec.settings.updatedAt }), {
      permission: 'audit:read',
      response: SecuritySettingsView,
      detail: { summary: 'The security thresholds in force, and the environment\'s defaults' },
    })
    .put(
      '/settings',
      async ({ body, user, meta }) => {
        await sec.settings.update(body, { id: user.id, email: user.email }, meta)
        return { settings: sec.settings.current, defaults: sec.settings.defaults, updated_at: sec.settings.updatedAt }
      },
      {
        permission: 'settings:manage',
        body: SecuritySettingsPatch,
        response: SecuritySettingsView,
        detail: { summary: 'Change security thresholds (every replica at once); audited with what changed' },
      },
    )
}
