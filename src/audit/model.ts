import { t } from 'elysia'

export const Outcome = t.Union([t.Literal('success'), t.Literal('failure'), t.Literal('denied')])

export const AuditRecordSchema = t.Object({
  id: t.String(),
  created_at: t.Date(),
  actor_user_id: t.Nullable(t.String()),
  actor_api_key_id: t.Nullable(t.String()),
  actor_label: t.Nullable(t.String()),
  /** The actor's current email, when the actor is a user who still exists (the label is what was typed then). */
  actor_email: t.Nullable(t.String()),
  action: t.String(),
  resource_type: t.Nullable(t.String()),
  resource_id: t.Nullable(t.String()),
  outcome: Outcome,
  ip: t.Nullable(t.String()),
  user_agent: t.Nullable(t.String()),
  request_id: t.Nullable(t.String()),
  details: t.Record(t.String(), t.Unknown()),
})

/** The filters shared by the search and the export. */
const filters = {
  action: t.Optional(t.String({ maxLength: 100 })),
  actor_user_id: t.Optional(t.String({ format: 'uuid' })),
  /** Part of the actor's email or label, case-insensitive. */
  actor: t.Optional(t.String({ minLength: 1, maxLength: 254 })),
  resource_type: t.Optional(t.String({ maxLength: 100 })),
  resource_id: t.Optional(t.String({ maxLength: 200 })),
  outcome: t.Optional(Outcome),
  since: t.Optional(t.String({ format: 'date-time' })),
  until: t.Optional(t.String({ format: 'date-time' })),
}

export const ListAuditQuery = t.Object({
  ...filters,
  limit: t.Integer({ minimum: 1, maximum: 500, default: 100 }),
  offset: t.Integer({ minimum: 0, default: 0 }),
})

/** An export is one file: bounded so a wide filter cannot make the server build an unbounded body. */
export const EXPORT_MAX_ROWS = 10_000
export const ExportAuditQuery = t.Object({
  ...filters,
  format: t.Union([t.Literal('csv'), t.Literal('json')]),
  limit: t.Integer({ minimum: 1, maximum: EXPORT_MAX_ROWS, default: EXPORT_MAX_ROWS }),
})

export const AuditIdParams = t.Object({ id: t.String({ pattern: '^[0-9]{1,18}$' }) })

export const AuditFacetsSchema = t.Object({
  actions: t.Array(t.String()),
  resource_types: t.Array(t.String()),
})
