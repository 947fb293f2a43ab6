import dns from 'node:dns'
import type { SecretBox } from '../crypto/secretbox.ts'
import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import { isPublicAddress } from '../plugins/net-guard.ts'
import { describe, listTools, McpUnavailable, resultText, withMcpSession, type McpClientOptions, type McpEndpoint, type McpTool } from './client.ts'
import type { CreateMcpServerInput, McpServerView, McpTestResult, McpTransport, UpdateMcpServerInput } from './model.ts'

export interface McpServerRow {
  id: string
  owner_id: string
  name: string
  url: string
  transport: McpTransport
  headers_encrypted: string | null
  header_names: string[]
  allowed_tools: string[] | null
  shared: boolean
  private_network: boolean
  created_at: Date
  updated_at: Date
}

/** Who asks: admins (mcp:admin) see and change every server; everyone else their own, and sees the shared ones. */
export interface McpActor {
  userId: string
  isAdmin: boolean
}

/** Only what may be shown: never the sealed headers, only their names. */
export const presentMcpServer = (r: McpServerRow): McpServerView => ({
  id: r.id,
  owner_id: r.owner_id,
  name: r.name,
  url: r.url,
  transport: r.transport,
  header_names: r.header_names,
  allowed_tools: r.allowed_tools,
  shared: r.shared,
  private_network: r.private_network,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
})

// The transport's own headers, and framing the network guard sets itself: a registration cannot override them.
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'accept',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-connection',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
])
const TOOL_LIST_TTL_MS = 60_000
const LOOKUP_TIMEOUT_MS = 3_000

const sealContext = (id: string) => `mcp-server:${id}`

/**
 * Registered MCP servers: owner-scoped like chatbots (another user's server is a 404), shared ones visible to all.
 * Header values are sealed with ENCRYPTION_KEY and opened only to send them. Tool lists are kept a minute per
 * replica (keyed by the row's version, so a change is seen at once), so an agent's runs do not each list them.
 */
export class McpServerService {
  readonly #toolLists = new Map<string, { at: number; tools: McpTool[] }>()

  constructor(
    readonly sql: Sql,
    readonly box: SecretBox,
    readonly clientOptions: McpClientOptions = {},
    /** Resolves a host for the registration check (tests: a resolver of their own). */
    readonly lookup: (host: string) => Promise<{ address: string }[]> = (host) => dns.promises.lookup(host, { all: true, verbatim: true }),
  ) {}

