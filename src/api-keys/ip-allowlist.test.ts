import { describe, expect, test } from 'bun:test'
import { ipAllowed, parseRange } from './ip-allowlist.ts'
import { KEY_PATTERN, PREFIX_LENGTH, generateApiKey, hashApiKey, hashesEqual, keyPrefix } from './keys.ts'

describe('ipAllowed', () => {
  const V4 = ['10.0.0.0/8', '192.168.1.7']
  const V6 = ['2001:db8::/32', 'fe80::1']
  const cases: [name: string, ip: string | null, entries: string[], expected: boolean][] = [
    ['an empty list allows any address', '203.0.113.9', [], true],
    ['an empty list allows IPv6 too', '2001:db8::1', [], true],
    ['an empty list allows even an unknown address', null, [], true],
    ['exact IPv4 match', '192.168.1.7', V4, true],
    ['exact IPv4 neighbour does not match', '192.168.1.8', V4, false],
    ['IPv4 inside a CIDR', '10.255.0.1', V4, true],
    ['IPv4 at the start of a CIDR', '10.0.0.0', V4, true],
    ['IPv4 just outside a CIDR', '11.0.0.0', V4, false],
    ['IPv4 below a CIDR', '9.255.255.255', V4, false],
    ['/32 CIDR matches only itself', '198.51.100.4', ['198.51.100.4/32'], true],
    ['/32 CIDR rejects its neighbour', '198.51.100.5', ['198.51.100.4/32'], false],
    ['0.0.0.0/0 matches every IPv4 address', '203.0.113.9', ['0.0.0.0/0'], true],
    ['IPv6 exact match', 'fe80::1', V6, true],
    ['IPv6 exact match, other notation', 'fe80:0:0:0:0:0:0:1', V6, true],
    ['IPv6 exact neighbour does not match', 'fe80::2', V6, false],
    ['IPv6 inside a CIDR', '2001:db8:1234::42', V6, true],
    ['IPv6 outside a CIDR', '2001:db9::1', V6, false],
    ['IPv4-mapped IPv6 matches an IPv4 CIDR', '::ffff:10.1.2.3', V4, true],
    ['IPv4-mapped IPv6 matches an exact IPv4 entry', '::ffff:192.168.1.7', V4, true],
    ['IPv4-mapped IPv6 outside the IPv4 list', '::ffff:172.16.0.1', V4, false],
    ['IPv4 address against an IPv6-only list', '10.1.2.3', V6, false],
    ['IPv4 address against ::/0 (IPv6 only)', '10.1.2.3', ['::/0'], false],
    ['IPv6 address against an IPv4-only list', '2001:db8::1', V4, false],
    ['IPv6 address against 0.0.0.0/0 (IPv4 only)', '2001:db8::1', ['0.0.0.0/0'], false],
    ['mixed list, IPv4 client', '10.9.9.9', [...V6, ...V4], true],
    ['mixed list, IPv6 client', '2001:db8::9', [...V4, ...V6], true],
    ['an IPv4-mapped CIDR entry matches the IPv4 client it names', '10.1.2.3', ['::ffff:10.0.0.0/104'], true],
    ['an IPv4-mapped CIDR entry matches a mapped client', '::ffff:10.1.2.3', ['::ffff:10.0.0.0/104'], true],
    ['an IPv4-mapped CIDR entry rejects clients outside it', '11.1.2.3', ['::ffff:10.0.0.0/104'], false],
    ['garbage ip is refused', 'not-an-ip', V4, false],
    ['empty ip is refused', '', V4, false],
    ['ip with a port is refused', '10.1.2.3:443', V4, false],
    ['inet_aton shorthand ip is refused', '0xa.1.2.3', V4, false],
    ['zero-padded (octal) ip is refused', '010.1.2.3', ['8.1.2.3', '10.1.2.3'], false],
    ['out-of-range octet is refused', '10.1.2.256', V4, false],
    ['null ip with a non-empty list is refused', null, V4, false],
    ['null ip against 0.0.0.0/0 is refused', null, ['0.0.0.0/0'], false],
    ['invalid entries match nothing, valid ones still count', '10.1.2.3', ['garbage', '10.0.0.0/8'], true],
    ['a list of only invalid entries matches nothing', '10.1.2.3', ['garbage', '10.0.0.0/99'], false],
  ]
  test.each(cases)('%s', (_name, ip, entries, expected) => {
    expect(ipAllowed(ip, entries)).toBe(expected)
  })
})

