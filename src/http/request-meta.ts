/** Who sent a request, as far as the server can tell; passed to services instead of the whole HTTP context. */
export interface RequestMeta {
  requestId: string
  ip: string | null
  userAgent: string | null
}

const ids = new WeakMap<Request, string>()
const starts = new WeakMap<Request, number>()
const SAFE_ID = /^[\w.:-]{1,128}$/

/** Keeps a caller's X-Request-Id when it is sane, otherwise makes one; every later hook reads it from here. */
export function assignRequestId(request: Request): string {
  const given = request.headers.get('x-request-id')
  const id = given && SAFE_ID.test(given) ? given : crypto.randomUUID()
  ids.set(request, id)
  return id
}

export const requestIdOf = (request: Request): string => ids.get(request) ?? 'unknown'

/** performance.now() when the request arrived, set by the first hook; for access logs and Server-Timing. */
export function markStart(request: Request): void {
  starts.set(request, performance.now())
}
export const startedAt = (request: Request): number => starts.get(request) ?? performance.now()

export interface IpSource {
  requestIP(request: Request): { address: string } | null
}

/**
 * Behind a proxy (TRUST_PROXY), the right-most X-Forwarded-For entry: the address our own proxy saw. Entries to its
 * left come from the client and can be forged (a proxy appends, it does not replace). Otherwise the socket's peer.
 */
export function clientIp(request: Request, server: IpSource | null, trustProxy: boolean): string | null {
  if (trustProxy) {
    const forwarded = request.headers.get('x-forwarded-for')?.split(',').at(-1)?.trim()
    if (forwarded) return forwarded
  }
  return server?.requestIP(request)?.address ?? null
}

const metas = new WeakMap<Request, RequestMeta>()

/** Computed once per request: the guards and the handlers both ask for it. */
export function requestMeta(request: Request, server: IpSource | null, trustProxy: boolean): RequestMeta {
  let meta = metas.get(request)
  if (!meta) {
    meta = {
      requestId: requestIdOf(request),
      ip: clientIp(request, server, trustProxy),
      userAgent: request.headers.get('user-agent')?.slice(0, 512) ?? null,
    }
    metas.set(request, meta)
  }
  return meta
}
