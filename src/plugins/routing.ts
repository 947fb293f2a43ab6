import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Manifest } from './model.ts'

type Route = Manifest['routes'][number]

const segmentsOf = (path: string) => path.split('/').filter(Boolean)

function matchSegments(pattern: string[], path: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!
    if (p === '*' && i === pattern.length - 1) return true
    if (i >= path.length) return false
    if (!p.startsWith(':') && p !== path[i]) return false
  }
  return pattern.length === path.length
}

/**
 * The manifest route a request is for: exact paths before patterns, patterns in declaration order (the sandbox
 * then runs exactly that route's handler, so the auth checked here is the auth of the code that runs).
 */
export function matchRoute(routes: readonly Route[], method: string, path: string): Route | undefined {
  const segs = segmentsOf(path)
  const methodOk = (r: Route) => r.method === 'ALL' || r.method === method || (method === 'HEAD' && r.method === 'GET')
  const exact = (r: Route) => !r.path.includes(':') && !r.path.includes('*')
  return (
    routes.find((r) => methodOk(r) && exact(r) && matchSegments(segmentsOf(r.path), segs)) ??
    routes.find((r) => methodOk(r) && !exact(r) && matchSegments(segmentsOf(r.path), segs))
  )
}

/** Checks a webhook's HMAC signature header against the raw body, in constant time. */
export function signatureValid(signature: NonNullable<Route['signature']>, secret: string, body: Uint8Array, header: string | null): boolean {
  if (!header || !header.startsWith(signature.prefix)) return false
  const expected = createHmac(signature.algorithm, secret).update(body).digest()
  let given: Buffer
  try {
    given = Buffer.from(header.slice(signature.prefix.length).trim(), signature.encoding)
  } catch {
    return false
  }
  return given.length === expected.length && timingSafeEqual(given, expected)
}
