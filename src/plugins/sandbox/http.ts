import type { RouteResult, WireRequest } from '../../../sandbox/protocol.ts'

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304])

/**
 * A Request as a route invocation carries it. `url` replaces the request's own URL when the plugin should see
 * a different one (e.g. without the `/api/v1/plugins/<plugin>` prefix). Reads the whole body: cap its size first.
 *
 * @example
 * await sandbox.invoke('hello', 'route', { request: await toWireRequest(req), path: '/hello' }, { wallMs })
 */
export async function toWireRequest(req: Request, url?: string): Promise<WireRequest> {
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : new Uint8Array(await req.arrayBuffer())
  return {
    method: req.method,
    url: url ?? req.url,
    headers: [...req.headers],
    body: body === null || body.byteLength === 0 ? null : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64'),
    bodyEncoding: 'base64',
  }
}

/** The Response of a route invocation's result. */
export function toResponse(result: RouteResult): Response {
  const body = NULL_BODY_STATUS.has(result.status) || result.body === '' ? null : Buffer.from(result.body, 'base64')
  return new Response(body, { status: result.status, statusText: result.statusText, headers: result.headers })
}
