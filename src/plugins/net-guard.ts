/**
 * Outbound HTTP for untrusted plugins: a plugin reaches only the hosts its grant names, and never the host's private
 * network through a name it does not own.
 *
 * The address a request connects to is the one that was checked. Bun's fetch has no DNS hook (no `lookup` option,
 * in `fetch` or in `Bun.FetchSession`), so each hop resolves the name here, checks every address, and fetches the
 * URL with the checked address in place of the name, the name in `Host` and, for https, in `tls.serverName`: Bun
 * then sends SNI for the name and verifies the certificate against the name (documented under "Connecting to a
 * specific address" in Bun's fetch docs; the https test proves both). A second resolution, where DNS rebinding
 * would happen, never takes place. `proxy: false` keeps the host's HTTP(S)_PROXY out: a proxy would resolve the
 * name itself, and see the plugin's traffic.
 *
 * One layer of defence: the sandbox decides whether a plugin gets this function at all.
 */
import dns from 'node:dns'
import ipaddr from 'ipaddr.js'
import { readCapped } from '../http/read-capped.ts'

/**
 * Hosts a plugin may reach: `api.example.com` (ports 80 and 443 by scheme), `api.example.com:8443`,
 * `*.example.com` (any subdomain, not `example.com` itself), `203.0.113.7`, `[2001:db8::1]:8080`. Only an entry
 * that names the host exactly, as written and without `*`, lets it resolve to a private or loopback address.
 */
export interface NetGrant {
  hosts: string[]
  /**
   * Not even a host named exactly may resolve to a private or loopback address: for a grant made on a user's behalf
   * (their own MCP server), who may reach only the public internet.
   */
  publicOnly?: boolean
}

export interface NetLimits {
  maxResponseBytes: number
  timeoutMs: number
  maxRedirects: number
  /** Bytes left for every response that shares this object, taken as they arrive (concurrent fetches included). */
  budget?: ByteBudget
}

export interface ByteBudget {
  remaining: number
}

export interface GuardedRequest {
  url: string
  method?: string
  headers?: [string, string][]
  body?: Uint8Array | string
}

export interface GuardedResponse {
  status: number
  statusText: string
  headers: [string, string][]
  body: Uint8Array
  /** The URL that answered, after redirects, with its host name (not the address). */
  url: string
}

export type NetDeniedReason = 'host_not_granted' | 'private_address' | 'bad_url' | 'too_many_redirects' | 'response_too_large' | 'timeout'

/** A request the guard refused or cut off. Connection and DNS failures are not denials: they surface as thrown. */
export class NetDenied extends Error {
  constructor(
    readonly reason: NetDeniedReason,
    message: string,
  ) {
    super(message)
    this.name = 'NetDenied'
  }
}

export interface NetGuardOptions {
  /** Resolves a host name to all its addresses. Default: `dns.promises.lookup(host, { all: true })`. */
  lookup?: (hostname: string) => Promise<{ address: string; family: number }[]>
  /** Extra CA certificates (PEM) trusted for https, as for a private CA. */
  ca?: string | string[]
  /** The fetch that carries the checked request. Default: Bun's `fetch`. */
  fetch?: (url: string, init: BunFetchRequestInit) => Promise<Response>
}

type Guard = (input: GuardedRequest, grant: NetGrant, limits: NetLimits, signal?: AbortSignal) => Promise<GuardedResponse>
type StreamGuard = (input: GuardedRequest, grant: NetGrant, limits: NetLimits, signal?: AbortSignal) => Promise<Response>

/**
 * Fetches `input.url` for a plugin, if `grant` allows it, within `limits`.
 * @example
 * const res = await guardedFetch({ url: 'https://api.example.com/v1/items' }, { hosts: ['api.example.com'] },
 *   { maxResponseBytes: 1 << 20, timeoutMs: 10_000, maxRedirects: 3 })
 */
