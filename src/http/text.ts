import { ApiError } from './errors.ts'

/**
 * PostgreSQL cannot store U+0000: a `text` parameter holding it fails with "invalid byte sequence for encoding UTF8:
 * 0x00" and a `jsonb` value with "unsupported Unicode escape sequence", both after the request was accepted (a
 * chatbot turn had already been sent to the model and charged). Nothing a client sends may carry it, so it is refused
 * with the request's other validation errors: one check over the whole input instead of a pattern on every string
 * schema, which would miss record keys, `t.Unknown()` metadata and every schema written later.
 */
export const NUL_RULE = 'must not contain the NUL character (U+0000)'

const NUL = '\u0000'

const join = (path: string, key: string | number) => (path ? `${path}.${key}` : String(key))

/** Requests whose JSON body is known to hold no U+0000: its text had no `\u0000` escape (see bodyLimits). */
const nulFreeBodies = new WeakSet<Request>()

/**
 * Records that `request`'s JSON body holds no U+0000 (its text has no `\u0000` escape, the only way JSON can carry
 * one), so the request-wide check need not walk the parsed body: 3 µs per gateway request.
 */
export function markBodyNulFree(request: Request): void {
  nulFreeBodies.add(request)
}

export const bodyIsNulFree = (request: Request): boolean => nulFreeBodies.has(request)

/**
 * Where `value` holds U+0000, as a dotted path ("prompt_variables.greeting", "messages.2.content"); `''` when the
 * value itself is such a string, `null` when it holds none. Walks strings, arrays, plain objects (their keys too,
 * which become `jsonb` keys), FormData and uploaded files' names; other values (numbers, file contents) hold no text.
 * Iterative, so a deeply nested body cannot exhaust the stack.
 *
 * @example
 * nulPath({ name: 'ok', tags: ['a\u0000'] }) // 'tags.0'
 */
export function nulPath(value: unknown, path = ''): string | null {
  const pending: [unknown, string][] = [[value, path]]
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, at] = next
    if (typeof item === 'string') {
      if (item.includes(NUL)) return at
      continue
    }
    if (item === null || typeof item !== 'object') continue
    if (item instanceof File) {
      if (item.name.includes(NUL)) return join(at, 'name')
      continue
    }
    if (item instanceof Blob || item instanceof ArrayBuffer || ArrayBuffer.isView(item)) continue
    const entries: [string | number, unknown][] = Array.isArray(item)
      ? item.map((v, i) => [i, v])
      : item instanceof FormData
        ? [...item.entries()]
        : Object.entries(item)
    // Reversed onto the stack, so the first offending field in document order is the one reported.
    for (const [key, v] of entries.toReversed()) {
      if (typeof key === 'string' && key.includes(NUL)) pending.push([key, join(at, key.replaceAll(NUL, '\\u0000'))])
      else pending.push([v, join(at, key)])
    }
  }
  return null
}

/**
 * Text from a model, a document or a plugin as PostgreSQL's text can hold it: U+0000 (which it refuses) becomes
 * U+FFFD, so the text stays visible and the row is written. For input a client sent, refuse instead (assertNoNul).
 */
export const storable = (text: string): string => (text.includes(NUL) ? text.replaceAll(NUL, '\uFFFD') : text)

/**
 * Throws the `validation_failed` error (400) naming the field when `value` holds U+0000, worded as the request's
 * other validation errors are: `Invalid body: 'name' must not contain the NUL character (U+0000)`.
 *
 * @example
 * assertNoNul(input.message, 'body', 'message')
 */
export function assertNoNul(value: unknown, on: string, field = ''): void {
  const found = nulPath(value, field)
  if (found === null) return
  const name = found || on
  throw new ApiError('validation_failed', `Invalid ${on}: '${name}' ${NUL_RULE}`, name)
}

/**
 * The request-wide check, for a global `onBeforeHandle`: after authentication (transform) and schema validation,
 * before any handler stores or spends anything. Path parameters, the query and the body.
 *
 * @example
 * new Elysia().onBeforeHandle(({ params, query, body }) => refuseNulText({ params, query, body }))
 */
export function refuseNulText(input: { params?: unknown; query?: unknown; body?: unknown }): void {
  assertNoNul(input.params, 'params')
  assertNoNul(input.query, 'query')
  assertNoNul(input.body, 'body')
}
