import type { CacheStore } from '../cache/types.ts'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'

export const RANGES = {
  '1h': { seconds: 3600, bucket: 60 },
  '24h': { seconds: 86_400, bucket: 3600 },
  '7d': { seconds: 7 * 86_400, bucket: 6 * 3600 },
  '30d': { seconds: 30 * 86_400, bucket: 86_400 },
} as const
export type Range = keyof typeof RANGES

/** Whose usage: one user's, or (with analytics:read_all) everyone's. */
export type Scope = { userId: string } | { all: true }

export interface Point {
  /** Bucket start, unix seconds. */
  t: number
  requests: number
  errors: number
  prompt_tokens: number
  completion_tokens: number
  cost_micros: number
  latency_p50_ms: number | null
  latency_p95_ms: number | null
}

export interface Summary {
  range: Range
  bucket_seconds: number
  from: string
  to: string
  totals: Omit<Point, 't'> & { error_rate: number; tee_requests: number }
  series: Point[]
  top_models: { model: string; requests: number; tokens: number; cost_micros: number; is_tee: boolean }[]
  top_keys: { api_key_id: string; name: string | null; requests: number; tokens: number; cost_micros: number }[]
  by_source: { source: string; requests: number; cost_micros: number }[]
}

const USAGE_CHANNEL = 'analytics:usage'
const TOP = 5

const num = (v: string | number | null) => (v === null ? null : Number(v))

/**
 * Usage over time from the usage ledger's records: the overview's and the analytics page's numbers. Buckets are
 * aligned to the epoch so that a refresh after new usage moves numbers, not bucket edges.
 */
export class AnalyticsService {
  constructor(
    private readonly sql: Sql,
    private readonly cache: CacheStore,
    private readonly log: Logger,
  ) {}

