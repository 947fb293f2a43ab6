import { Elysia } from 'elysia'
import { jsonDepth } from '../../sandbox/protocol.ts'
import { ApiError } from './errors.ts'
import { readCapped } from './read-capped.ts'
import { markBodyNulFree } from './text.ts'

/** Nesting of arrays and objects a JSON body may have: far beyond any API's needs, far below what breaks a parser. */
export const MAX_JSON_DEPTH = 64

export interface BodyLimitOptions {
  /** Bytes of a JSON or text body from a caller who presents valid credentials. */
  maxCredentialedBytes: number
  /** Bytes of any body from a caller who does not. */
  maxAnonymousBytes: number
  /** Whether the request carries a credential that checks out (cheap: a cached key, a signed token). */
  credentialed: (request: Request) => Promise<boolean>
  /** Routes that read their own body with limits of their own (Elysia route patterns). */
  ownBody: (route: string) => boolean
}

const isJson = (contentType: string) => /^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType)
const isText = (contentType: string) => /^text\/plain\b/i.test(contentType)

/**
 * Every request body is capped while it is read, before it is parsed: small for a caller who presents no valid
 * credential (a sign-in, the widget), MAX_JSON_BODY_MB for one who does, so a 20 MB body sent with no key is refused
 * after the first bytes past the cap instead of being read and parsed before the 401. JSON deeper than
 * MAX_JSON_DEPTH is refused before parsing. Uploads (multipart) keep their own per-file and per-request limits.
 */
export function bodyLimits(o: BodyLimitOptions) {
  return new Elysia({ name: 'body-limits' })
    .onParse(async ({ request, contentType, route }) => {
      // Null: "parsed" (nothing to parse here), so Elysia leaves the body for the route, which reads it itself.
      if (o.ownBody(route)) return null
      const declared = Number(request.headers.get('content-length') ?? NaN)
      // No body at all (a preflight, a GET with a content type): nothing to cap. (A declared length says there is one
      // without touching `request.body`, which would make a stream of it.)
      if (!(declared > 0) && request.body === null) return undefined
      const max = (await o.credentialed(request)) ? o.maxCredentialedBytes : o.maxAnonymousBytes
      const tooLarge = () =>
        new ApiError('payload_too_large', `The request body may be at most ${max} bytes${max === o.maxAnonymousBytes ? ' without valid credentials' : ''}`)
      if (declared > max) throw tooLarge()
      if (!isJson(contentType) && !isText(contentType)) {
        // Multipart and the rest are parsed by Elysia within Bun's own cap; a caller without credentials sends none.
        if (max === o.maxAnonymousBytes && !Number.isFinite(declared)) throw new ApiError('payload_too_large', 'Send a Content-Length with this body')
        return undefined
      }
      // A declared length bounds what Bun reads (the bytes after it are the next request), so the body is read at
      // once, natively; a streamed (chunked) body is counted chunk by chunk. Reading through a stream reader cost the
      // gateway about 8% of its server thread (`bun bench/gateway.ts --profile`).
      // (Never with a Transfer-Encoding beside the length: whichever the parser honours, the stream path counts.)
      const text =
        declared > 0 && !request.headers.has('transfer-encoding')
          ? await request.text()
          : new TextDecoder().decode(await readCapped(request.body, (total) => (total > max ? tooLarge() : null)))
      if (isText(contentType)) return text
      if (text.trim() === '') throw new ApiError('invalid_json', 'The request body is empty; send JSON')
      if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
        throw new ApiError('invalid_json', `The request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`)
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch (err) {
        throw new ApiError('invalid_json', `The request body is not valid JSON: ${(err as Error).message}`)
      }
      // JSON can carry U+0000 only as the escape \u0000: without one, no string or key of the body holds it.
      if (!text.includes('\\u0000')) markBodyNulFree(request)
      return parsed
    })
    .as('global')
}

interface RouteHooks {
  body?: unknown
  parse?: { fn: unknown }[]
}

/**
 * Names each route's body type after the capping parser: the OpenAPI generator documents a route's request body
 * only under parsers it knows by name (it skips function parsers, and with bodyLimits every route has one), and
 * Elysia falls through to the named parser whenever bodyLimits leaves a body to it (multipart uploads). Call once,
 * after every route is registered.
 */
export function nameBodyParsers(routes: readonly { hooks?: unknown }[]): void {
  for (const route of routes) {
    const hooks = route.hooks as RouteHooks | undefined
    if (!hooks?.body || !Array.isArray(hooks.parse) || !hooks.parse.some((p) => typeof p.fn === 'function')) continue
    if (hooks.parse.some((p) => typeof p.fn === 'string')) continue
    const multipart = JSON.stringify(hooks.body).includes('"format":"binary"')
    hooks.parse = [...hooks.parse, { fn: multipart ? 'formdata' : 'json' }]
  }
}

