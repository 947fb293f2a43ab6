import { ApiError } from '../../http/errors.ts'
import { guardedFetch, NetDenied, parseNetGrant } from '../../plugins/net-guard.ts'
import { extractFile } from '../../rag/extract/index.ts'
import { htmlToSections } from '../../rag/extract/html.ts'
import type { Caller } from '../../gateway/service.ts'
import type { Tool, ToolProvider, ToolSpec } from '../types.ts'

type Spec = Extract<ToolSpec, { type: 'web_fetch' }>

const DEFAULT_MAX_BYTES = 2 * 1024 * 1024
const MAX_BYTES = 10 * 1024 * 1024
const TIMEOUT_MS = 15_000
const MAX_REQUEST_BODY = 64 * 1024

/** The text a model should read of a response: HTML reduced to its text, PDF pages extracted, text as it is. */
async function readable(contentType: string, body: Uint8Array, url: string): Promise<string> {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? ''
  if (type === 'text/html' || type === 'application/xhtml+xml') {
    const html = htmlToSections(new TextDecoder().decode(body))
    return [html.title ? `# ${html.title}` : '', ...html.sections.map((s) => (s.heading ? `## ${s.heading}\n${s.text}` : s.text))].filter(Boolean).join('\n\n')
  }
  if (type === 'application/pdf') {
    const file = await extractFile('page.pdf', body)
    return file.documents.flatMap((d) => d.sections.map((s) => (s.page ? `[page ${s.page}] ${s.text}` : s.text))).join('\n\n')
  }
  if (type.startsWith('text/') || type.includes('json') || type.includes('xml')) return new TextDecoder().decode(body)
  throw new ApiError('invalid_request', `${url} answered with ${type || 'no content type'}, which is not text, HTML or PDF`)
}

/**
 * `web_fetch`: GET or POST to the hosts the agent's configuration names, through the plugins' network guard (every
 * address checked, redirects included; private and loopback addresses refused unless a host names one exactly),
 * the response capped in bytes and time, its text extracted from HTML or PDF.
 */
export function webFetchTools(): ToolProvider<Spec> {
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
              const text = await readable(contentType, res.body, url)
              return { content: `HTTP ${res.status} ${url}\n\n${text}`, isError: res.status >= 400, sources: [{ title: url, url }] }
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
