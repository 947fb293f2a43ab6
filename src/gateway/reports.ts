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


/** Usage per day and model for one key or user over the last `days` days. */
export async function usageByDay(sql: Sql, who: { apiKeyId?: string; userId?: string }, days: number): Promise<UsageDay[]> {
  const rows = await sql<{ day: Date; model: string; requests: number; errors: number; prompt: string; completion: string; cost: string }[]>`
    SELECT date_trunc('day', created_at) AS day, model, count(*)::int AS requests,
           count(*) FILTER (WHERE status >= 400)::int AS errors,
           coalesce(sum(prompt_tokens), 0)::bigint AS prompt, coalesce(sum(completion_tokens), 0)::bigint AS completion,
           coalesce(sum(cost_micros), 0)::bigint AS cost
    FROM usage_records
    WHERE created_at >= now() - make_interval(days => ${days})
      AND (${who.apiKeyId ?? null}::uuid IS NULL OR api_key_id = ${who.apiKeyId ?? null})
      AND (${who.userId ?? null}::uuid IS NULL OR user_id = ${who.userId ?? null})
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
