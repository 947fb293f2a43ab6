/**
 * Enclava as an MCP client: one short session per use (connect, initialize, one or two requests, close), through
 * the plugins' network guard, so no request reaches a host or address the server's registration does not allow.
 *
 * Every request of a session, and the whole session, is bounded: `timeoutMs` for the session, `maxResponseBytes`
 * per HTTP response and `maxSessionBytes` for all of them together (an SSE stream counts as it arrives). Sessions are
 * not kept between uses: a replica holds no connection, and a server that restarts costs nothing.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js'
import { guardedStream, NetDenied, type NetGrant, type NetLimits } from '../plugins/net-guard.ts'
import type { McpTransport } from './model.ts'
import pkg from '../../package.json' with { type: 'json' }

/** Where a registered server is, and how it may be reached. `headers` are the opened secrets. */
export interface McpEndpoint {
  url: string
  transport: McpTransport
  headers: Record<string, string>
  /** An administrator set the URL: it may name a private or loopback host exactly. */
  privateNetwork: boolean
}

export interface McpClientOptions {
  timeoutMs?: number
  maxResponseBytes?: number
  maxSessionBytes?: number
  /** The guarded fetch that carries every request (tests: a resolver of their own). */
  guard?: typeof guardedStream
}

export interface McpTool {
  name: string
  description: string
  inputSchema: { type: 'object'; [key: string]: unknown }
}

export interface Session {
  client: Client
  transport: 'streamable_http' | 'sse'
  /** The session's own end (the caller's signal, its time limit, a response the guard cut off): pass it to requests. */
  signal: AbortSignal
  timeoutMs: number
}

/** A server that could not be used: unreachable, refused by the guard, or not speaking MCP. The message says which. */
export class McpUnavailable extends Error {
  override name = 'McpUnavailable'
}

const DEFAULTS = { timeoutMs: 30_000, maxResponseBytes: 4 * 1024 * 1024, maxSessionBytes: 8 * 1024 * 1024 }

/**
 * The MCP SDK (with zod and ajv, about 25 MB resident) is loaded by the first session, not at start-up: most servers
 * never open one (`bun bench/footprint.ts`). Until it is loaded no error can be one of its classes.
 */
let sdk: Sdk | undefined
type Sdk = typeof import('@modelcontextprotocol/sdk/client/index.js') &
  typeof import('@modelcontextprotocol/sdk/client/sse.js') &
  typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js') &
  Pick<typeof import('@modelcontextprotocol/sdk/types.js'), 'McpError'>

async function loadSdk(): Promise<Sdk> {
  if (sdk) return sdk
  const [client, sse, streamable, types] = await Promise.all([
    import('@modelcontextprotocol/sdk/client/index.js'),
    import('@modelcontextprotocol/sdk/client/sse.js'),
    import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ])
  sdk = { ...client, ...sse, ...streamable, McpError: types.McpError }
  return sdk
}
/** A server with more tools than this is cut here: a model could not choose among them anyway. */
const MAX_TOOLS = 500
const MAX_LIST_PAGES = 20

/**
 * Opens a session with the server, runs `use`, and closes it (ending the server's session too, when it keeps one).
 * `signal` ends it early (a cancelled run).
 * @example
 * const tools = await withMcpSession(endpoint, signal, (s) => s.client.listTools({}, { signal: s.signal }))
 */
export async function withMcpSession<T>(endpoint: McpEndpoint, signal: AbortSignal, use: (s: Session) => Promise<T>, options: McpClientOptions = {}): Promise<T> {
  const o = { ...DEFAULTS, ...options }
  const { Client, SSEClientTransport, StreamableHTTPClientTransport, StreamableHTTPError, McpError } = await loadSdk()
  // A response the guard cuts off (too large, too slow) fails the whole session at once: the SDK would otherwise
  // wait for an answer that the cut stream can no longer bring.
  const cut = new AbortController()
  const session = AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs), cut.signal])
  const url = new URL(endpoint.url)
  const grant: NetGrant = { hosts: [url.host], publicOnly: !endpoint.privateNetwork }
  const limits: NetLimits = { maxResponseBytes: o.maxResponseBytes, timeoutMs: o.timeoutMs, maxRedirects: 3, budget: { remaining: o.maxSessionBytes } }
  const guard = o.guard ?? guardedStream
  const requestOptions = { signal: session, timeout: o.timeoutMs }

  const fetchFor = (kind: Session['transport']): FetchLike => async (input, init) => {
    const method = (init?.method ?? 'GET').toUpperCase()
    // Streamable HTTP's standalone GET stream carries only what the server sends unasked (notifications, sampling
    // requests), which a session this short never uses: "405" is the spec's way of saying there is none.
    if (kind === 'streamable_http' && method === 'GET') return new Response(null, { status: 405 })
    const headers = new Headers(endpoint.headers)
    for (const [name, value] of new Headers(init?.headers)) headers.set(name, value)
    const body = typeof init?.body === 'string' ? init.body : undefined
    const signals = [session, ...(init?.signal ? [init.signal] : [])]
    const res = await guard({ url: String(input), method, headers: [...headers], ...(body !== undefined ? { body } : {}) }, grant, limits, AbortSignal.any(signals))
    return res.body === null ? res : new Response(watched(res.body, (err) => cut.abort(err)), res)
  }

  const open = async (kind: Session['transport']): Promise<{ client: Client; close(): Promise<void> }> => {
    const client = new Client({ name: 'enclava', version: pkg.version }, { capabilities: {} })
    if (kind === 'sse') {
      const transport = new SSEClientTransport(url, { fetch: fetchFor('sse') })
      await client.connect(transport, requestOptions)
      return { client, close: () => client.close() }
    }
    const transport = new StreamableHTTPClientTransport(url, {
      fetch: fetchFor('streamable_http'),
      // A lost stream is the use failing, not something to wait out.
      reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 },
    })
    await client.connect(transport, requestOptions)
    return {
      client,
      async close() {
        // A stateful server keeps the session until told; a stateless one has none (and the call returns at once).
        await transport.terminateSession().catch(() => {})
        await client.close()
      },
    }
  }

  let opened: { client: Client; close(): Promise<void> }
  let kind: Session['transport'] = endpoint.transport === 'sse' ? 'sse' : 'streamable_http'
  try {
    opened = await open(kind)
  } catch (err) {
    // The spec's backwards compatibility: a 4xx to the first POST means a server of the older HTTP+SSE transport.
    const status = err instanceof StreamableHTTPError ? err.code : undefined
    if (endpoint.transport !== 'auto' || status === undefined || status < 400 || status >= 500 || status === 401 || status === 403) throw unavailable(err, session)
    try {
      kind = 'sse'
      opened = await open(kind)
    } catch (sseErr) {
      throw new McpUnavailable(`Streamable HTTP: ${describe(err, session)}; HTTP+SSE: ${describe(sseErr, session)}`)
    }
  }
  try {
    return await use({ client: opened.client, transport: kind, signal: session, timeoutMs: o.timeoutMs })
  } catch (err) {
    // A JSON-RPC error is the server's answer (an unknown tool, bad arguments): the caller decides what it means.
    if (err instanceof McpError && !session.aborted) throw err
    throw unavailable(err, session)
  } finally {
    await opened.close().catch(() => {})
  }
}

