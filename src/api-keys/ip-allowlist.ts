import ipaddr from 'ipaddr.js'

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number]

/** Parses "10.0.0.0/8", "2001:db8::/32" or a single address; null when it is neither. */
export function parseRange(entry: string): Range | null {
  try {
    if (entry.includes('/')) return ipaddr.parseCIDR(entry)
    const addr = ipaddr.process(entry)
    return [addr, addr.kind() === 'ipv4' ? 32 : 128]
  } catch {
    return null
  }
}

/** An empty list allows every address; an address that cannot be parsed matches nothing. */
export function ipAllowed(ip: string | null, entries: readonly string[]): boolean {
  if (entries.length === 0) return true
  if (!ip) return false
  let addr: ipaddr.IPv4 | ipaddr.IPv6
  try {
    // process() turns an IPv4-mapped IPv6 address (::ffff:1.2.3.4) back into IPv4.
    addr = ipaddr.process(ip)
  } catch {
    return false
  }
  return entries.some((entry) => {
    const range = parseRange(entry)
    return range !== null && range[0].kind() === addr.kind() && addr.match(range)
  })
}