describe('parseRange', () => {
  const accepted: [entry: string, address: string, bits: number, kind: 'ipv4' | 'ipv6'][] = [
    ['10.0.0.0/8', '10.0.0.0', 8, 'ipv4'],
    ['192.168.1.7', '192.168.1.7', 32, 'ipv4'],
    ['0.0.0.0/0', '0.0.0.0', 0, 'ipv4'],
    ['203.0.113.9/32', '203.0.113.9', 32, 'ipv4'],
    ['2001:db8::/32', '2001:db8::', 32, 'ipv6'],
    ['fe80::1', 'fe80::1', 128, 'ipv6'],
    ['::/0', '::', 0, 'ipv6'],
    ['2001:db8::1/128', '2001:db8::1', 128, 'ipv6'],
    // A mapped single address or range is the IPv4 address or range it names.
    ['::ffff:10.1.2.3', '10.1.2.3', 32, 'ipv4'],
    ['::ffff:10.0.0.0/104', '10.0.0.0', 8, 'ipv4'],
  ]
  test.each(accepted)('accepts %p', (entry, address, bits, kind) => {
    const range = parseRange(entry)
    expect(range).not.toBeNull()
    const [addr, prefix] = range!
    expect(addr.kind()).toBe(kind)
    expect(addr.toString()).toBe(address)
    expect(prefix).toBe(bits)
  })

  const rejected: [entry: string][] = [
    [''],
    ['not-an-ip'],
    ['10.0.0.0/33'],
    ['10.0.0.0/-1'],
    ['10.0.0.0/'],
    ['/8'],
    ['10.0.0.0/8/8'],
    ['2001:db8::/129'],
    ['10.1.2.256'],
    ['10.0.0.1 '],
    [' 10.0.0.1'],
    ['10.0.0.0/ 8'],
    ['10.0.0.1:80'],
    ['2001:db8:::1'],
    // inet_aton shorthand would silently mean another address than the one shown: 10.0.0.1, 127.0.0.1, 8.1.2.3.
    ['10.1'],
    ['0x7f.1'],
    ['010.1.2.3'],
    ['010.0.0.0/8'],
    ['4294967295'],
  ]
  test.each(rejected)('rejects %p', (entry) => {
    expect(parseRange(entry)).toBeNull()
  })

  test('a rejected entry is not a silent alias in ipAllowed either', () => {
    // "010.1.2.3" read as octal is 8.1.2.3; it must not let that address in.
    expect(ipAllowed('8.1.2.3', ['010.1.2.3'])).toBe(false)
    expect(ipAllowed('127.0.0.1', ['0x7f.1'])).toBe(false)
  })
})

describe('API key secrets', () => {
  test('generateApiKey has the documented format', () => {
    for (let i = 0; i < 200; i++) {
      const key = generateApiKey()
      expect(key).toMatch(/^en_[0-9A-Za-z]{40}$/)
      expect(KEY_PATTERN.test(key)).toBe(true)
    }
  })

  test('1000 generated keys are all distinct, as are their prefixes almost always', () => {
    const keys = Array.from({ length: 1000 }, generateApiKey)
    expect(new Set(keys).size).toBe(1000)
    // 5 random base62 characters per prefix: ~916M values, so 1000 prefixes collide with probability ~5e-4.
    // Allow one collision so the test never flakes, but catch a generator that is not random.
    expect(new Set(keys.map(keyPrefix)).size).toBeGreaterThanOrEqual(999)
  })

  test('the generator uses the whole alphabet', () => {
    const seen = new Set(Array.from({ length: 200 }, generateApiKey).join(''))
    for (const c of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') expect(seen.has(c)).toBe(true)
  })

  test('keyPrefix is the first 8 characters, "en_" included', () => {
    expect(PREFIX_LENGTH).toBe(8)
    const key = generateApiKey()
    expect(keyPrefix(key)).toBe(key.slice(0, 8))
    expect(keyPrefix(key)).toHaveLength(8)
    expect(keyPrefix(key)).toStartWith('en_')
    expect(keyPrefix('en_ABCDEFGHIJ')).toBe('en_ABCDE')
  })

  test('KEY_PATTERN rejects near misses', () => {
    const key = generateApiKey()
    for (const bad of [key.slice(0, -1), `${key}a`, key.replace('en_', 'sk_'), `${key.slice(0, -1)}-`, ` ${key}`, `EN_${key.slice(3)}`])
      expect(KEY_PATTERN.test(bad)).toBe(false)
  })

  test('hashApiKey is a deterministic SHA-256 hex digest', () => {
    const key = generateApiKey()
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/)
    expect(hashApiKey(key)).toBe(hashApiKey(key))
    expect(hashApiKey(key)).toBe(new Bun.CryptoHasher('sha256').update(key).digest('hex'))
    expect(hashApiKey(key)).not.toBe(hashApiKey(generateApiKey()))
  })

  const a = hashApiKey('en_a')
  const b = hashApiKey('en_b')
  const equalCases: [name: string, x: string, y: string, expected: boolean][] = [
    ['same hash', a, a, true],
    ['same hash, separately computed', a, hashApiKey('en_a'), true],
    ['different hashes', a, b, false],
    ['differ only in the last digit', a, a.slice(0, -1) + (a.endsWith('0') ? '1' : '0'), false],
    ['a prefix of the other', a, a.slice(0, 32), false],
    ['empty vs hash', '', a, false],
  ]
  test.each(equalCases)('hashesEqual: %s', (_name, x, y, expected) => {
    expect(hashesEqual(x, y)).toBe(expected)
    expect(hashesEqual(y, x)).toBe(expected)
  })
})
