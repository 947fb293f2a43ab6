/**
 * What an update changed, for its audit event: `{field: {from, to}}` for each field the request named whose
 * presented value differs. Secrets never enter it (a field named like one is recorded as changed, without values),
 * and long text is cut, so an audit row stays small and readable.
 *
 * @example
 * await audit(user, 'budget.update', row.id, meta, { fields: Object.keys(body), changes: changes(presentBudget(before), presentBudget(row), Object.keys(body)) })
 */
/** Names of secret fields: passwords, secrets, a token (not a count of tokens such as max_tokens), keys, headers. */
const SECRET = /password|secret|(^|_)token$|api_key$|^key$|headers/i
const MAX_TEXT = 300

function shown(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString()
  if (typeof v === 'string' && v.length > MAX_TEXT) return `${v.slice(0, MAX_TEXT)}… (${v.length} characters)`
  return v === undefined ? null : v
}

export type Changes = Record<string, { from: unknown; to: unknown } | { changed: true }>

export function changes(before: object, after: object, fields: readonly string[]): Changes {
  const out: Changes = {}
  const b = before as Record<string, unknown>
  const a = after as Record<string, unknown>
  for (const field of fields) {
    if (SECRET.test(field)) {
      out[field] = { changed: true }
      continue
    }
    const from = shown(b[field])
    const to = shown(a[field])
    if (JSON.stringify(from) !== JSON.stringify(to)) out[field] = { from, to }
  }
  return out
}
