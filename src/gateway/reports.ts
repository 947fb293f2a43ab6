import type { Sql } from '../db/client.ts'

export interface UsageDay {
  day: string
  model: string
  requests: number
  errors: number
  prompt_tokens: number
  completion_tokens: number
  cost_usd: number
}


/**
 * Usage per day and model for one key or user over the last `days` days: from the usage records, and from the daily
 * sums of records that retention deleted (usage_rollups), so a period past the retention keeps its totals.
 */
export async function usageByDay(sql: Sql, who: { apiKeyId?: string; userId?: string }, days: number): Promise<UsageDay[]> {
  const key = who.apiKeyId ?? null
  const user = who.userId ?? null
  const rows = await sql<{ day: Date; model: string; requests: number; errors: number; prompt: string; completion: string; cost: string }[]>`
    WITH recent AS (
      SELECT date_trunc('day', created_at) AS day, model, count(*) AS requests, count(*) FILTER (WHERE status >= 400) AS errors,
             coalesce(sum(prompt_tokens), 0) AS prompt, coalesce(sum(completion_tokens), 0) AS completion, coalesce(sum(cost_micros), 0) AS cost
      FROM usage_records
      WHERE created_at >= now() - make_interval(days => ${days})
        AND (${key}::uuid IS NULL OR api_key_id = ${key}) AND (${user}::uuid IS NULL OR user_id = ${user})
      GROUP BY 1, 2
    ), summed AS (
      SELECT day::timestamp AT TIME ZONE 'UTC' AS day, model, sum(requests) AS requests, sum(errors) AS errors,
             sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion, sum(cost_micros) AS cost
      FROM usage_rollups
      WHERE day >= (now() - make_interval(days => ${days}))::date
        AND (${key}::uuid IS NULL OR api_key_id = ${key}) AND (${user}::uuid IS NULL OR user_id = ${user})
      GROUP BY 1, 2
    )
    SELECT day, model, sum(requests)::int AS requests, sum(errors)::int AS errors, sum(prompt)::bigint AS prompt,
           sum(completion)::bigint AS completion, sum(cost)::bigint AS cost
    FROM (SELECT * FROM recent UNION ALL SELECT * FROM summed) u
    GROUP BY 1, 2 ORDER BY 1, 2`
  return rows.map((r) => ({
    day: r.day.toISOString().slice(0, 10),
    model: r.model,
    requests: r.requests,
    errors: r.errors,
    prompt_tokens: Number(r.prompt),
    completion_tokens: Number(r.completion),
    cost_usd: Number(r.cost) / 1e6,
  }))
}
