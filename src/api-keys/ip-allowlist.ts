import ipaddr from 'ipaddr.js'

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number]

/**
 * A single address; an IPv4-mapped IPv6 address (::ffff:1.2.3.4) becomes IPv4. IPv4 must be dotted-quad decimal:
 * ipaddr.js also takes inet_aton shorthand ("10.1" = 10.0.0.1, "0x7f.1", octal "010.1.2.3" = 8.1.2.3), which would
 * make an allow-list entry mean another address than the one it shows.
 */
function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 {
  if (ipaddr.IPv4.isValid(text) && !ipaddr.IPv4.isValidFourPartDecimal(text)) throw new Error('not dotted-quad IPv4')
  return ipaddr.process(text)
}

/** Parses "10.0.0.0/8", "2001:db8::/32" or a single address; null when it is neither. */
export function parseRange(entry: string): Range | null {
  try {
    if (entry.includes('/')) {
      const base = entry.slice(0, entry.indexOf('/'))
      if (ipaddr.IPv4.isValid(base) && !ipaddr.IPv4.isValidFourPartDecimal(base)) return null
      const [addr, bits] = ipaddr.parseCIDR(entry)
      // "::ffff:10.0.0.0/104" is the IPv4 range 10.0.0.0/8; clients are compared as IPv4, so the range must be too.
      if (addr.kind() === 'ipv6' && bits >= 96 && (addr as ipaddr.IPv6).isIPv4MappedAddress())
        return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96]
      return [addr, bits]
    }
    const addr = parseAddress(entry)
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
    // Turns an IPv4-mapped IPv6 address (::ffff:1.2.3.4) back into IPv4.
    addr = parseAddress(ip)
  } catch {
    return false
  }
  return entries.some((entry) => {
    const range = parseRange(entry)
    return range !== null && range[0].kind() === addr.kind() && addr.match(range)
  })
}
