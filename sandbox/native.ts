import { randomFillSync } from 'node:crypto'

/**
 * The only two things an isolate asks the sandbox process synchronously. Both take and return strings or bytes,
 * never objects of this process, and both cap their input so a plugin cannot make this process (shared by every
 * plugin) allocate without bound.
 */

/** Browsers accept URLs up to about 2 MB; longer input is treated as unparsable. */
const MAX_URL_CHARS = 2 * 1024 * 1024
const SETTABLE = new Set(['href', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash'])

function fields(u: URL): string[] {
  return [u.href, u.origin, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash]
}

/** `parse(input, base?)` or `set(href, field, value)`: the URL's fields in runtime/url.js order, or null. */
export function urlOp(op: unknown, a: unknown, b: unknown, c: unknown): string[] | null {
  if (typeof a !== 'string' || a.length > MAX_URL_CHARS) return null
  if (op === 'parse') {
    if (b !== undefined && (typeof b !== 'string' || b.length > MAX_URL_CHARS)) return null
    const url = URL.parse(a, b)
    return url === null ? null : fields(url)
  }
  if (op === 'set') {
    if (typeof b !== 'string' || !SETTABLE.has(b) || typeof c !== 'string' || c.length > MAX_URL_CHARS) return null
    const url = URL.parse(a)
    if (url === null) return null
    if (b === 'href') {
      const next = URL.parse(c)
      return next === null ? null : fields(next)
    }
    ;(url as unknown as Record<string, string>)[b] = c
    return fields(url)
  }
  return null
}

/** Web Crypto caps getRandomValues at 65536 bytes; the runtime asks for at most that much at once. */
export function randomBytes(n: unknown): Uint8Array {
  const size = typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 65536 ? n : 0
  return randomFillSync(new Uint8Array(size))
}
