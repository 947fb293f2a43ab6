import { t } from 'elysia'
import type { BudgetRow } from './service.ts'

const Period = t.Union([t.Literal('daily'), t.Literal('weekly'), t.Literal('monthly'), t.Literal('yearly'), t.Literal('custom')])
const Scope = t.Union([t.Literal('global'), t.Literal('user'), t.Literal('api_key')])

export const CreateBudgetBody = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 100 }),
    scope: Scope,
    user_id: t.Optional(t.String({ format: 'uuid' })),
    api_key_id: t.Optional(t.String({ format: 'uuid' })),
    limit_usd: t.Number({ minimum: 0, maximum: 1_000_000_000 }),
    period: Period,
    /** Only for `custom`: the window the budget covers. */
    period_start: t.Optional(t.String({ format: 'date-time' })),
    period_end: t.Optional(t.String({ format: 'date-time' })),
    is_hard: t.Optional(t.Boolean()),
    warn_threshold_pct: t.Optional(t.Integer({ minimum: 1, maximum: 100 })),
  },
  { additionalProperties: false },
)
export type CreateBudgetInput = typeof CreateBudgetBody.static

export const UpdateBudgetBody = t.Object(
  {
    name: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
    limit_usd: t.Optional(t.Number({ minimum: 0, maximum: 1_000_000_000 })),
    is_hard: t.Optional(t.Boolean()),
    warn_threshold_pct: t.Optional(t.Integer({ minimum: 1, maximum: 100 })),
    is_active: t.Optional(t.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type UpdateBudgetInput = typeof UpdateBudgetBody.static

const usd = (micros: string | number | bigint) => Number(micros) / 1e6
export const toMicros = (usdAmount: number) => Math.round(usdAmount * 1e6)

/** A budget as the API shows it: amounts in US dollars. */
export const BudgetSchema = t.Object({
  id: t.String({ format: 'uuid' }),
  name: t.String(),
  scope: Scope,
  user_id: t.Nullable(t.String({ format: 'uuid' })),
  api_key_id: t.Nullable(t.String({ format: 'uuid' })),
  period: Period,
  period_start: t.String({ format: 'date-time' }),
  period_end: t.String({ format: 'date-time' }),
  is_hard: t.Boolean(),
  is_active: t.Boolean(),
  warn_threshold_pct: t.Integer(),
  limit_usd: t.Number(),
  spent_usd: t.Number(),
  /** Worst cases in flight and the replicas' unused slices. */
  reserved_usd: t.Number(),
  remaining_usd: t.Number(),
  /** Spent, as a share of the limit. */
  used_pct: t.Number(),
  /** The warning threshold was crossed in this period. */
  warning: t.Boolean(),
})
export type BudgetView = typeof BudgetSchema.static

export function presentBudget(b: BudgetRow): BudgetView {
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
    // What is spent: reservations are worst cases in flight and replicas' unused slices, shown apart.
    used_pct: limit > 0 ? Math.round((spent / limit) * 1000) / 10 : 100,
    warning: b.warned_at !== null,
  }
}
