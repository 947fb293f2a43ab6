/** The budget API's shapes, from the server's schema (amounts in US dollars), and small helpers. */
import type { BudgetSchema } from '../../../../src/budgets/model.ts'

export const BUDGETS = '/api-internal/v1/budgets'

export type Budget = typeof BudgetSchema.static
export type BudgetScope = Budget['scope']
export type BudgetPeriod = Budget['period']

export const SCOPE_LABEL: Record<BudgetScope, string> = { global: 'Everyone', user: 'One user', api_key: 'One API key' }
export const PERIODS: { id: BudgetPeriod; label: string }[] = [
  { id: 'daily', label: 'Daily' },
  { id: 'weekly', label: 'Weekly' },
  { id: 'monthly', label: 'Monthly' },
  { id: 'yearly', label: 'Yearly' },
  { id: 'custom', label: 'Custom dates' },
]

export type Level = 'ok' | 'warn' | 'bad'

/** Over the limit (spent plus reserved) is bad; past the warning threshold, a warning. */
export function level(b: Budget): Level {
  if (b.used_pct >= 100) return 'bad'
  if (b.warning || b.used_pct >= b.warn_threshold_pct) return 'warn'
  return 'ok'
}

/** Dollars as the rest of the dashboard shows money (formatMicros takes micro-dollars). */
export const toMicros = (usd: number) => Math.round(usd * 1_000_000)

export interface UserOption {
  id: string
  email: string
  username: string
}
export interface KeyOption {
  id: string
  name: string
  key_prefix: string
  user_id: string
}
