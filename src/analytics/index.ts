import { Elysia, t } from 'elysia'
import { holds } from '../auth/roles.ts'
import { guards } from '../auth/guards.ts'
import type { UserRow } from '../users/service.ts'
import { ApiError } from '../http/errors.ts'
import { eventStream } from '../http/sse.ts'
import type { Services } from '../services.ts'
import { RANGES, type Range, type Scope } from './service.ts'
import { ConfidentialityQuery, confidentialityEvidence } from './confidentiality.ts'

const RangeSchema = t.Union(
  (Object.keys(RANGES) as Range[]).map((r) => t.Literal(r)),
  { default: '24h', description: 'The period: 1h (1-minute buckets), 24h (hourly), 7d (6-hourly) or 30d (daily)' },
)
const ScopeSchema = t.Union([t.Literal('mine'), t.Literal('all')], {
  default: 'mine',
  description: "mine: the signed-in user's usage; all: everyone's (needs analytics:read_all)",
})
const Query = t.Object({ range: t.Optional(RangeSchema), scope: t.Optional(ScopeSchema) })

const Count = t.Integer({ minimum: 0 })
const Latency = t.Nullable(t.Number())
const PointSchema = t.Object({
  t: t.Integer({ description: 'bucket start, unix seconds' }),
  requests: Count,
  errors: Count,
  prompt_tokens: Count,
  completion_tokens: Count,
  cost_micros: Count,
  latency_p50_ms: Latency,
  latency_p95_ms: Latency,
})
const SummarySchema = t.Object({
  range: t.String(),
  bucket_seconds: t.Integer(),
  from: t.String(),
  to: t.String(),
  totals: t.Object({
    requests: Count,
    errors: Count,
    error_rate: t.Number(),
    tee_requests: Count,
    prompt_tokens: Count,
    completion_tokens: Count,
    cost_micros: Count,
    latency_p50_ms: Latency,
    latency_p95_ms: Latency,
  }),
  series: t.Array(PointSchema),
  top_models: t.Array(t.Object({ model: t.String(), requests: Count, tokens: Count, cost_micros: Count, is_tee: t.Boolean() })),
  top_keys: t.Array(t.Object({ api_key_id: t.String(), name: t.Nullable(t.String()), requests: Count, tokens: Count, cost_micros: Count })),
  by_source: t.Array(t.Object({ source: t.String(), requests: Count, cost_micros: Count })),
})

function scopeOf(user: UserRow, wanted: 'mine' | 'all' | undefined): Scope {
  if (wanted !== 'all') return { userId: user.id }
  if (!holds(user, 'analytics:read_all')) throw new ApiError('permission_denied', `Your role (${user.role}) lacks the permission analytics:read_all`, 'scope')
  return { all: true }
}

/** Usage analytics for the dashboard: totals and series over a period, and a live stream saying when they moved. */
export function analyticsRoutes(s: Services) {
  return new Elysia({ prefix: '/api-internal/v1/analytics', tags: ['analytics'] })
    .use(guards(s.guardDeps))
    .get('/summary', ({ user, query }) => s.analytics.summary(scopeOf(user, query.scope), query.range ?? '24h'), {
      permission: 'profile:read',
      query: Query,
      response: SummarySchema,
      detail: { summary: 'Requests, tokens, cost, errors and latency over time, top models and keys, by source' },
    })
    .get(
      '/events',
      ({ user, query, request }) => {
        const scope = scopeOf(user, query.scope)
        return eventStream({ subscribe: (send) => s.analytics.onUsage(scope, (e) => send({ event: 'usage', data: e })), signal: request.signal })
      },
      {
        permission: 'profile:read',
        query: t.Object({ scope: t.Optional(ScopeSchema) }),
        detail: { summary: 'Server-sent events: `usage` whenever usage in this scope was recorded (then fetch /summary again)' },
      },
    )
    .get(
      '/confidentiality',
      async ({ user, query, meta }) => {
        const readAll = holds(user, 'analytics:read_all')
        const userId = query.user_id ?? (query.api_key_id && readAll ? null : user.id)
        if (userId !== user.id && !readAll)
          throw new ApiError('permission_denied', `Your role (${user.role}) lacks the permission analytics:read_all`, 'user_id')
        if (query.api_key_id && !readAll) {
          const [own] = await s.sql`SELECT 1 FROM api_keys WHERE id = ${query.api_key_id} AND user_id = ${user.id}`
          if (!own) throw new ApiError('not_found', `API key ${query.api_key_id} not found`, 'api_key_id')
        }
        const until = query.until ? new Date(query.until) : new Date()
        const since = query.since ? new Date(query.since) : new Date(until.getTime() - 30 * 86_400_000)
        if (since >= until) throw new ApiError('validation_failed', "Invalid query: 'since' must be before 'until'", 'since')
        // Records of answers given a moment ago are batched: the export must hold them.
        await s.ledger.flush()
        const evidence = await confidentialityEvidence(s.sql, { userId, apiKeyId: query.api_key_id ?? null, since, until, limit: query.limit })
        const filters = { user_id: userId, api_key_id: query.api_key_id ?? null, since: since.toISOString(), until: until.toISOString() }
        await s.audit.record(
          {
            action: 'analytics.confidentiality_export',
            outcome: 'success',
            actor: { userId: user.id, label: user.email },
            details: { ...filters, format: query.format, rows: evidence.records.length, records_sha256: evidence.records_sha256 },
          },
          meta,
        )
        const stamp = new Date().toISOString().replace(/[:.]/g, '-')
        const headers: Record<string, string> = {
          'cache-control': 'no-store',
          'x-records-sha256': evidence.records_sha256,
          'x-truncated': String(evidence.truncated),
        }
        if (query.format === 'csv')
          return new Response(evidence.csv, {
            headers: { ...headers, 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="confidentiality-${stamp}.csv"` },
          })
        const providers = s.registry.providers.map((p) => {
          const h = p.health()
          return { name: h.name, kind: h.kind, confidential: h.confidential, attestation: h.attestation }
        })
        return new Response(
          JSON.stringify({
            generated_at: new Date().toISOString(),
            filters,
            summary: evidence.summary,
            providers,
            truncated: evidence.truncated,
            records_sha256: evidence.records_sha256,
            records: evidence.records,
          }),
          { headers: { ...headers, 'content-type': 'application/json; charset=utf-8' } },
        )
      },
      {
        permission: 'profile:read',
        query: ConfidentialityQuery,
        detail: {
          summary:
            'Evidence of where data went: every usage record (provider, confidential or not) of a user and/or key over a period, ' +
            'as JSON (with a summary by provider and attestation) or CSV; records_sha256 (also in X-Records-SHA256 and the audit log) is the SHA-256 of the CSV',
        },
      },
    )
}
