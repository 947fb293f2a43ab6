import { ApiError } from '../../http/errors.ts'
import { guardedFetch, NetDenied, parseNetGrant } from '../../plugins/net-guard.ts'
import type { PreparePool } from '../../rag/prepare-pool.ts'
import type { Caller } from '../../gateway/service.ts'
import type { Tool, ToolProvider, ToolSpec } from '../types.ts'

type Spec = Extract<ToolSpec, { type: 'web_fetch' }>

const DEFAULT_MAX_BYTES = 2 * 1024 * 1024
const MAX_BYTES = 10 * 1024 * 1024
const TIMEOUT_MS = 15_000
const MAX_REQUEST_BODY = 64 * 1024

/**
 * `web_fetch`: GET or POST to the hosts the agent's configuration names, through the plugins' network guard (every
 * address checked, redirects included; private and loopback addresses refused unless a host names one exactly),
 * the response capped in bytes and time, its text extracted from HTML or PDF on the preparation threads (`pages`):
 * the bytes are a remote host's, and parsing 10 MB of HTML or a PDF would hold the server thread.
 */
export function webFetchTools(pages: Pick<PreparePool, 'readPage'>): ToolProvider<Spec> {
  return {
    kind: 'web_fetch',
    async tools(spec: Spec, _caller: Caller): Promise<Tool[]> {
      try {
        parseNetGrant({ hosts: spec.hosts })
      } catch (err) {
        throw new ApiError('validation_failed', `web_fetch hosts: ${(err as Error).message}`, 'tools')
      }
      if (spec.hosts.length === 0) throw new ApiError('validation_failed', 'web_fetch needs the hosts it may reach', 'tools')
      const maxBytes = Math.min(spec.max_bytes ?? DEFAULT_MAX_BYTES, MAX_BYTES)
      return [
        {
          kind: 'web_fetch',
          name: 'fetch_url',
          description: `Fetches a web page or document (GET, or POST with a body) and returns its text. Hosts it may reach: ${spec.hosts.join(', ')}.`,
          parameters: {
            type: 'object',
            properties: {
              url: { type: 'string', description: 'http(s) URL on one of the allowed hosts' },
              method: { type: 'string', enum: ['GET', 'POST'] },
              body: { type: 'string', description: 'POST only: the request body (JSON or form text)' },
              content_type: { type: 'string', description: 'POST only: its content type (default application/json)' },
            },
            required: ['url'],
            additionalProperties: false,
          },
          async execute(args, ctx) {
            const url = typeof args.url === 'string' ? args.url : ''
            const method = args.method === 'POST' ? 'POST' : 'GET'
            const body = method === 'POST' && typeof args.body === 'string' ? args.body : undefined
            if (body !== undefined && body.length > MAX_REQUEST_BODY) return { content: `The POST body may be at most ${MAX_REQUEST_BODY} characters`, isError: true }
            try {
              const res = await guardedFetch(
                {
                  url,
                  method,
                  headers: body !== undefined ? [['content-type', typeof args.content_type === 'string' ? args.content_type : 'application/json']] : [],
                  ...(body !== undefined ? { body } : {}),
                },
                { hosts: spec.hosts },
                { maxResponseBytes: maxBytes, timeoutMs: TIMEOUT_MS, maxRedirects: 5 },
                ctx.signal,
              )
              const contentType = res.headers.find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? ''
              const page = await pages.readPage({ contentType, bytes: res.body, url })
              if (!page.ok) throw new ApiError('invalid_request', page.message)
              return { content: `HTTP ${res.status} ${url}\n\n${page.text}`, isError: res.status >= 400, sources: [{ title: url, url }] }
            } catch (err) {
              if (err instanceof NetDenied) return { content: `${url}: ${err.message}`, isError: true }
              throw err
            }
          },
        },
      ]
    },
  }
}
