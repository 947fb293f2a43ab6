import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createGuardedFetch, guardedFetch, isPublicAddress, NetDenied, type NetDeniedReason, type NetGrant, type NetLimits, parseNetGrant } from './net-guard.ts'

const limits: NetLimits = { maxResponseBytes: 1 << 20, timeoutMs: 5_000, maxRedirects: 5 }

async function denied(p: Promise<unknown>, reason: NetDeniedReason): Promise<NetDenied> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(NetDenied)
  expect((err as NetDenied).reason).toBe(reason)
  return err as NetDenied
}

// ---- a real server on 127.0.0.1, and a second origin for cross-origin redirects ----

interface Seen {
  path: string
  method: string
  headers: Record<string, string>
  body: string
}
const seen: Seen[] = []
let producedBytes = 0

function handler(req: Request): Response | Promise<Response> {
  const url = new URL(req.url)
  const p = url.pathname
  if (p === '/hang') return new Promise<Response>(() => {})
  if (p === '/redirect') return new Response(null, { status: Number(url.searchParams.get('status') ?? 302), headers: { location: url.searchParams.get('to') ?? '/' } })
  if (p.startsWith('/chain/')) {
    const n = Number(p.slice('/chain/'.length))
    return n > 0 ? new Response(null, { status: 302, headers: { location: `/chain/${n - 1}` } }) : new Response('end of chain')
  }
  if (p === '/endless') {
    const chunk = new Uint8Array(64 * 1024)
    return new Response(
      new ReadableStream({
        pull(c) {
          producedBytes += chunk.byteLength
          c.enqueue(chunk)
        },
      }),
    )
  }
  if (p === '/declared-large') return new Response(new Uint8Array(4 << 20))
  return req.text().then((body) => {
    const entry = { path: p, method: req.method, headers: Object.fromEntries(req.headers), body }
    seen.push(entry)
    return Response.json(entry, { headers: { 'set-cookie': 'a=1' } })
  })
}

let server: ReturnType<typeof Bun.serve>
let other: ReturnType<typeof Bun.serve>
let base: string
let otherBase: string
let port: number
beforeAll(() => {
  server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: handler })
  other = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: handler })
  port = server.port as number
  base = `http://127.0.0.1:${port}`
  otherBase = `http://127.0.0.1:${other.port}`
})
afterAll(() => {
  server.stop(true)
  other.stop(true)
})

const self: NetGrant = { hosts: [] }
beforeAll(() => {
  self.hosts = [`127.0.0.1:${port}`]
})

/** A guard whose DNS answers from a table, over the real network. */
const fakeDns = (table: Record<string, string[]>) =>
  createGuardedFetch({
    lookup: async (host) => {
      const addresses = table[host]
      if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
    },
  })

/** A guard with table DNS and no network at all: records what it would have sent. */
function offline(table: Record<string, string[]> = {}) {
  const sent: { url: string; init: BunFetchRequestInit }[] = []
  const lookups: string[] = []
  const guard = createGuardedFetch({
    lookup: async (host) => {
      lookups.push(host)
      return (table[host] ?? ['93.184.216.34']).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
    },
    fetch: async (url, init) => {
      sent.push({ url, init })
      return new Response('ok')
    },
  })
  return { guard, sent, lookups }
}