  async summary(scope: Scope, range: Range, now = new Date()): Promise<Summary> {
    const { seconds, bucket } = RANGES[range]
    const nowS = Math.floor(now.getTime() / 1000)
    // The series ends with the bucket holding `now` and covers the range before it.
    const lastBucket = nowS - (nowS % bucket)
    const firstBucket = lastBucket - (Math.ceil(seconds / bucket) - 1) * bucket
    const from = new Date(firstBucket * 1000)
    const userId = 'userId' in scope ? scope.userId : null
    const where = this.sql`created_at >= ${from} AND (${userId}::uuid IS NULL OR user_id = ${userId})`

    const [buckets, [totals], models, keys, sources] = await Promise.all([
      this.sql<{ t: string; requests: number; errors: number; prompt: string; completion: string; cost: string; p50: number | null; p95: number | null }[]>`
        SELECT floor(extract(epoch FROM created_at) / ${bucket})::bigint * ${bucket} AS t,
               count(*)::int AS requests, count(*) FILTER (WHERE status >= 400)::int AS errors,
               coalesce(sum(prompt_tokens), 0)::bigint AS prompt, coalesce(sum(completion_tokens), 0)::bigint AS completion,
               coalesce(sum(cost_micros), 0)::bigint AS cost,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
        FROM usage_records WHERE ${where} GROUP BY 1 ORDER BY 1`,
      this.sql<{ requests: number; errors: number; tee: number; prompt: string; completion: string; cost: string; p50: number | null; p95: number | null }[]>`
        SELECT count(*)::int AS requests, count(*) FILTER (WHERE status >= 400)::int AS errors,
               count(*) FILTER (WHERE is_tee)::int AS tee,
               coalesce(sum(prompt_tokens), 0)::bigint AS prompt, coalesce(sum(completion_tokens), 0)::bigint AS completion,
               coalesce(sum(cost_micros), 0)::bigint AS cost,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
        FROM usage_records WHERE ${where}`,
      this.sql<{ model: string; requests: number; tokens: string; cost: string; is_tee: boolean }[]>`
        SELECT model, count(*)::int AS requests, coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint AS tokens,
               coalesce(sum(cost_micros), 0)::bigint AS cost, bool_or(is_tee) AS is_tee
        FROM usage_records WHERE ${where} GROUP BY model ORDER BY requests DESC, model LIMIT ${TOP}`,
      this.sql<{ api_key_id: string; name: string | null; requests: number; tokens: string; cost: string }[]>`
        SELECT u.api_key_id, k.name, count(*)::int AS requests,
               coalesce(sum(u.prompt_tokens + u.completion_tokens), 0)::bigint AS tokens, coalesce(sum(u.cost_micros), 0)::bigint AS cost
        FROM usage_records u LEFT JOIN api_keys k ON k.id = u.api_key_id
        WHERE u.api_key_id IS NOT NULL AND u.created_at >= ${from} AND (${userId}::uuid IS NULL OR u.user_id = ${userId})
        GROUP BY u.api_key_id, k.name ORDER BY requests DESC, u.api_key_id LIMIT ${TOP}`,
      this.sql<{ source: string; requests: number; cost: string }[]>`
        SELECT source, count(*)::int AS requests, coalesce(sum(cost_micros), 0)::bigint AS cost
        FROM usage_records WHERE ${where} GROUP BY source ORDER BY requests DESC, source`,
    ])

    const byStart = new Map(buckets.map((b) => [Number(b.t), b]))
    const series: Point[] = []
    for (let t = firstBucket; t <= lastBucket; t += bucket) {
      const b = byStart.get(t)
      series.push({
        t,
        requests: b?.requests ?? 0,
        errors: b?.errors ?? 0,
        prompt_tokens: Number(b?.prompt ?? 0),
        completion_tokens: Number(b?.completion ?? 0),
        cost_micros: Number(b?.cost ?? 0),
        latency_p50_ms: num(b?.p50 ?? null),
        latency_p95_ms: num(b?.p95 ?? null),
      })
    }
    const requests = totals?.requests ?? 0
    return {
      range,
      bucket_seconds: bucket,
      from: from.toISOString(),
      to: now.toISOString(),
      totals: {
        requests,
        errors: totals?.errors ?? 0,
        error_rate: requests === 0 ? 0 : (totals?.errors ?? 0) / requests,
        tee_requests: totals?.tee ?? 0,
        prompt_tokens: Number(totals?.prompt ?? 0),
        completion_tokens: Number(totals?.completion ?? 0),
        cost_micros: Number(totals?.cost ?? 0),
        latency_p50_ms: num(totals?.p50 ?? null),
        latency_p95_ms: num(totals?.p95 ?? null),
      },
      series,
      top_models: models.map((m) => ({ model: m.model, requests: m.requests, tokens: Number(m.tokens), cost_micros: Number(m.cost), is_tee: m.is_tee })),
      top_keys: keys.map((k) => ({ api_key_id: k.api_key_id, name: k.name, requests: k.requests, tokens: Number(k.tokens), cost_micros: Number(k.cost) })),
      by_source: sources.map((s) => ({ source: s.source, requests: s.requests, cost_micros: Number(s.cost) })),
    }
  }

  /** Called by the usage ledger once records are committed: tells every replica's live dashboards whose usage moved. */
  usageRecorded(userIds: (string | null)[]): void {
    const users = [...new Set(userIds.filter((u): u is string => u !== null))]
    this.cache
      .publish(USAGE_CHANNEL, JSON.stringify({ users, at: new Date().toISOString() }))
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'could not publish a usage event'))
  }

  /** Usage events that concern `scope`. */
  onUsage(scope: Scope, handler: (event: { at: string }) => void): Promise<() => Promise<void>> {
    return this.cache.subscribe(USAGE_CHANNEL, (message) => {
      const event = JSON.parse(message) as { users: string[]; at: string }
      if ('all' in scope || event.users.includes(scope.userId)) handler({ at: event.at })
    })
  }
}
