import type { TSchema } from '@sinclair/typebox'
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value'
import { Elysia } from 'elysia'
import { accessLogger, type Logger } from '../log.ts'
import { ApiError, errorBody } from './errors.ts'
import { bodyIsNulFree, refuseNulText } from './text.ts'
import { assignRequestId, markStart, requestIdOf, startedAt } from './request-meta.ts'

/** One failed check as TypeBox reports it (the items of Elysia's `error.all`). */
interface ValidationIssue {
  type?: number
  path?: string
  message?: string
  value?: unknown
  schema?: Schema
}

/** The JSON Schema keywords the messages are made from; TypeBox schemas are plain objects carrying them. */
interface Schema {
  type?: string
  anyOf?: Schema[]
  const?: unknown
  enum?: unknown[]
  items?: Schema | Schema[]
  properties?: Record<string, Schema>
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  exclusiveMaximum?: number
  multipleOf?: number
  minLength?: number
  maxLength?: number
  pattern?: string
  format?: string
  description?: string
  minItems?: number
  maxItems?: number
  uniqueItems?: boolean
  minProperties?: number
  maxProperties?: number
}

/**
 * "/limits/0/name" -> "limits.0.name". Elysia checks a coerced query number on its own, with no path; the field is
 * then the query parameter that holds the rejected value.
 */