describe('grants', () => {
  // [grant entries, url, expected]; DNS answers a public address for every name.
  const table: [string[], string, 'ok' | NetDeniedReason][] = [
    [['api.example.com'], 'https://api.example.com/v1', 'ok'],
    [['api.example.com'], 'http://api.example.com/v1', 'ok'],
    [['api.example.com'], 'https://API.Example.COM./v1', 'ok'],
    [['api.example.com'], 'https://api.example.com:8443/', 'host_not_granted'],
    [['api.example.com'], 'http://api.example.com:443/', 'host_not_granted'],
    [['api.example.com:8443'], 'https://api.example.com:8443/', 'ok'],
    [['api.example.com:8443'], 'https://api.example.com/', 'host_not_granted'],
    [['api.example.com'], 'https://example.com/', 'host_not_granted'],
    [['api.example.com'], 'https://x.api.example.com/', 'host_not_granted'],
    [['api.example.com'], 'https://api.example.com.evil.net/', 'host_not_granted'],
    [['*.example.com'], 'https://a.example.com/', 'ok'],
    [['*.example.com'], 'https://a.b.example.com/', 'ok'],
    [['*.example.com'], 'https://example.com/', 'host_not_granted'],
    [['*.example.com'], 'https://badexample.com/', 'host_not_granted'],
    [['*.example.com:8080'], 'http://a.example.com:8080/', 'ok'],
    [['*.example.com'], 'http://a.example.com:8080/', 'host_not_granted'],
    [['bücher.de'], 'https://xn--bcher-kva.de/', 'ok'],
    [['203.0.113.7'], 'http://203.0.113.7/', 'ok'],
    [['8.8.8.8'], 'http://134744072/', 'ok'],
    [['[2606:4700::1111]:8080'], 'http://[2606:4700:0::1111]:8080/', 'ok'],
    [[], 'https://api.example.com/', 'host_not_granted'],
    [['api.example.com'], 'ftp://api.example.com/', 'bad_url'],
    [['api.example.com'], 'file:///etc/passwd', 'bad_url'],
    [['api.example.com'], 'https://user:pw@api.example.com/', 'bad_url'],
    [['api.example.com'], 'javascript:alert(1)', 'bad_url'],
    [['api.example.com'], 'not a url', 'bad_url'],
  ]
  test.each(table)('%p %s -> %s', async (hosts, url, expected) => {
    const { guard, sent } = offline()
    const p = guard({ url }, { hosts }, limits)
    if (expected === 'ok') expect((await p).status).toBe(200)
    else {
      await denied(p, expected)
      expect(sent).toHaveLength(0)
    }
  })

  test('a denial names the missing grant and how to add it', async () => {
    const err = await denied(offline().guard({ url: 'https://api.example.com:8443/x' }, { hosts: ['api.example.com'] }, limits), 'host_not_granted')
    expect(err.message).toContain('add "api.example.com:8443"')
  })

  test.each(['http://api.example.com', 'api.example.com/path', 'user@host', '*.10.0.0.1', '*', 'a b', 'host:0', 'host:70000', '::1', ''])('malformed entry %p is refused', (entry) => {
    expect(() => parseNetGrant({ hosts: [entry] })).toThrow(TypeError)
  })
})

describe('addresses', () => {
  test.each([
    '10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.1', '100.64.0.1', '169.254.169.254', '127.0.0.1', '127.1.2.3',
    '0.0.0.0', '224.0.0.1', '255.255.255.255', '240.0.0.1', '192.0.2.1', '198.18.0.1',
    '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:169.254.169.254',
    '64:ff9b::a00:1', '2002:a00:1::', '::7f00:1', '2001:db8::1', 'fe80::1%eth0', 'garbage',
  ])('%s is not public', (address) => {
    expect(isPublicAddress(address)).toBe(false)
  })

  test.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
    expect(isPublicAddress(address)).toBe(true)
  })

  test.each(['10.0.0.1', '169.254.169.254', '[::1]', '[::ffff:127.0.0.1]'])('IP literal %s is refused without a connection unless granted', async (host) => {
    const { guard, sent } = offline()
    await denied(guard({ url: `http://${host}/latest/meta-data/` }, { hosts: ['*.example.com', `127.0.0.1:${port}`] }, limits), 'host_not_granted')
    expect(sent).toHaveLength(0)
  })

  test.each(['10.0.0.1', '169.254.169.254', '::1', '::ffff:127.0.0.1', '100.64.1.1', 'fd00::5'])('a wildcard-granted name resolving to %s is refused without a connection', async (address) => {
    const { guard, sent } = offline({ 'internal.example.com': [address] })
    await denied(guard({ url: 'http://internal.example.com/' }, { hosts: ['*.example.com'] }, limits), 'private_address')
    expect(sent).toHaveLength(0)
  })

  test('one private address among public ones is enough to refuse', async () => {
    const { guard, sent } = offline({ 'mixed.example.com': ['93.184.216.34', '10.1.2.3'] })
    await denied(guard({ url: 'https://mixed.example.com/' }, { hosts: ['*.example.com'] }, limits), 'private_address')
    expect(sent).toHaveLength(0)
  })

  test('the request goes to the checked address, with the name in Host and in the TLS server name (no second lookup)', async () => {
    const { guard, sent, lookups } = offline({ 'api.example.com': ['93.184.216.34'] })
    await guard({ url: 'https://api.example.com/v1?q=1', headers: [['Host', 'evil.internal'], ['X-Key', 'k']] }, { hosts: ['api.example.com'] }, limits)
    expect(lookups).toEqual(['api.example.com'])
    expect(sent).toHaveLength(1)
    const [{ url, init }] = sent as [(typeof sent)[0]]
    expect(url).toBe('https://93.184.216.34/v1?q=1')
    const headers = new Headers(init.headers)
    expect(headers.get('host')).toBe('api.example.com')
    expect(headers.get('x-key')).toBe('k')
    expect(init.tls?.serverName).toBe('api.example.com')
    expect(init.tls?.rejectUnauthorized).toBe(true)
    expect(init.proxy).toBe(false)
    expect(init.redirect).toBe('manual')
  })
})

