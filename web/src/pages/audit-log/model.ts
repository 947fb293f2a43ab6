/** The audit log's records and filters as the page sees them; the filters live in the URL so a view can be shared. */
import type { Wire } from '../../api.ts'
import type { AuditRecordSchema } from '../../../../src/audit/model.ts'

export type AuditRecord = Wire<typeof AuditRecordSchema.static>

export const OUTCOMES = ['success', 'failure', 'denied'] as const

/** The URL's filter keys. `from`/`to` are local calendar days (YYYY-MM-DD), both included. */
export const FILTER_KEYS = ['action', 'actor', 'outcome', 'resource_type', 'resource_id', 'from', 'to'] as const
export type FilterKey = (typeof FILTER_KEYS)[number]
export type Filters = Partial<Record<FilterKey, string>>

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DAY = /^\d{4}-\d{2}-\d{2}$/

/** The search parameters the router hands over, reduced to the known filters with non-empty values. */
export function readFilters(params: Partial<Record<string, string | string[]>>): Filters {
  const out: Filters = {}
  for (const key of FILTER_KEYS) {
    const raw = params[key]
    const value = (Array.isArray(raw) ? raw[0] : raw)?.trim()
    if (value) out[key] = value
  }
  return out
}

/** Local midnight of a calendar day, as the API's ISO instant; `plusDays` 1 gives the exclusive end of `to`. */
function dayStart(day: string, plusDays = 0): string | null {
  if (!DAY.test(day)) return null
  const [y, m, d] = day.split('-').map(Number) as [number, number, number]
  return new Date(y, m - 1, d + plusDays).toISOString()
}

/** The API query for the filters: an actor that is a user id filters by id, anything else by email or label. */
export function apiQuery(f: Filters): URLSearchParams {
  const q = new URLSearchParams()
  if (f.action) q.set('action', f.action)
  if (f.actor) q.set(UUID.test(f.actor) ? 'actor_user_id' : 'actor', f.actor)
  if (f.outcome) q.set('outcome', f.outcome)
  if (f.resource_type) q.set('resource_type', f.resource_type)
  if (f.resource_id) q.set('resource_id', f.resource_id)
  const since = f.from ? dayStart(f.from) : null
  const until = f.to ? dayStart(f.to, 1) : null
  if (since) q.set('since', since)
  if (until) q.set('until', until)
  return q
}

/** A sentence about filters the API cannot take, or null. */
export function filterProblem(f: Filters): string | null {
  if (f.from && !DAY.test(f.from)) return 'The start date is not a valid date.'
  if (f.to && !DAY.test(f.to)) return 'The end date is not a valid date.'
  if (f.from && f.to && f.from > f.to) return 'The start date must be on or before the end date.'
  if (f.outcome && !(OUTCOMES as readonly string[]).includes(f.outcome)) return 'Choose an outcome from the list.'
  return null
}

/** Who did it, in words: the current email, else what was typed or recorded, else the API key or the system. */
export function actorName(r: AuditRecord): string {
  if (r.actor_email) return r.actor_email
  if (r.actor_label) return r.actor_label
  if (r.actor_api_key_id) return `API key ${r.actor_api_key_id.slice(0, 8)}`
  if (r.actor_user_id) return `Deleted user ${r.actor_user_id.slice(0, 8)}`
  return 'System'
}

export function resourceName(r: AuditRecord): string {
  if (!r.resource_type) return '—'
  return r.resource_id ? `${r.resource_type} ${r.resource_id.length > 13 ? `${r.resource_id.slice(0, 8)}…` : r.resource_id}` : r.resource_type
}

export const OUTCOME_BADGE: Record<AuditRecord['outcome'], string> = { success: 'ok', failure: 'bad', denied: 'warn' }