export async function guardedFetch(input: GuardedRequest, grant: NetGrant, limits: NetLimits, signal?: AbortSignal): Promise<GuardedResponse> {
  return defaultGuard(input, grant, limits, signal)
}

/** A `guardedFetch` with its own resolver, CAs or transport (tests, private CAs). */
export function createGuardedFetch(options: NetGuardOptions = {}): Guard {
  const deps = depsOf(options)
  return (input, grant, limits, signal) => run(deps, input, grant, limits, signal, buffered)
}

/**
 * As `guardedFetch`, but the body is handed over as it arrives, for server-sent events (an MCP server's stream): a
 * `Response` whose bytes count against `limits` as they are read, and whose `timeoutMs` covers the whole exchange,
 * body included. Cancelling the body, or `signal`, ends the connection.
 * @example
 * const res = await guardedStream({ url: 'https://mcp.example.com/sse' }, { hosts: ['mcp.example.com'] },
 *   { maxResponseBytes: 4 << 20, timeoutMs: 60_000, maxRedirects: 3 })
 * for await (const chunk of res.body!) parse(chunk)
 */
export async function guardedStream(input: GuardedRequest, grant: NetGrant, limits: NetLimits, signal?: AbortSignal): Promise<Response> {
  return defaultStreamGuard(input, grant, limits, signal)
}

/** A `guardedStream` with its own resolver, CAs or transport (tests, private CAs). */
export function createGuardedStream(options: NetGuardOptions = {}): StreamGuard {
  const deps = depsOf(options)
  return (input, grant, limits, signal) => run(deps, input, grant, limits, signal, streamed)
}

function depsOf(options: NetGuardOptions): Deps {
  return {
    lookup: options.lookup ?? ((host) => dns.promises.lookup(host, { all: true, verbatim: true })),
    fetch: options.fetch ?? ((url, init) => fetch(url, init)),
    ca: options.ca,
  }
}

interface Deps {
  lookup: NonNullable<NetGuardOptions['lookup']>
  fetch: NonNullable<NetGuardOptions['fetch']>
  ca: NetGuardOptions['ca']
}

const defaultGuard = createGuardedFetch()
const defaultStreamGuard = createGuardedStream()

// ---- grants ----

export interface GrantEntry {
  /** Normalised as the URL parser does (lower case, punycode, bracketed IPv6), without a trailing dot. */
  host: string
  wildcard: boolean
  port: number | undefined
}

