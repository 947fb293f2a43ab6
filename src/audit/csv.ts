/**
 * CSV for audit exports (RFC 4180: comma-separated, CRLF rows, a field with a comma, quote or line break quoted and
 * its quotes doubled). Audit text is partly attacker-typed (the email of a failed sign-in), so a cell that a
 * spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading apostrophe: shown, never executed.
 */
import type { AuditRecord } from './service.ts'

const FORMULA_START = /^[=+\-@\t\r]/

export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return ''
  let text = value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value)
  if (FORMULA_START.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

export const AUDIT_CSV_COLUMNS = [
  'id',
  'created_at',
  'actor_user_id',
  'actor_email',
  'actor_label',
  'actor_api_key_id',
  'action',
  'resource_type',
  'resource_id',
  'outcome',
  'ip',
  'user_agent',
  'request_id',
  'details',
] as const satisfies readonly (keyof AuditRecord)[]

/** A header row, then one row per record; `details` as compact JSON in its cell. */
export function auditCsv(records: readonly AuditRecord[]): string {
  const rows = [AUDIT_CSV_COLUMNS.join(',')]
  for (const r of records) rows.push(AUDIT_CSV_COLUMNS.map((c) => csvCell(r[c])).join(','))
  return `${rows.join('\r\n')}\r\n`
}