  #readable(actor: McpActor) {
    return actor.isAdmin ? this.sql`TRUE` : this.sql`(owner_id = ${actor.userId} OR shared)`
  }

  async list(actor: McpActor): Promise<McpServerRow[]> {
    return [...(await this.sql<McpServerRow[]>`SELECT * FROM mcp_servers WHERE ${this.#readable(actor)} ORDER BY shared DESC, lower(name), created_at`)]
  }

  /** A server this actor may read; another user's (not shared) is reported as missing, so ids cannot be probed. */
  async get(actor: McpActor, id: string): Promise<McpServerRow> {
    const [row] = await this.sql<McpServerRow[]>`SELECT * FROM mcp_servers WHERE id = ${id} AND ${this.#readable(actor)}`
    if (!row) throw new ApiError('not_found', `MCP server ${id} not found`)
    return row
  }

  /** A server a caller of the tools engine may use: their own or a shared one (an admin's role does not widen this). */
  async usable(userId: string, id: string): Promise<McpServerRow> {
    return this.get({ userId, isAdmin: false }, id)
  }

  async #writable(actor: McpActor, id: string): Promise<McpServerRow> {
    const row = await this.get(actor, id)
    if (!actor.isAdmin && row.owner_id !== actor.userId) throw new ApiError('permission_denied', 'Only administrators change a shared MCP server')
    return row
  }

  async create(actor: McpActor, input: CreateMcpServerInput): Promise<McpServerRow> {
    if (input.shared && !actor.isAdmin) throw new ApiError('permission_denied', 'Only administrators share MCP servers', 'shared')
    const headers = checkHeaders(input.headers ?? {})
    await this.#checkUrl(actor, input.url)
    const id = crypto.randomUUID()
    try {
      const [row] = await this.sql<McpServerRow[]>`
        INSERT INTO mcp_servers ${this.sql({
          id,
          owner_id: actor.userId,
          name: input.name,
          url: input.url,
          transport: input.transport ?? 'auto',
          headers_encrypted: Object.keys(headers).length ? this.box.seal(JSON.stringify(headers), sealContext(id)) : null,
          header_names: Object.keys(headers),
          allowed_tools: input.allowed_tools ?? null,
          shared: input.shared ?? false,
          private_network: actor.isAdmin,
        } as never)}
        RETURNING *`
      return row!
    } catch (err) {
      throw duplicateName(err, input.name)
    }
  }

  async update(actor: McpActor, id: string, patch: UpdateMcpServerInput): Promise<McpServerRow> {
    const row = await this.#writable(actor, id)
    if (patch.shared && !actor.isAdmin) throw new ApiError('permission_denied', 'Only administrators share MCP servers', 'shared')
    const fields: Record<string, unknown> = {}
    if (patch.name !== undefined) fields.name = patch.name
    if (patch.transport !== undefined) fields.transport = patch.transport
    if (patch.allowed_tools !== undefined) fields.allowed_tools = patch.allowed_tools
    if (patch.shared !== undefined) fields.shared = patch.shared
    if (patch.url !== undefined) {
      await this.#checkUrl(actor, patch.url)
      fields.url = patch.url
      // Whoever sets the URL vouches for it: an administrator's may be on the private network, anyone else's not.
      fields.private_network = actor.isAdmin
    }
    if (patch.headers !== undefined) {
      const merged: Record<string, string> = { ...this.#headers(row) }
      const lower = (name: string) => Object.keys(merged).find((k) => k.toLowerCase() === name.toLowerCase())
      for (const [name, value] of Object.entries(patch.headers)) {
        const existing = lower(name)
        if (existing !== undefined) delete merged[existing]
        if (value !== null) merged[name] = value
      }
      checkHeaders(merged)
      fields.headers_encrypted = Object.keys(merged).length ? this.box.seal(JSON.stringify(merged), sealContext(id)) : null
      fields.header_names = Object.keys(merged)
    }
    try {
      const [updated] = await this.sql<McpServerRow[]>`UPDATE mcp_servers SET ${this.sql(fields as never)}, updated_at = now() WHERE id = ${id} RETURNING *`
      return updated!
    } catch (err) {
      throw duplicateName(err, patch.name ?? row.name)
    }
  }

  async delete(actor: McpActor, id: string): Promise<void> {
    await this.#writable(actor, id)
    await this.sql`DELETE FROM mcp_servers WHERE id = ${id}`
  }

  /** Connects, initializes and lists the tools; the answer says whether that worked, and how long it took. */
  async test(row: McpServerRow, signal: AbortSignal): Promise<McpTestResult> {
    const started = performance.now()
    const elapsed = () => Math.round(performance.now() - started)
    try {
      return await withMcpSession(
        this.#endpoint(row),
        signal,
        async (s) => {
          const tools = await listTools(s)
          this.#toolLists.set(cacheKey(row), { at: Date.now(), tools })
          const info = s.client.getServerVersion()
          return { ok: true, latency_ms: elapsed(), transport: s.transport, ...(info ? { server: { name: info.name, version: info.version } } : {}), tools: tools.length }
        },
        this.clientOptions,
      )
    } catch (err) {
      return { ok: false, latency_ms: elapsed(), error: describe(err) }
    }
  }

  /** The server's tools (a minute old at most); a server that cannot be reached is a 502 saying why. */
  async tools(row: McpServerRow, signal: AbortSignal): Promise<McpTool[]> {
    const key = cacheKey(row)
    const cached = this.#toolLists.get(key)
    if (cached && Date.now() - cached.at < TOOL_LIST_TTL_MS) return cached.tools
    const tools = await this.endpointTools(this.#endpoint(row), row.name, signal)
    this.#toolLists.set(key, { at: Date.now(), tools })
    if (this.#toolLists.size > 1000) this.#toolLists.delete(this.#toolLists.keys().next().value as string)
    return tools
  }

  /**
   * Calls one tool. The server's own errors (a failing tool, an unknown one, bad arguments) and an unreachable
   * server both come back as an error result, which a model reads.
   */
  async call(row: McpServerRow, tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<{ content: string; isError: boolean }> {
    return this.endpointCall(this.#endpoint(row), row.name, tool, args, signal)
  }

  /**
   * The tools of a server that is not registered (a request names it, with its own headers), listed afresh; `label`
   * names it in errors. Its endpoint says whether it may be private: for anything a caller supplies, it must not.
   */
  async endpointTools(endpoint: McpEndpoint, label: string, signal: AbortSignal): Promise<McpTool[]> {
    try {
      return await withMcpSession(endpoint, signal, listTools, this.clientOptions)
    } catch (err) {
      throw new ApiError('upstream_error', `The MCP server "${label}" could not list its tools: ${describe(err)}`)
    }
  }

  /** `call` for a server that is not registered (see endpointTools). */
  async endpointCall(endpoint: McpEndpoint, label: string, tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<{ content: string; isError: boolean }> {
    try {
      return await withMcpSession(
        endpoint,
        signal,
        async (s) => {
          const result = await s.client.callTool({ name: tool, arguments: args }, undefined, { signal: s.signal, timeout: s.timeoutMs })
          return { content: resultText(result), isError: result.isError === true }
        },
        // A tool may work longer than a listing; the tools engine bounds the call as a whole.
        { timeoutMs: 60_000, ...this.clientOptions },
      )
    } catch (err) {
      const why = err instanceof McpUnavailable ? `failed: ${err.message}` : `refused the call: ${describe(err)}`
      return { content: `The MCP server "${label}" ${why}`, isError: true }
    }
  }

  #headers(row: McpServerRow): Record<string, string> {
    return row.headers_encrypted ? (JSON.parse(this.box.open(row.headers_encrypted, sealContext(row.id))) as Record<string, string>) : {}
  }

  #endpoint(row: McpServerRow): McpEndpoint {
    return { url: row.url, transport: row.transport, headers: this.#headers(row), privateNetwork: row.private_network }
  }

  /**
   * A URL set by a user must reach a public address: refused here with the reason when its host is a private or
   * loopback address (or resolves to one), and refused again by the network guard on every connection (the name may
   * resolve elsewhere later). A name that does not resolve now is accepted: the guard decides when it is used.
   */
  async #checkUrl(actor: McpActor, raw: string): Promise<void> {
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      throw new ApiError('validation_failed', `Invalid body: 'url' is not a URL`, 'url')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ApiError('validation_failed', `Invalid body: 'url' must be http or https`, 'url')
    if (url.username || url.password) throw new ApiError('validation_failed', `Invalid body: 'url' may not carry credentials; send them in headers (sealed)`, 'url')
    if (actor.isAdmin) return
    const host = url.hostname.replace(/^\[|\]$/g, '')
    let addresses: string[]
    try {
      addresses = isIp(host) ? [host] : (await withTimeout(this.lookup(host), LOOKUP_TIMEOUT_MS)).map((a) => a.address)
    } catch {
      return
    }
    const refused = addresses.find((a) => !isPublicAddress(a))
    if (refused !== undefined)
      throw new ApiError(
        'validation_failed',
        `Invalid body: 'url' reaches ${refused}, a private or loopback address; only an administrator may register a server on the private network`,
        'url',
      )
  }
}

function cacheKey(row: McpServerRow): string {
  return `${row.id}:${row.updated_at.getTime()}`
}

function checkHeaders(headers: Record<string, string>): Record<string, string> {
  const seen = new Set<string>()
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (RESERVED_HEADERS.has(lower)) throw new ApiError('validation_failed', `Invalid body: the header ${name} is set by the transport, not by a registration`, `headers.${name}`)
    if (seen.has(lower)) throw new ApiError('validation_failed', `Invalid body: the header ${name} is given twice`, `headers.${name}`)
    if (/[\r\n\0]/.test(value)) throw new ApiError('validation_failed', `Invalid body: the value of ${name} contains a line break or NUL`, `headers.${name}`)
    seen.add(lower)
  }
  return headers
}

function duplicateName(err: unknown, name: string): unknown {
  return (err as { code?: string }).code === '23505' ? new ApiError('conflict', `You already have an MCP server named ${name}`, 'name') : err
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':')
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref())])
}