/** Every tool the server lists (every page), up to MAX_TOOLS. */
export async function listTools(s: Session): Promise<McpTool[]> {
  const tools: McpTool[] = []
  let cursor: string | undefined
  for (let page = 0; page < MAX_LIST_PAGES && tools.length < MAX_TOOLS; page++) {
    const res = await s.client.listTools(cursor === undefined ? {} : { cursor }, { signal: s.signal, timeout: s.timeoutMs })
    for (const t of res.tools) tools.push({ name: t.name, description: t.description ?? '', inputSchema: t.inputSchema as McpTool['inputSchema'] })
    cursor = res.nextCursor
    if (!cursor) break
  }
  return tools.slice(0, MAX_TOOLS)
}

type CallResult = Awaited<ReturnType<Client['callTool']>>
type Block = { type: string; [key: string]: unknown }

/**
 * A `tools/call` result as the text a model reads: text blocks as they are, other content named (an image or audio
 * by its type and size, a resource by its URI, an embedded text resource by its text), structured content as JSON
 * when no text came with it.
 */
export function resultText(result: CallResult): string {
  const blocks = (Array.isArray(result.content) ? result.content : []) as Block[]
  const parts = blocks.map((b) => {
    if (b.type === 'text') return String(b.text ?? '')
    if (b.type === 'image' || b.type === 'audio') return `[${b.type}: ${String(b.mimeType ?? 'unknown type')}, ${Math.floor((String(b.data ?? '').length * 3) / 4)} bytes, not shown]`
    if (b.type === 'resource_link') return `[resource: ${String(b.name ?? '')} ${String(b.uri ?? '')}]`.replace('  ', ' ')
    if (b.type === 'resource') {
      const r = (b.resource ?? {}) as { uri?: string; text?: string; mimeType?: string }
      return typeof r.text === 'string' ? `[resource ${r.uri ?? ''}]\n${r.text}` : `[resource ${r.uri ?? ''}: ${r.mimeType ?? 'binary'}, not shown]`
    }
    return `[${b.type} content, not shown]`
  })
  if (parts.length === 0 && result.structuredContent !== undefined) return JSON.stringify(result.structuredContent)
  if (parts.length === 0 && 'toolResult' in result) return JSON.stringify(result.toolResult)
  return parts.join('\n\n')
}

/** What went wrong, in words a person (or a model) can act on; never a stack. */
export function describe(err: unknown, session?: AbortSignal): string {
  if (session?.aborted && (session.reason as Error | undefined)?.name === 'TimeoutError') return 'the server did not answer in time'
  if (session?.aborted && session.reason instanceof NetDenied) return session.reason.message
  if (err instanceof NetDenied) return err.message
  if (sdk && err instanceof sdk.StreamableHTTPError)
    return err.code === undefined ? err.message : `HTTP ${err.code}: ${err.message.replace(/^Streamable HTTP error: /, '').slice(0, 300)}`
  if (sdk && err instanceof sdk.McpError) return err.message
  const e = err as { name?: string; message?: string; code?: string | number } | undefined
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return 'the request was cancelled or timed out'
  if (e?.code === 'ECONNREFUSED' || e?.code === 'ConnectionRefused') return 'the connection was refused'
  const message = (e?.message ?? String(err)).slice(0, 300)
  return message || 'unknown error'
}

/** The same bytes; a refusal of the guard's in the middle of them is reported to `onDenied` as well. */
function watched(body: ReadableStream<Uint8Array>, onDenied: (err: NetDenied) => void): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        const chunk = await reader.read()
        if (chunk.done) c.close()
        else c.enqueue(chunk.value)
      } catch (err) {
        if (err instanceof NetDenied) onDenied(err)
        c.error(err)
      }
    },
    cancel: (reason) => reader.cancel(reason),
  })
}

function unavailable(err: unknown, session: AbortSignal): McpUnavailable {
  return err instanceof McpUnavailable ? err : new McpUnavailable(describe(err, session))
}