const GRANT_ENTRY = /^(\*\.)?(\[[0-9a-fA-F:.]+\]|[^\s:/?#@[\]\\*]+)(?::(\d{1,5}))?$/

/**
 * Parses and validates a grant; throws a TypeError naming the first malformed entry, so a manifest can be refused
 * when it is loaded rather than fail one request at a time.
 */
export function parseNetGrant(grant: NetGrant): GrantEntry[] {
  return grant.hosts.map((written) => {
    const m = GRANT_ENTRY.exec(written.trim())
    const bad = (why: string) => new TypeError(`net grant entry "${written}": ${why}; expected host, host:port, *.domain or an IP literal ([v6] in brackets)`)
    if (!m) throw bad('not a host')
    const [, star, rawHost = '', rawPort] = m
    let host: string
    try {
      host = stripDot(new URL(`http://${rawHost}`).hostname)
    } catch {
      throw bad('not a valid host name')
    }
    const port = rawPort === undefined ? undefined : Number(rawPort)
    if (port !== undefined && (port < 1 || port > 65535)) throw bad('port out of range')
    if (star && isIpLiteral(host)) throw bad('a wildcard needs a domain')
    if (host === '') throw bad('empty host')
    return { host, wildcard: Boolean(star), port }
  })
}

type Match = 'exact' | 'wildcard'

function matchGrant(entries: readonly GrantEntry[], host: string, port: number, defaultPort: number): Match | undefined {
  let found: Match | undefined
  for (const e of entries) {
    if ((e.port ?? defaultPort) !== port) continue
    if (!e.wildcard && e.host === host) return 'exact'
    if (e.wildcard && !isIpLiteral(host) && host.endsWith(`.${e.host}`)) found = 'wildcard'
  }
  return found
}

// ---- addresses ----

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3')

/**
 * Public means ipaddr.js calls it plain `unicast`, after unwrapping IPv4-mapped IPv6. Everything else (loopback,
 * RFC 1918, CGNAT, link-local and cloud metadata at 169.254.169.254, unique-local fc00::/7, multicast, reserved,
 * documentation, NAT64 and 6to4 prefixes that embed an IPv4 address) is refused, and for IPv6 so is anything outside
 * 2000::/3, such as the deprecated IPv4-compatible ::a.b.c.d that ipaddr.js would call unicast.
 */
export function isPublicAddress(address: string): boolean {
  let ip: ipaddr.IPv4 | ipaddr.IPv6
  try {
    ip = ipaddr.process(address)
  } catch {
    return false
  }
  if (ip.kind() === 'ipv4') return ip.range() === 'unicast'
  return ip.range() === 'unicast' && (ip as ipaddr.IPv6).match(GLOBAL_UNICAST_V6)
}

function isIpLiteral(host: string): boolean {
  return host.startsWith('[') || ipaddr.IPv4.isValidFourPartDecimal(host)
}

function stripDot(host: string): string {
  return host.endsWith('.') ? host.slice(0, -1) : host
}

// ---- the request ----

const REDIRECTS = new Set([301, 302, 303, 307, 308])
// Framing and routing are the guard's business, not the plugin's.
const DROPPED_REQUEST_HEADERS = new Set(['host', 'connection', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length'])
// Credentials bound to an origin do not follow a redirect to another one.
const ORIGIN_BOUND_HEADERS = ['authorization', 'cookie', 'proxy-authorization']
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK'])
const RETRY_NEXT_ADDRESS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ConnectionRefused'])

interface Target {
  url: URL
  host: string
  port: number
  defaultPort: number
}

function parseTarget(raw: string): Target {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new NetDenied('bad_url', `not a URL: ${JSON.stringify(raw.slice(0, 200))}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new NetDenied('bad_url', `only http and https are allowed, not ${url.protocol}`)
  if (url.username !== '' || url.password !== '') throw new NetDenied('bad_url', 'credentials in the URL are not allowed; send an Authorization header')
  const host = stripDot(url.hostname)
  if (host === '') throw new NetDenied('bad_url', 'the URL has no host')
  const defaultPort = url.protocol === 'https:' ? 443 : 80
  return { url, host, port: url.port === '' ? defaultPort : Number(url.port), defaultPort }
}

/** The exchange's timer and abort listener, which a streamed body keeps until it ends. */
interface Exchange {
  controller: AbortController
  timedOut(): boolean
  /** Clears the timer and the caller's abort listener; idempotent. */
  end(): void
}

/** Hands the final response over: read whole (`guardedFetch`) or as a stream that ends the exchange itself. */
type Deliver<T> = (res: Response, url: string, limits: NetLimits, exchange: Exchange) => Promise<{ value: T; handedOver: boolean }>

const buffered: Deliver<GuardedResponse> = async (res, url, limits, exchange) => ({
  value: { status: res.status, statusText: res.statusText, headers: responseHeaders(res.headers), body: await readLimited(res, limits, exchange.controller), url },
  handedOver: false,
})

async function run<T>(deps: Deps, input: GuardedRequest, grant: NetGrant, limits: NetLimits, signal: AbortSignal | undefined, deliver: Deliver<T>): Promise<T> {
  const entries = parseNetGrant(grant)
  const publicOnly = grant.publicOnly === true
  let method = (input.method ?? 'GET').toUpperCase()
  if (!METHOD.test(method) || FORBIDDEN_METHODS.has(method)) throw new TypeError(`method not allowed: ${input.method}`)
  const headers = new Headers()
  for (const [name, value] of input.headers ?? []) if (!DROPPED_REQUEST_HEADERS.has(name.toLowerCase())) headers.append(name, value)
  let body = input.body

  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, limits.timeoutMs)
  const onAbort = () => controller.abort(signal?.reason)
  if (signal?.aborted) onAbort()
  signal?.addEventListener('abort', onAbort, { once: true })
  const exchange: Exchange = {
    controller,
    timedOut: () => timedOut,
    end() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    },
  }
  let handedOver = false

  try {
    let target = parseTarget(input.url)
    for (let redirects = 0; ; redirects++) {
      const res = await send(deps, target, entries, publicOnly, method, headers, body, controller.signal)
      const location = res.headers.get('location')
      if (!REDIRECTS.has(res.status) || location === null) {
        const delivered = await deliver(res, target.url.href, limits, exchange)
        handedOver = delivered.handedOver
        return delivered.value
      }
      await res.body?.cancel().catch(() => {})
      if (redirects >= limits.maxRedirects) throw new NetDenied('too_many_redirects', `more than ${limits.maxRedirects} redirects (last to ${location.slice(0, 200)})`)
      let next: Target
      try {
        // Relative to the name the plugin asked for, not to the address the request went to.
        next = parseTarget(new URL(location, target.url).href)
      } catch (err) {
        throw err instanceof NetDenied ? err : new NetDenied('bad_url', `bad redirect location: ${location.slice(0, 200)}`)
      }
      if (next.url.origin !== target.url.origin) for (const h of ORIGIN_BOUND_HEADERS) headers.delete(h)
      // As browsers do: 303 turns anything but HEAD into GET, and 301/302 turn POST into GET; the body goes.
      if ((res.status === 303 && method !== 'HEAD') || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET'
        body = undefined
        for (const h of ['content-type', 'content-encoding', 'content-language', 'content-location']) headers.delete(h)
      }
      target = next
    }
  } catch (err) {
    if (timedOut) throw new NetDenied('timeout', `no complete response within ${limits.timeoutMs} ms`)
    if (signal?.aborted) throw signal.reason
    throw err
  } finally {
    if (!handedOver) exchange.end()
  }
}

/** One hop: grant, resolution, address check, then the request pinned to a checked address. */
async function send(
  deps: Deps,
  t: Target,
  entries: readonly GrantEntry[],
  publicOnly: boolean,
  method: string,
  headers: Headers,
  body: Uint8Array | string | undefined,
  signal: AbortSignal,
): Promise<Response> {
  const match = matchGrant(entries, t.host, t.port, t.defaultPort)
  if (!match) {
    const suggestion = t.port === t.defaultPort ? t.host : `${t.host}:${t.port}`
    throw new NetDenied('host_not_granted', `${t.host}:${t.port} is not in the plugin's net grant; to allow it, add "${suggestion}" to its hosts`)
  }
  const literal = isIpLiteral(t.host)
  const addresses = literal ? [t.host.replace(/^\[|\]$/g, '')] : (await abortable(deps.lookup(t.host), signal)).map((a) => a.address)
  if (addresses.length === 0) throw new Error(`${t.host} did not resolve to any address`)
  const refused = addresses.find((a) => !isPublicAddress(a))
  if (refused !== undefined && publicOnly)
    throw new NetDenied('private_address', `${literal ? `${t.host} is` : `${t.host} resolves to ${refused},`} a non-public address; only public addresses may be reached here`)
  if (refused !== undefined && match !== 'exact') {
    throw new NetDenied('private_address', `${t.host} resolves to ${refused}, a non-public address; only a grant naming the host exactly (not a wildcard) allows that`)
  }

  const out = new Headers(headers)
  out.set('host', t.url.host)
  const tls: BunFetchRequestInitTLS = { rejectUnauthorized: true }
  if (!literal) tls.serverName = t.host
  if (deps.ca !== undefined) tls.ca = deps.ca
  let lastError: unknown
  for (const address of addresses) {
    const pinned = new URL(t.url.href)
    pinned.hostname = address.includes(':') ? `[${address}]` : address
    try {
      return await deps.fetch(pinned.href, { method, headers: out, body: body ?? null, redirect: 'manual', proxy: false, tls, signal })
    } catch (err) {
      // Nothing was sent when the connection was refused, so the next address of the name may serve it.
      if (!RETRY_NEXT_ADDRESS.has((err as { code?: string }).code ?? '') || signal.aborted) throw err
      lastError = err
    }
  }
  throw lastError
}

async function readLimited(res: Response, limits: NetLimits, controller: AbortController): Promise<Uint8Array> {
  const { maxResponseBytes: max, budget } = limits
  const overMax = () => new NetDenied('response_too_large', `response body over ${max} bytes`)
  const overBudget = () => new NetDenied('response_too_large', `response bodies over the ${budget?.remaining} bytes left to this caller`)
  const declared = Number(res.headers.get('content-length') ?? Number.NaN)
  if (declared > max || (budget !== undefined && declared > budget.remaining)) {
    controller.abort()
    throw declared > max ? overMax() : overBudget()
  }
  try {
    return await readCapped(res.body, (total, chunk) => {
      if (total > max) return overMax()
      if (budget === undefined) return null
      if (chunk > budget.remaining) return overBudget()
      budget.remaining -= chunk
      return null
    })
  } catch (err) {
    // The connection goes too, not only the body stream.
    controller.abort()
    throw err
  }
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304])

/** The body as a stream counted against the limits as it is read; the exchange ends with the stream, however it ends. */
const streamed: Deliver<Response> = async (res, _url, limits, exchange) => {
  const { maxResponseBytes: max, budget } = limits
  const { controller } = exchange
  const declared = Number(res.headers.get('content-length') ?? Number.NaN)
  if (declared > max || (budget !== undefined && declared > budget.remaining)) {
    controller.abort()
    throw new NetDenied('response_too_large', declared > max ? `response body over ${max} bytes` : `response bodies over the ${budget?.remaining} bytes left to this caller`)
  }
  const init = { status: res.status, statusText: res.statusText, headers: responseHeaders(res.headers) }
  if (res.body === null || NULL_BODY_STATUSES.has(res.status)) {
    await res.body?.cancel().catch(() => {})
    return { value: new Response(null, init), handedOver: false }
  }
  const reader = res.body.getReader()
  let total = 0
  const fail = (c: ReadableStreamDefaultController<Uint8Array>, err: unknown) => {
    controller.abort()
    exchange.end()
    reader.cancel().catch(() => {})
    c.error(exchange.timedOut() ? new NetDenied('timeout', `no complete response within ${limits.timeoutMs} ms`) : err)
  }
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      let chunk: Awaited<ReturnType<typeof reader.read>>
      try {
        chunk = await reader.read()
      } catch (err) {
        return fail(c, err)
      }
      if (chunk.done) {
        exchange.end()
        return c.close()
      }
      total += chunk.value.byteLength
      if (total > max) return fail(c, new NetDenied('response_too_large', `response body over ${max} bytes`))
      if (budget !== undefined) {
        if (chunk.value.byteLength > budget.remaining) return fail(c, new NetDenied('response_too_large', `response bodies over the ${budget.remaining} bytes left to this caller`))
        budget.remaining -= chunk.value.byteLength
      }
      c.enqueue(chunk.value)
    },
    cancel(reason) {
      controller.abort()
      exchange.end()
      return reader.cancel(reason).catch(() => {})
    },
  })
  return { value: new Response(body, init), handedOver: true }
}

/** The body handed back is decoded, so the transfer's encoding and length no longer describe it. */
function responseHeaders(headers: Headers): [string, string][] {
  const out: [string, string][] = []
  for (const [name, value] of headers) if (name !== 'content-encoding' && name !== 'content-length') out.push([name, value])
  return out
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
