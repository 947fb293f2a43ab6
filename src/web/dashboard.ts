import { existsSync } from 'node:fs'
import { join, normalize, resolve } from 'node:path'
import { Elysia } from 'elysia'
import { ApiError } from '../http/errors.ts'

const DIST = resolve(import.meta.dir, '../../web/dist')
/** Paths the dashboard never answers: they belong to the APIs and must keep their JSON 404s. */
const NOT_DASHBOARD = /^\/(api|api-internal|health)(\/|$)/

/** The dashboard only talks to its own origin; nothing of it may be framed or run inline script. */
const HTML_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-cache',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
}

/** Precompressed copies the build writes beside a file (web/precompress.ts), in the order they are preferred. */
const ENCODINGS = [
  { name: 'br', suffix: '.br' },
  { name: 'gzip', suffix: '.gz' },
] as const

/** The encodings a client accepts (`Accept-Encoding`), without those it refuses with q=0. */
function accepted(header: string | null): Set<string> {
  const out = new Set<string>()
  for (const part of (header ?? '').toLowerCase().split(',')) {
    const [name, ...params] = part.split(';').map((s) => s.trim())
    const q = params.find((p) => p.startsWith('q='))
    if (name && !(q && Number(q.slice(2)) === 0)) out.add(name)
  }
  return out
}

/**
 * `file` as the client best takes it: its precompressed copy in an encoding the client accepts when the build made
 * one, else as it is. The type is the original's, whichever bytes are sent; caches are told the answer varies.
 */
async function serveFile(request: Request, file: string, headers: Record<string, string>): Promise<Response> {
  const original = Bun.file(file)
  const ok = accepted(request.headers.get('accept-encoding'))
  for (const { name, suffix } of ENCODINGS) {
    if (!ok.has(name)) continue
    const copy = Bun.file(file + suffix)
    if (await copy.exists())
      return new Response(copy, {
        headers: { 'content-type': original.type, ...headers, 'content-encoding': name, vary: 'Accept-Encoding' },
      })
  }
  return new Response(original, { headers: { ...headers, vary: 'Accept-Encoding' } })
}

/**
 * Serves the built SolidJS dashboard (`web/dist`) at `/`: files as they are, or their precompressed copies (brotli,
 * gzip) to clients that accept them (hashed assets cached for a year), every other path the single page's
 * index.html (history-API routing). Without a build, these paths are 404s.
 */
export function dashboardRoutes(distDir?: string) {
  const dist = distDir ? resolve(distDir) : DIST
  const index = join(dist, 'index.html')
  return new Elysia({ name: 'dashboard' }).get('/*', async ({ request }) => {
    const path = decodeURIComponent(new URL(request.url).pathname)
    if (NOT_DASHBOARD.test(path) || !existsSync(index)) throw new ApiError('not_found', `No route for GET ${path}`)
    const file = resolve(dist, `.${normalize(path)}`)
    // The compressed copies are the build's, never addressed themselves.
    if (file.startsWith(`${dist}/`) && path !== '/' && !/\.(br|gz)$/.test(file) && (await Bun.file(file).exists()))
      return serveFile(request, file, {
        'x-content-type-options': 'nosniff',
        'cache-control': path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      })
    return serveFile(request, index, HTML_HEADERS)
  })
}
