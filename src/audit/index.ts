import { Elysia, t } from 'elysia'
import type { Services } from '../services.ts'
import { guards } from '../auth/guards.ts'
import { ApiError } from '../http/errors.ts'
import { auditCsv } from './csv.ts'
import { AuditFacetsSchema, AuditIdParams, AuditRecordSchema, ExportAuditQuery, ListAuditQuery } from './model.ts'

/** Reading the audit log (audit:read). Static paths come before `/:id`, which takes only a numeric id. */
export function auditRoutes(s: Services) {
  return new Elysia({ prefix: '/api-internal/v1/audit', tags: ['audit'] })
    .use(guards(s.guardDeps))
    .get(
      '/',
      async ({ query }) => {
        const { items, total } = await s.audit.list(query)
        return { data: items, total, limit: query.limit, offset: query.offset }
      },
      {
        permission: 'audit:read',
        query: ListAuditQuery,
        response: t.Object({ data: t.Array(AuditRecordSchema), total: t.Integer(), limit: t.Integer(), offset: t.Integer() }),
        detail: { summary: 'Search the audit log, newest first' },
      },
    )
    .get('/facets', () => s.audit.facets(), {
      permission: 'audit:read',
      response: AuditFacetsSchema,
      detail: { summary: 'The actions and resource types that occur in the log (for filter pickers)' },
    })
    .get(
      '/export',
      async ({ query, user, meta }) => {
        const { format, limit, ...filters } = query
        const { items, total } = await s.audit.list({ ...filters, limit, offset: 0 })
        // Who took a copy of the log, and of what, is itself worth recording.
        await s.audit.record(
          { action: 'audit.export', outcome: 'success', actor: { userId: user.id, label: user.email }, details: { format, filters, rows: items.length } },
          meta,
        )
        const stamp = new Date().toISOString().replace(/[:.]/g, '-')
        const headers: Record<string, string> = {
          'content-disposition': `attachment; filename="audit-log-${stamp}.${format}"`,
          'cache-control': 'no-store',
          'x-total-count': String(total),
          'x-truncated': String(total > items.length),
        }
        if (format === 'csv') return new Response(auditCsv(items), { headers: { ...headers, 'content-type': 'text/csv; charset=utf-8' } })
        const body = JSON.stringify({ exported_at: new Date().toISOString(), filters, total, data: items }, null, 2)
        return new Response(body, { headers: { ...headers, 'content-type': 'application/json; charset=utf-8' } })
      },
      {
        permission: 'audit:read',
        query: ExportAuditQuery,
        detail: {
          summary: 'Download the filtered audit log as CSV or JSON, newest first (at most 10,000 rows; X-Truncated says when more matched)',
        },
      },
    )
    .get(
      '/:id',
      async ({ params }) => {
        const record = await s.audit.get(params.id)
        if (!record) throw new ApiError('not_found', `Audit event ${params.id} not found`)
        return record
      },
      { permission: 'audit:read', params: AuditIdParams, response: AuditRecordSchema, detail: { summary: 'One audit event' } },
    )
}