describe('against a local server', () => {
  test('a granted host is reached', async () => {
    const res = await guardedFetch({ url: `${base}/hello`, method: 'POST', headers: [['content-type', 'text/plain']], body: 'hi' }, self, limits)
    expect(res.status).toBe(200)
    expect(res.url).toBe(`${base}/hello`)
    const body = JSON.parse(new TextDecoder().decode(res.body)) as Seen
    expect(body).toMatchObject({ path: '/hello', method: 'POST', body: 'hi' })
    expect(body.headers.host).toBe(`127.0.0.1:${port}`)
    expect(res.headers).toContainEqual(['set-cookie', 'a=1'])
  })

  test('the same server under another name is not granted; 127.0.0.1 needs its exact grant', async () => {
    const before = seen.length
    await denied(guardedFetch({ url: `http://localhost:${port}/` }, self, limits), 'host_not_granted')
    await denied(guardedFetch({ url: `${base}/` }, { hosts: ['127.0.0.1'] }, limits), 'host_not_granted')
    await denied(guardedFetch({ url: `${base}/` }, { hosts: [`localhost:${port}`] }, limits), 'host_not_granted')
    await denied(guardedFetch({ url: `${base}/` }, { hosts: [`127.0.0.1:${port + 1}`] }, limits), 'host_not_granted')
    expect(seen.length).toBe(before)
  })

  test('localhost resolves to loopback: refused through a wildcard, reached when granted as written', async () => {
    const dns = fakeDns({ 'dev.localhost.test': ['127.0.0.1'] })
    await denied(dns({ url: `http://dev.localhost.test:${port}/` }, { hosts: [`*.localhost.test:${port}`] }, limits), 'private_address')
    const viaName = await dns({ url: `http://dev.localhost.test:${port}/named` }, { hosts: [`dev.localhost.test:${port}`] }, limits)
    expect((JSON.parse(new TextDecoder().decode(viaName.body)) as Seen).headers.host).toBe(`dev.localhost.test:${port}`)
    // The system resolver's own localhost:
    const res = await guardedFetch({ url: `http://localhost:${port}/local` }, { hosts: [`localhost:${port}`] }, limits)
    expect(res.status).toBe(200)
  })

  test('a redirect to an ungranted or private URL is refused', async () => {
    const to = (target: string) => `${base}/redirect?to=${encodeURIComponent(target)}`
    await denied(guardedFetch({ url: to(`http://localhost:${port}/`) }, self, limits), 'host_not_granted')
    await denied(guardedFetch({ url: to('http://169.254.169.254/latest/meta-data/') }, self, limits), 'host_not_granted')
    await denied(guardedFetch({ url: to('file:///etc/passwd') }, self, limits), 'bad_url')
    const dns = fakeDns({ 'inner.example.com': ['10.0.0.7'] })
    await denied(
      dns({ url: `http://127.0.0.1:${port}/redirect?to=${encodeURIComponent('http://inner.example.com/')}` }, { hosts: [`127.0.0.1:${port}`, '*.example.com'] }, limits),
      'private_address',
    )
  })

  test('redirects are followed up to maxRedirects, re-checked at every hop', async () => {
    await denied(guardedFetch({ url: `${base}/chain/4` }, self, { ...limits, maxRedirects: 3 }), 'too_many_redirects')
    const res = await guardedFetch({ url: `${base}/chain/3` }, self, { ...limits, maxRedirects: 3 })
    expect(res.status).toBe(200)
    expect(res.url).toBe(`${base}/chain/0`)
    await denied(guardedFetch({ url: `${base}/chain/1` }, self, { ...limits, maxRedirects: 0 }), 'too_many_redirects')
  })

  test('Authorization and Cookie do not follow a redirect to another origin', async () => {
    const grant = { hosts: [`127.0.0.1:${port}`, `127.0.0.1:${other.port}`] }
    const headers: [string, string][] = [['authorization', 'Bearer s3cret'], ['cookie', 'sid=1'], ['x-trace', 't1']]
    const cross = await guardedFetch({ url: `${base}/redirect?to=${encodeURIComponent(`${otherBase}/landing`)}`, headers }, grant, limits)
    const crossSeen = (JSON.parse(new TextDecoder().decode(cross.body)) as Seen).headers
    expect(crossSeen.authorization).toBeUndefined()
    expect(crossSeen.cookie).toBeUndefined()
    expect(crossSeen['x-trace']).toBe('t1')
    const same = await guardedFetch({ url: `${base}/redirect?to=/landing`, headers }, grant, limits)
    expect((JSON.parse(new TextDecoder().decode(same.body)) as Seen).headers.authorization).toBe('Bearer s3cret')
  })

  test('303 turns a POST into a GET without body; 307 repeats it', async () => {
    const post = (status: number) =>
      guardedFetch({ url: `${base}/redirect?status=${status}&to=/target`, method: 'POST', headers: [['content-type', 'text/plain']], body: 'payload' }, self, limits)
    expect(JSON.parse(new TextDecoder().decode((await post(303)).body))).toMatchObject({ method: 'GET', body: '' })
    expect(JSON.parse(new TextDecoder().decode((await post(307)).body))).toMatchObject({ method: 'POST', body: 'payload' })
  })

  test('a streamed body over maxResponseBytes is cut off, and the transfer stops', async () => {
    producedBytes = 0
    await denied(guardedFetch({ url: `${base}/endless` }, self, { ...limits, maxResponseBytes: 256 * 1024 }), 'response_too_large')
    await Bun.sleep(200)
    const after = producedBytes
    await Bun.sleep(200)
    expect(producedBytes).toBe(after)
    expect(after).toBeLessThan(64 << 20)
    await denied(guardedFetch({ url: `${base}/declared-large` }, self, { ...limits, maxResponseBytes: 1 << 20 }), 'response_too_large')
    expect((await guardedFetch({ url: `${base}/declared-large` }, self, { ...limits, maxResponseBytes: 4 << 20 })).body.byteLength).toBe(4 << 20)
  })

  test('a server that never answers times out', async () => {
    await denied(guardedFetch({ url: `${base}/hang` }, self, { ...limits, timeoutMs: 300 }), 'timeout')
  })

  test("the caller's abort signal is honoured with its own reason", async () => {
    const ac = new AbortController()
    const p = guardedFetch({ url: `${base}/hang` }, self, limits, ac.signal)
    setTimeout(() => ac.abort(new Error('plugin stopped')), 50)
    await expect(p).rejects.toThrow('plugin stopped')
  })

  test('the host environment proxy is not used', async () => {
    // Bun reads HTTP_PROXY at request time: a plain fetch here would go through this proxy.
    let proxied = 0
    const proxy = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => (proxied++, new Response('via proxy')) })
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, http_proxy: process.env.http_proxy, NO_PROXY: process.env.NO_PROXY, no_proxy: process.env.no_proxy }
    process.env.HTTP_PROXY = process.env.http_proxy = `http://127.0.0.1:${proxy.port}`
    delete process.env.NO_PROXY
    delete process.env.no_proxy
    try {
      const res = await guardedFetch({ url: `${base}/direct` }, self, limits)
      expect(JSON.parse(new TextDecoder().decode(res.body))).toMatchObject({ path: '/direct' })
      expect(proxied).toBe(0)
    } finally {
      proxy.stop(true)
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
  })
})