function fieldName(issue: ValidationIssue | undefined, on: string, request: Request): string {
  const path = issue?.path
    ?.replace(/^\//, '')
    .split('/')
    .map((key) => key.replaceAll('~1', '/').replaceAll('~0', '~'))
    .join('.')
  if (path) return path
  if (on === 'property' && issue && 'value' in issue) {
    const params = [...new URL(request.url).searchParams].filter(([, v]) => v === String(issue.value))
    if (params.length === 1 && params[0]) return params[0][0]
  }
  return on
}

/**
 * The field a validation failure is about and the rule it broke, in words: "must be at most 2 (got 5)", "is required".
 * TypeBox's own messages name the check, not the limit ("Expected union value", and for `t.Nullable` the null
 * branch's "Expected null"). A union is first followed into the branch the value was meant for, so `temperature: 5`
 * is measured against the number, not against null; the path is then that branch's field (`stop.1` in an array).
 */
function describeIssue(first: ValidationIssue, secret: (path: string) => boolean): { path: string; rule: string } {
  const issue = intoBranch(first)
  const path = issue.path ?? ''
  if (issue.type === ValueErrorType.ObjectRequiredProperty || (issue.value === undefined && path)) return { path, rule: 'is required' }
  if (issue.type === ValueErrorType.ObjectAdditionalProperties) {
    // The schema here is the object's, the path the unknown field's.
    const known = Object.keys(issue.schema?.properties ?? {})
    return { path, rule: `is not a known field${known.length ? ` (known fields: ${known.join(', ')})` : ''}` }
  }
  return { path, rule: brokenRule(issue.schema ?? {}, issue.value, secret(path)) ?? issue.message ?? 'is invalid' }
}

/**
 * The first rule of `schema` that `value` breaks, with what was sent: "must be at most 2 (got 5)", "must be one of
 * a, b (got "c")", "must be at most 256 characters long (got 300 characters)". Only for a value TypeBox refused at
 * this schema (not in a child), which is why a string that passes every other check must have failed its format.
 */
function brokenRule(schema: Schema, value: unknown, secret: boolean): string | undefined {
  const got = (shown = show(value, secret)) => ` (got ${shown})`
  const count = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`
  if (schema.anyOf) return `must be ${phrase(schema)}${got()}`
  if (schema.const !== undefined && value !== schema.const) return `must be ${String(schema.const)}${got()}`
  if (schema.enum && !schema.enum.includes(value)) return `must be one of ${schema.enum.map(String).join(', ')}${got()}`
  if (!ofType(schema, value) || (schema.type === 'integer' && !Number.isInteger(value))) return `must be ${phrase(schema)}${got()}`
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return `must be at least ${schema.minimum}${got()}`
    if (schema.maximum !== undefined && value > schema.maximum) return `must be at most ${schema.maximum}${got()}`
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return `must be greater than ${schema.exclusiveMinimum}${got()}`
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) return `must be less than ${schema.exclusiveMaximum}${got()}`
    if (schema.multipleOf !== undefined && value % schema.multipleOf !== 0) return `must be a multiple of ${schema.multipleOf}${got()}`
  }
  if (typeof value === 'string') {
    const length = got(count(value.length, 'character'))
    if (schema.minLength !== undefined && value.length < schema.minLength)
      return schema.minLength === 1 ? 'must not be empty' : `must be at least ${count(schema.minLength, 'character')} long${length}`
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return `must be at most ${count(schema.maxLength, 'character')} long${length}`
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value))
      return `must match ${schema.pattern}${schema.description ? ` (${schema.description})` : ''}${got()}`
    if (schema.format !== undefined) return `must be ${FORMATS[schema.format] ?? `in the ${schema.format} format`}${got()}`
  }
  if (Array.isArray(value)) {
    const items = got(count(value.length, 'item'))
    if (schema.minItems !== undefined && value.length < schema.minItems)
      return schema.minItems === 1 ? 'must not be empty' : `must have at least ${count(schema.minItems, 'item')}${items}`
    if (schema.maxItems !== undefined && value.length > schema.maxItems) return `must have at most ${count(schema.maxItems, 'item')}${items}`
    if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size < value.length) return 'must not repeat an item'
  }
  if (isObject(value)) {
    const n = Object.keys(value).length
    if (schema.minProperties !== undefined && n < schema.minProperties) return `must have at least ${count(schema.minProperties, 'field')}${got(count(n, 'field'))}`
    if (schema.maxProperties !== undefined && n > schema.maxProperties) return `must have at most ${count(schema.maxProperties, 'field')}${got(count(n, 'field'))}`
  }
  return undefined
}

const FORMATS: Record<string, string> = {
  uuid: 'a UUID',
  email: 'an email address',
  'date-time': 'a date and time such as 2025-01-31T09:30:00Z',
  date: 'a date such as 2025-01-31',
  uri: 'a URI',
  url: 'a URL',
  ipv4: 'an IPv4 address',
  ipv6: 'an IPv6 address',
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Elysia's `t.Integer()`/`t.Number()` also accept a numeric string, as a second union branch nobody should be told about. */
const isCoercion = (s: Schema) => s.type === 'string' && ['integer', 'numeric', 'number'].includes(s.format ?? '')
/** A union's branches, nested unions (`t.Nullable(t.Union(…))`) flattened. */
const branches = (s: Schema): Schema[] => (s.anyOf ?? []).flatMap((b) => (b.anyOf ? branches(b) : isCoercion(b) ? [] : [b]))

/** Whether the value is of the schema's JSON type (its limits aside): the test for which union branch it was meant for. */
function ofType(s: Schema, value: unknown): boolean {
  if (s.anyOf) return branches(s).some((b) => ofType(b, value))
  if (s.const !== undefined) return typeof value === typeof s.const
  if (s.type === 'null') return value === null
  if (s.type === 'integer' || s.type === 'number') return typeof value === 'number'
  if (s.type === 'string' || s.type === 'boolean') return typeof value === s.type
  if (s.type === 'array') return Array.isArray(value)
  if (s.type === 'object') return isObject(value)
  return true
}

/** "a number", "an array of strings", "one of a, b, c", "an integer or null". */
function phrase(s: Schema): string {
  if (s.anyOf) {
    const all = branches(s)
    const literals = all.filter((b) => b.const !== undefined).map((b) => String(b.const))
    const rest = all.filter((b) => b.const === undefined).map(phrase)
    if (literals.length > 1) rest.unshift(`one of ${literals.join(', ')}`)
    else if (literals[0] !== undefined) rest.unshift(literals[0])
    return rest.length > 1 ? `${rest.slice(0, -1).join(', ')} or ${rest.at(-1)}` : (rest[0] ?? 'valid')
  }
  if (s.const !== undefined) return String(s.const)
  if (s.enum) return `one of ${s.enum.map(String).join(', ')}`
  if (s.type === 'array') {
    const items = s.items && !Array.isArray(s.items) ? phrase(s.items).match(/^an? (\w+)(.*)$/) : null
    return items ? `an array of ${items[1]}s${items[2]}` : 'an array'
  }
  const names: Record<string, string> = { integer: 'an integer', number: 'a number', string: 'a string', boolean: 'a boolean', object: 'an object', null: 'null' }
  return names[s.type ?? ''] ?? 'valid'
}

/** What the caller sent, short: numbers and short strings as they are, the rest by kind. */
function show(value: unknown, secret: boolean): string {
  if (typeof value === 'string') return !secret && value.length <= 64 ? JSON.stringify(value) : 'a string'
  if (Array.isArray(value)) return 'an array'
  if (isObject(value)) return 'an object'
  return String(value)
}

/**
 * Follows a failed union into the branch of the value's own type (`5` into `number`, not `null`) and returns that
 * branch's first failure. Among several (an array of strings or of integers) the one the value got furthest in wins.
 * A union whose branches are all literals, or none of the value's type, stays: "must be one of …" says it best.
 */
function intoBranch(issue: ValidationIssue): ValidationIssue {
  let current = issue
  for (let depth = 0; depth < 16 && current.schema?.anyOf; depth++) {
    const options = branches(current.schema)
    if (options.every((b) => b.const !== undefined || b.type === 'null')) break
    const failures = options.filter((b) => ofType(b, current.value)).flatMap((b) => firstError(b, current.value))
    const furthest = failures.reduce<ValueError | undefined>((best, e) => (best && !further(e.path, best.path) ? best : e), undefined)
    if (!furthest) break
    current = { ...furthest, path: (current.path ?? '') + furthest.path }
  }
  return current
}

/** None when TypeBox cannot walk the schema on its own (a reference, say): the message then stays at the union. */
function firstError(schema: Schema, value: unknown): ValueError[] {
  try {
    const error = Value.Errors(schema as TSchema, value).First()
    return error ? [error] : []
  } catch {
    return []
  }
}

/** "/2/text" is further into a value than "/0" and "/1": deeper first, then later items. */
function further(a: string, b: string): boolean {
  const [pa, pb] = [a.split('/'), b.split('/')]
  if (pa.length !== pb.length) return pa.length > pb.length
  for (let i = 0; i < pa.length; i++) if (pa[i] !== pb[i]) return Number(pa[i]) > Number(pb[i])
  return false
}

/** Fields whose value never goes back into a message: `password`, `new_password`, `refresh_token`, `api_key`, … */
const SECRET_FIELD = /(?:^|[/_])(?:password|secret|token|api_?key)$/i

const isJsonType = (contentType: string | null) => !!contentType && /^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType)
const isFormType = (contentType: string | null) => !!contentType && /^(?:multipart\/form-data|application\/x-www-form-urlencoded)\b/i.test(contentType)

/**
 * For responses the gateway did not time itself (`gateway;dur=…, upstream;dur=…`): the whole time spent in Enclava,
 * which includes an upstream's share where a route called one.
 */
const totalTiming = (request: Request) => `total;dur=${(performance.now() - startedAt(request)).toFixed(2)};desc="time in Enclava"`

const UPSTREAM_DUR = /upstream;dur=([\d.]+)/

/**
 * The gateway's own `gateway;dur` taken again as the answer leaves the last hook, so it covers everything after the
 * handler too (the hooks, the access log's bookkeeping): what the client sees is then this, the upstream's share and
 * the network, nothing unaccounted in between (`bun bench/gateway.ts`, "outside S-T").
 */
function gatewayTiming(request: Request, timing: string): string {
  const upstream = Number(UPSTREAM_DUR.exec(timing)?.[1] ?? 0)
  const overhead = Math.max(0, performance.now() - startedAt(request) - upstream)
  return `gateway;dur=${overhead.toFixed(2)};desc="Enclava overhead", upstream;dur=${upstream.toFixed(2)}`
}

function errorResponse(status: number, code: string, message: string, request: Request, param?: string, headers?: Record<string, string>) {
  const requestId = requestIdOf(request)
  return Response.json(errorBody(status, code, message, requestId, param), {
    status,
    headers: { 'x-request-id': requestId, 'server-timing': totalTiming(request), ...headers },
  })
}

/** nginx's status for a request whose client went away before the answer: logged, never sent. */
const CLIENT_CLOSED = 499

/**
 * Request ids, Server-Timing on every response, access logs and the one error envelope. Nothing but the envelope leaves on failure: unexpected
 * errors are logged with their stack here and reach the client as a bare `internal_error` with the request id.
 */
export function httpBasics(log: Logger) {
  const access = accessLogger(log)
  return new Elysia({ name: 'http-basics' })
    .onRequest(({ request, set }) => {
      set.headers['x-request-id'] = assignRequestId(request)
      markStart(request)
    })
    // After authentication (transform) and validation, before any handler stores or spends: PostgreSQL cannot store
    // U+0000, and a turn that failed on it had already been sent to the model and charged.
    .onBeforeHandle(({ params, query, body, request }) => refuseNulText({ params, query, body: bodyIsNulFree(request) ? undefined : body }))
    .onAfterHandle(({ request, set, response }) => {
      const timing = response instanceof Response ? response.headers.get('server-timing') : null
      if (timing === null) set.headers['server-timing'] = totalTiming(request)
      else if (timing.startsWith('gateway;') && response instanceof Response)
        try {
          response.headers.set('server-timing', gatewayTiming(request, timing))
        } catch {
          // Immutable headers (a fetched Response passed through): the gateway's own figure stands.
        }
    })
    .onAfterResponse(({ request, set, path, responseValue }) => {
      // A handler's own Response carries its status; everything else (errors included) went through `set`.
      const status = responseValue instanceof Response ? responseValue.status : typeof set.status === 'number' ? set.status : 200
      const line = { request_id: requestIdOf(request), method: request.method, path, status, ms: Math.round((performance.now() - startedAt(request)) * 10) / 10 }
      // Every refusal and failure is seen at LOG_LEVEL=warn, with its request id; successes only at info. A client
      // that went away (a playground's Stop before the first token) is neither: nobody is there to read an answer.
      if (status === CLIENT_CLOSED) access('info', line, 'client closed the request')
      else if (status >= 400) access('warn', line, 'request failed')
      else access('info', line, 'request')
    })
    .onError(({ code, error, request, path, set }) => {
      if (error instanceof ApiError) {
        set.status = error.status
        return errorResponse(error.status, error.code, error.message, request, error.param, error.headers)
      }
      if (code === 'VALIDATION') {
        const contentType = request.headers.get('content-type')
        const expected = (error.validator as { schema?: Schema } | undefined)?.schema
        // Elysia hands a text body to an object schema as is; no field of it could ever be right.
        if (error.type === 'body' && expected?.type === 'object' && !isJsonType(contentType) && !isFormType(contentType)) {
          set.status = 415
          const sent = contentType ? `Content-Type: ${contentType.split(';')[0]}` : 'no Content-Type'
          return errorResponse(415, 'unsupported_media_type', `Send a JSON body with Content-Type: application/json (got ${sent})`, request)
        }
        set.status = 400
        const first = (error.all as ValidationIssue[])[0] ?? {}
        const { path, rule } = describeIssue(first, (p) => SECRET_FIELD.test(p))
        const field = fieldName({ ...first, path }, error.type, request)
        const on = error.type === 'property' ? 'query' : error.type
        const message = path || field !== on ? `Invalid ${on}: '${field}' ${rule}` : `Invalid ${on}: the ${on} ${rule}`
        return errorResponse(400, 'validation_failed', message, request, field)
      }
      if (code === 'PARSE') {
        // Elysia wraps whatever a parse hook throws; a refusal of ours (a body too large, say) keeps its own answer.
        if (error.cause instanceof ApiError) {
          set.status = error.cause.status
          return errorResponse(error.cause.status, error.cause.code, error.cause.message, request, error.cause.param, error.cause.headers)
        }
        set.status = 400
        const cause = error.cause instanceof Error ? `: ${error.cause.message}` : ''
        const message = isJsonType(request.headers.get('content-type'))
          ? `The request body is not valid JSON${cause}`
          : 'The request body could not be parsed; send JSON with Content-Type: application/json'
        return errorResponse(400, 'invalid_json', message, request)
      }
      if (code === 'NOT_FOUND') {
        set.status = 404
        return errorResponse(404, 'not_found', `No route for ${request.method} ${path}`, request)
      }
      const dependency = failedDependency(error)
      if (dependency) {
        set.status = 503
        log.error({ err: error, request_id: requestIdOf(request), path }, `${dependency} unavailable`)
        return errorResponse(503, 'service_unavailable', `The ${dependency} is unavailable; try again shortly`, request, undefined, {
          'retry-after': '5',
        })
      }
      // The client disconnected while the handler waited (for an upstream's first byte, say): the abort surfaces as
      // the request signal's reason. Not a fault of ours, and the answer reaches no one (499, as nginx logs it).
      if (request.signal.aborted) {
        set.status = CLIENT_CLOSED
        return errorResponse(CLIENT_CLOSED, 'invalid_request', 'The client closed the request', request)
      }
      set.status = 500
      log.error({ err: error, request_id: requestIdOf(request), path }, 'unhandled error')
      return errorResponse(500, 'internal_error', 'Internal server error; quote the request id when reporting it', request)
    })
    .as('global')
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01',
  '57P03',
])

/** A lost database or cache is an outage (503, retry), not a bug (500). */
function failedDependency(error: unknown): 'database' | 'cache' | null {
  const e = error as { code?: unknown; name?: unknown; constructor?: { name?: string } }
  if (typeof e?.code === 'string' && CONNECTION_CODES.has(e.code)) return 'database'
  const name = String(e?.constructor?.name ?? e?.name ?? '')
  if (/^(ClientClosed|ClientOffline|Connection|Socket|Reconnect)\w*Error$/.test(name)) return 'cache'
  return null
}
