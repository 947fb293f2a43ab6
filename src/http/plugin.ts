import { Elysia } from 'elysia'
import type { Logger } from '../log.ts'
import { ApiError, errorBody } from './errors.ts'
import { assignRequestId, markStart, requestIdOf, startedAt } from './request-meta.ts'

interface ValidationIssue {
  path?: string
  message?: string
  value?: unknown
  schema?: { anyOf?: { type?: string }[] }
}

/**
 * "/limits/0/name" -> "limits.0.name". Elysia checks a coerced query number on its own, with no path; the field is
 * then the query parameter that holds the rejected value.
 */
function fieldName(issue: ValidationIssue | undefined, on: string, request: Request): string {
  const path = issue?.path?.replace(/^\//, '').replaceAll('/', '.')
  if (path) return path
  if (on === 'property' && issue && 'value' in issue) {
    const params = [...new URL(request.url).searchParams].filter(([, v]) => v === String(issue.value))
    if (params.length === 1 && params[0]) return params[0][0]
  }
  return on
}

/** TypeBox says "Expected union value" for a query number that is not one; say what was expected instead. */
function describeIssue(issue: ValidationIssue | undefined): string {
  const wanted = issue?.schema?.anyOf?.map((s) => s.type).find((t) => t && t !== 'string')
  if (issue?.message === 'Expected union value' && wanted) return `Expected ${wanted}`
  return issue?.message ?? 'is invalid'
}

/**
 * For responses the gateway did not time itself (`gateway;dur=…, upstream;dur=…`): the whole time spent in Enclava,
 * which includes an upstream's share where a route called one.
 */
const totalTiming = (request: Request) => `total;dur=${(performance.now() - startedAt(request)).toFixed(2)};desc="time in Enclava"`

function errorResponse(status: number, code: string, message: string, request: Request, param?: string, headers?: Record<string, string>) {
  const requestId = requestIdOf(request)
  return Response.json(errorBody(status, code, message, requestId, param), {
    status,
    headers: { 'x-request-id': requestId, 'server-timing': totalTiming(request), ...headers },
  })
}

/**
 * Request ids, Server-Timing on every response, access logs and the one error envelope. Nothing but the envelope leaves on failure: unexpected
 * errors are logged with their stack here and reach the client as a bare `internal_error` with the request id.
 */
export function httpBasics(log: Logger) {
  return new Elysia({ name: 'http-basics' })
    .onRequest(({ request, set }) => {
      set.headers['x-request-id'] = assignRequestId(request)
      markStart(request)
    })
    .onAfterHandle(({ request, set, response }) => {
      if (!(response instanceof Response && response.headers.has('server-timing'))) set.headers['server-timing'] = totalTiming(request)
    })
    .onAfterResponse(({ request, set, path }) => {
      log.info(
        {
          request_id: requestIdOf(request),
          method: request.method,
          path,
          status: typeof set.status === 'number' ? set.status : 200,
          ms: Math.round((performance.now() - startedAt(request)) * 10) / 10,
        },
        'request',
      )
    })
    .onError(({ code, error, request, path, set }) => {
      if (error instanceof ApiError) {
        set.status = error.status
        return errorResponse(error.status, error.code, error.message, request, error.param, error.headers)
      }
      if (code === 'VALIDATION') {
        set.status = 400
        const issue = (error.all as ValidationIssue[])[0]
        const field = fieldName(issue, error.type, request)
        const on = error.type === 'property' ? 'query' : error.type
        const message = `Invalid ${on}: '${field}' ${describeIssue(issue)}`
        return errorResponse(400, 'validation_failed', message, request, field)
      }
      if (code === 'PARSE') {
        set.status = 400
        return errorResponse(400, 'invalid_json', 'The request body could not be parsed; send valid JSON', request)
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
