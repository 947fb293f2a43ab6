import { Elysia, t } from 'elysia'
import type { Services } from '../services.ts'
import { guards } from '../auth/guards.ts'

const Outcome = t.Union([t.Literal('success'), t.Literal('failure'), t.Literal('denied')])

const AuditRecordSchema = t.Object({
  id: t.String(),
  created_at: t.Date(),
  actor_user_id: t.Nullable(t.String()),
  actor_api_key_id: t.Nullable(t.String()),
  actor_label: t.Nullable(t.String()),
  action: t.String(),
  resource_type: t.Nullable(t.String()),
  resource_id: t.Nullable(t.String()),
  outcome: Outcome,
  ip: t.Nullable(t.String()),
  user_agent: t.Nullable(t.String()),
  request_id: t.Nullable(t.String()),
  details: t.Record(t.String(), t.Unknown()),
})

export function auditRoutes(s: Services) {
  return new Elysia({ prefix: '/api-internal/v1/audit', tags: ['audit'] }).use(guards(s.guardDeps)).get(
    '/',
    async ({ query }) => {
      const { items, total } = await s.audit.list(query)
      return { data: items, total, limit: query.limit, offset: query.offset }
    },
    {
      permission: 'audit:read',
      query: t.Object({
        action: t.Optional(t.String({ maxLength: 100 })),
        actor_user_id: t.Optional(t.String({ format: 'uuid' })),
        resource_type: t.Optional(t.String({ maxLength: 100 })),
        resource_id: t.Optional(t.String({ maxLength: 200 })),
        outcome: t.Optional(Outcome),
        since: t.Optional(t.String({ format: 'date-time' })),
        until: t.Optional(t.String({ format: 'date-time' })),
        limit: t.Integer({ minimum: 1, maximum: 500, default: 100 }),
        offset: t.Integer({ minimum: 0, default: 0 }),
      }),
      response: t.Object({ data: t.Array(AuditRecordSchema), total: t.Integer(), limit: t.Integer(), offset: t.Integer() }),
      detail: { summary: 'Search the audit log, newest first' },
    },
  )
}