// ---- https: the pinned connection still sends SNI for the name and verifies the certificate against it ----

const openssl = Bun.which('openssl')
describe.skipIf(!openssl)('https with a pinned address', () => {
  let dir: string
  let tlsServer: ReturnType<typeof Bun.serve>
  const certs: string[] = []

  async function selfSigned(name: string): Promise<{ cert: string; key: string }> {
    const [key, cert] = [join(dir, `${name}.key`), join(dir, `${name}.pem`)]
    const gen = Bun.spawnSync([openssl as string, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`, '-keyout', key, '-out', cert])
    expect(gen.exitCode).toBe(0)
    return { cert: await Bun.file(cert).text(), key: await Bun.file(key).text() }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'net-guard-'))
    const a = await selfSigned('a.example.test')
    const b = await selfSigned('b.example.test')
    certs.push(a.cert, b.cert)
    // The server picks the certificate by SNI: a client that sent none, or the address, would get the wrong one for one of the names.
    tlsServer = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      tls: [{ ...a, serverName: 'a.example.test' }, { ...b, serverName: 'b.example.test' }],
      fetch: (req) => new Response(`tls ok ${req.headers.get('host')}`),
    })
  })
  afterAll(() => {
    tlsServer?.stop(true)
    rmSync(dir, { recursive: true, force: true })
  })

  const guard = () => createGuardedFetch({ ca: certs, lookup: async () => [{ address: '127.0.0.1', family: 4 }] })

  test.each(['a.example.test', 'b.example.test'])('%s: SNI selects its certificate, which verifies against the name', async (name) => {
    const p = tlsServer.port
    const res = await guard()({ url: `https://${name}:${p}/` }, { hosts: [`${name}:${p}`] }, limits)
    expect(new TextDecoder().decode(res.body)).toBe(`tls ok ${name}:${p}`)
  })

  test('a name no certificate covers fails verification', async () => {
    const p = tlsServer.port
    const err = await guard()({ url: `https://c.example.test:${p}/` }, { hosts: [`c.example.test:${p}`] }, limits).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    expect(err).not.toBeInstanceOf(NetDenied)
    expect(String((err as { code?: string }).code)).toMatch(/CERT|ALTNAME|SELF_SIGNED/i)
  })
})
