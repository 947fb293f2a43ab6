/**
 * Turns a plugin's config JSON Schema into form fields, form values back into the settings object, and the
 * server's validation message into per-field sentences. Pure functions, so the form component stays about layout.
 */

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'unsupported'

export interface SchemaField {
  key: string
  label: string
  kind: FieldKind
  description: string | null
  required: boolean
  secret: boolean
  options: string[]
  format: string | null
  minimum: number | null
  maximum: number | null
  defaultValue: unknown
}

interface PropertySchema {
  type?: unknown
  title?: unknown
  description?: unknown
  enum?: unknown
  secret?: unknown
  format?: unknown
  minimum?: unknown
  maximum?: unknown
  default?: unknown
}

const num = (v: unknown) => (typeof v === 'number' ? v : null)

function kindOf(p: PropertySchema): FieldKind {
  if (Array.isArray(p.enum) && p.enum.every((v) => typeof v === 'string')) return 'enum'
  const type = Array.isArray(p.type) ? p.type.find((t) => t !== 'null') : p.type
  if (type === 'string' || type === 'number' || type === 'integer' || type === 'boolean') return type
  return 'unsupported'
}

/** A readable label: the schema's title, else the key with underscores as spaces. */
const labelOf = (key: string, p: PropertySchema) =>
  typeof p.title === 'string' && p.title ? p.title : key.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase())

export function schemaFields(schema: unknown): SchemaField[] {
  const s = (schema ?? {}) as { properties?: Record<string, PropertySchema>; required?: unknown }
  const required = Array.isArray(s.required) ? s.required.filter((r): r is string => typeof r === 'string') : []
  // The manifest is stored as JSONB, which reorders object keys (shortest first), so the authored property order
  // is lost; the "required" array keeps its order, so required settings come first as authored, then the rest.
  const rank = (key: string) => (required.includes(key) ? required.indexOf(key) : required.length)
  const entries = Object.entries(s.properties ?? {}).sort(([a], [b]) => rank(a) - rank(b))
  return entries.map(([key, p]) => ({
    key,
    label: labelOf(key, p ?? {}),
    kind: kindOf(p ?? {}),
    description: typeof p?.description === 'string' ? p.description : null,
    required: required.includes(key),
    secret: p?.secret === true,
    options: Array.isArray(p?.enum) ? p.enum.map(String) : [],
    format: typeof p?.format === 'string' ? p.format : null,
    minimum: num(p?.minimum),
    maximum: num(p?.maximum),
    defaultValue: p?.default,
  }))
}

/** What a form control shows for a stored value; secrets always start empty. */
export function initialValue(field: SchemaField, stored: Record<string, unknown>): string | boolean {
  if (field.secret) return ''
  const v = stored[field.key]
  if (field.kind === 'boolean') return v === true
  return v === undefined || v === null ? '' : String(v)
}

export interface FormState {
  values: Record<string, string | boolean>
  /** Secrets the admin chose to remove (sent as null). */
  clear: Record<string, boolean>
}

/**
 * The body of PUT …/config. Empty non-secret inputs are left out (the plugin then applies its own default, and a
 * required one is reported by the server). An empty secret is left out too, which keeps the stored value.
 * Settings the form cannot edit are sent back unchanged, because the PUT replaces the whole object.
 */
export function buildValues(fields: SchemaField[], state: FormState, stored: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of fields) {
    const raw = state.values[f.key]
    if (f.secret) {
      if (state.clear[f.key]) out[f.key] = null
      else if (typeof raw === 'string' && raw !== '') out[f.key] = raw
      continue
    }
    if (f.kind === 'unsupported') {
      if (stored[f.key] !== undefined) out[f.key] = stored[f.key]
      continue
    }
    if (f.kind === 'boolean') {
      out[f.key] = raw === true
      continue
    }
    if (typeof raw !== 'string' || raw.trim() === '') continue
    // A number the browser could parse goes as a number; anything else goes as typed so the server names the problem.
    out[f.key] = f.kind === 'number' || f.kind === 'integer' ? (Number.isFinite(Number(raw)) ? Number(raw) : raw) : raw
  }
  return out
}

/** Plain words for the validator's messages (@cfworker/json-schema), so a person knows what to fix. */
function plain(field: SchemaField | undefined, text: string): string {
  let m: RegExpMatchArray | null
  if ((m = text.match(/does not match format "([^"]+)"/))) {
    const format = m[1]
    if (format === 'uri' || format === 'url') return 'Enter a full URL, such as https://example.com.'
    if (format === 'email') return 'Enter an email address.'
    return `Enter a value in the ${format} format.`
  }
  if (/does not match pattern/.test(text)) return field?.format === 'uri' ? 'Enter a full URL, such as https://example.com.' : 'This value does not have the expected form.'
  if ((m = text.match(/Expected "(\w+)"/))) {
    if (m[1] === 'integer') return 'Enter a whole number.'
    if (m[1] === 'number') return 'Enter a number.'
    if (m[1] === 'boolean') return 'Choose yes or no.'
    return `Enter a ${m[1]}.`
  }
  if ((m = text.match(/is greater than (-?\d+(?:\.\d+)?)/))) return `Enter at most ${m[1]}.`
  if ((m = text.match(/is less than (-?\d+(?:\.\d+)?)/))) return `Enter at least ${m[1]}.`
  if (/shorter than|minLength|too short/i.test(text)) return 'This value is too short.'
  if (/longer than|maxLength|too long/i.test(text)) return 'This value is too long.'
  if (/does not match any|enum/i.test(text)) return 'Choose one of the listed values.'
  return text.endsWith('.') ? text : `${text}.`
}

/**
 * Splits "Settings do not match the plugin's schema: /a: msg; /: Instance does not have required property "b"."
 * into one sentence per field. Problems that name no field (or a field not in the form) go to `general`.
 */
export function fieldErrors(message: string, fields: SchemaField[]): { byField: Record<string, string>; general: string[] } {
  const byField: Record<string, string> = {}
  const general: string[] = []
  const at = message.indexOf(': ')
  if (!message.startsWith('Settings do not match') || at < 0) return { byField, general: [message] }
  for (const problem of message.slice(at + 2).split('; ')) {
    const m = problem.match(/^\/([^:]*): (.*)$/)
    if (!m) {
      general.push(problem)
      continue
    }
    const [, path = '', text = ''] = m
    const required = text.match(/required property "([^"]+)"/)
    const key = required?.[1] ?? path.split('/')[0] ?? ''
    const field = fields.find((f) => f.key === key)
    if (!field) {
      general.push(/additional properties/.test(text) ? 'A setting this plugin does not know was sent.' : plain(undefined, text))
      continue
    }
    // The first problem per field is enough to act on; format wins over the plain pattern message.
    const sentence = required ? 'This setting is required.' : plain(field, text)
    if (!byField[key] || /format/.test(text)) byField[key] = sentence
  }
  return { byField, general }
}
