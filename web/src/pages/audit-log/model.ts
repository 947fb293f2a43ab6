/** The audit log's records and filters as the page sees them; the filters live in the URL so a view can be shared. */
import type { Wire } from '../../api.ts'
import type { AuditRecordSchema } from '../../../../src/audit/model.ts'

export type AuditRecord = Wire<typeof AuditRecordSchema.static>

export const OUTCOMES = ['success', 'failure', 'denied'] as const

/**
 * The URL's filter keys. `range` is a period ending now (15m, 1h, 24h, 7d, 30d); otherwise `from`/`to` are local
 * times (YYYY-MM-DDTHH:MM, to the minute, both included) or, in links made before, calendar days (YYYY-MM-DD).
 */
export const FILTER_KEYS = ['action', 'actor', 'outcome', 'resource_type', 'resource_id', 'range', 'from', 'to'] as const
export type FilterKey = (typeof FILTER_KEYS)[number]
export type Filters = Partial<Record<FilterKey, string>>

export const RANGES: { value: string; label: string; seconds: number }[] = [
  { value: '15m', label: 'Last 15 minutes', seconds: 15 * 60 },
  { value: '1h', label: 'Last hour', seconds: 3600 },
  { value: '24h', label: 'Last 24 hours', seconds: 86_400 },
  { value: '7d', label: 'Last 7 days', seconds: 7 * 86_400 },
  { value: '30d', label: 'Last 30 days', seconds: 30 * 86_400 },
]

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DAY = /^\d{4}-\d{2}-\d{2}$/
const MINUTE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/

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

/**
 * A filter's time as the API's ISO instant: a local minute (its start; `end`: the minute after, so "to 14:05"
 * includes 14:05), or a calendar day (its local midnight; `end`: the next one).
 */
export function instant(value: string, end = false): string | null {
  if (MINUTE.test(value)) {
    const t = new Date(value)
    if (Number.isNaN(t.getTime())) return null
    return new Date(t.getTime() + (end ? 60_000 : 0)).toISOString()
  }
  if (!DAY.test(value)) return null
  const [y, m, d] = value.split('-').map(Number) as [number, number, number]
  return new Date(y, m - 1, d + (end ? 1 : 0)).toISOString()
}

/** The API query for the filters: an actor that is a user id filters by id, anything else by email or label. */
export function apiQuery(f: Filters, now = Date.now()): URLSearchParams {
  const q = new URLSearchParams()
  if (f.action) q.set('action', f.action)
  if (f.actor) q.set(UUID.test(f.actor) ? 'actor_user_id' : 'actor', f.actor)
  if (f.outcome) q.set('outcome', f.outcome)
  if (f.resource_type) q.set('resource_type', f.resource_type)
  if (f.resource_id) q.set('resource_id', f.resource_id)
  const range = RANGES.find((r) => r.value === f.range)
  if (range) q.set('since', new Date(now - range.seconds * 1000).toISOString())
  else {
    const since = f.from ? instant(f.from) : null
    const until = f.to ? instant(f.to, true) : null
    if (since) q.set('since', since)
    if (until) q.set('until', until)
  }
  return q
}

/** A sentence about filters the API cannot take, or null. */
export function filterProblem(f: Filters): string | null {
  if (f.range && !RANGES.some((r) => r.value === f.range)) return 'Choose a period from the list.'
  if (!f.range) {
    if (f.from && !instant(f.from)) return 'The start is not a valid date and time.'
    if (f.to && !instant(f.to)) return 'The end is not a valid date and time.'
    if (f.from && f.to && (instant(f.from) ?? '') >= (instant(f.to, true) ?? '')) return 'The start must be before the end.'
  }
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


export const OUTCOME_BADGE: Record<AuditRecord['outcome'], string> = { success: 'ok', failure: 'bad', denied: 'warn' }
