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

/**
 * Serves the built SolidJS dashboard (`web/dist`) at `/`: files as they are (hashed assets cached for a year),
 * every other path the single page's index.html (history-API routing). Without a build, these paths are 404s.
 */
export function dashboardRoutes(distDir?: string) {
  const dist = distDir ? resolve(distDir) : DIST
  const index = join(dist, 'index.html')
  return new Elysia({ name: 'dashboard' }).get('/*', async ({ request }) => {
    const path = decodeURIComponent(new URL(request.url).pathname)
    if (NOT_DASHBOARD.test(path) || !existsSync(index)) throw new ApiError('not_found', `No route for GET ${path}`)
    const file = resolve(dist, `.${normalize(path)}`)
    if (file.startsWith(`${dist}/`) && path !== '/') {
      const asset = Bun.file(file)
      if (await asset.exists())
        return new Response(asset, {
          headers: {
            'x-content-type-options': 'nosniff',
            'cache-control': path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
          },
        })
    }
    return new Response(Bun.file(index), { headers: HTML_HEADERS })
  })
}
