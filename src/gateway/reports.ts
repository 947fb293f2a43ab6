import type { Sql } from '../db/client.ts'
import type { BudgetRow, Spender } from './budgets.ts'

export interface UsageDay {
  day: string
  model: string
  requests: number
  errors: number
  prompt_tokens: number
  completion_tokens: number
  cost_usd: number
}

const usd = (micros: string | number | bigint) => Number(micros) / 1e6

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
    cost_usd: usd(r.cost),
  }))
}

export function presentBudget(b: BudgetRow) {
  const limit = usd(b.limit_micros)
  const spent = usd(b.spent_micros)
  const reserved = usd(b.reserved_micros)
  return {
    id: b.id,
    name: b.name,
    scope: b.scope,
    user_id: b.user_id,
    api_key_id: b.api_key_id,
    period: b.period,
    period_start: b.period_start.toISOString(),
    period_end: b.period_end.toISOString(),
    is_hard: b.is_hard,
    is_active: b.is_active,
    warn_threshold_pct: b.warn_threshold_pct,
    limit_usd: limit,
    spent_usd: spent,
    reserved_usd: reserved,
    remaining_usd: Math.max(0, limit - spent - reserved),
    used_pct: limit > 0 ? Math.round(((spent + reserved) / limit) * 1000) / 10 : 100,
    warning: b.warned_at !== null,
  }
}

/** The budgets that apply to a spender, as the gateway sees them. */
export async function applicableBudgets(sql: Sql, spender: Spender): Promise<BudgetRow[]> {
  return sql<BudgetRow[]>`
    SELECT * FROM budgets
    WHERE is_active AND (scope = 'global' OR user_id = ${spender.userId} OR api_key_id = ${spender.apiKeyId})
    ORDER BY scope, name`
}
