/** The dashboard's static serving: files, history fallback, cache and security headers, API paths left alone. */
import { afterAll, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { Elysia } from 'elysia'
import { httpBasics } from '../http/plugin.ts'
import { createLogger } from '../log.ts'
import { dashboardRoutes } from './dashboard.ts'

const dist = mkdtempSync(join(tmpdir(), 'enclava-dist-'))
mkdirSync(join(dist, 'assets'))
writeFileSync(join(dist, 'index.html'), '<!doctype html><title>Enclava</title>')
writeFileSync(join(dist, 'assets', 'app-abc123.js'), 'console.log(1)')
writeFileSync(join(dist, 'favicon.svg'), '<svg/>')
afterAll(() => rmSync(dist, { recursive: true, force: true }))

const app = new Elysia({ normalize: false }).use(httpBasics(createLogger('silent'))).use(dashboardRoutes(dist))
const get = (path: string) => app.handle(new Request(`http://localhost${path}`))

test('index.html at / and for every client-side route, with a strict CSP and no framing', async () => {
  for (const path of ['/', '/chatbots/123', '/settings?tab=x']) {
    const res = await get(path)
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('<title>Enclava</title>')
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('cache-control')).toBe('no-cache')
  }
})

test('hashed assets are cached for a year; other files revalidate', async () => {
  const js = await get('/assets/app-abc123.js')
  expect(await js.text()).toBe('console.log(1)')
  expect(js.headers.get('cache-control')).toContain('immutable')
  expect((await get('/favicon.svg')).headers.get('cache-control')).toBe('no-cache')
})

test('no way out of the folder, and API paths keep their JSON 404', async () => {
  const escape = await get('/..%2F..%2F..%2Fetc%2Fpasswd')
  expect(await escape.text()).toContain('<title>Enclava</title>')
  for (const path of ['/api/v1/nope', '/api-internal/v1/nope', '/health/nope']) {
    const res = await get(path)
    expect(res.status).toBe(404)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found')
  }
})

test('precompressed copies go to clients that accept them, with the original type; others get the file as it is', async () => {
  const { precompress } = await import('../../web/precompress.ts')
  const dir = mkdtempSync(join(tmpdir(), 'enclava-dist-'))
  try {
    mkdirSync(join(dir, 'assets'))
    const script = `export const rows = ${JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ id: i, label: `row ${i}` })))}\n`
    writeFileSync(join(dir, 'index.html'), `<!doctype html><title>Enclava</title>${'<p>filler</p>'.repeat(200)}`)
    writeFileSync(join(dir, 'assets', 'big-1.js'), script)
    writeFileSync(join(dir, 'assets', 'tiny-1.js'), 'x')
    const made = precompress(dir)
    expect(made.files).toBe(2)
    expect(made.brotli).toBeLessThan(made.bytes / 4)
    const served = new Elysia({ normalize: false }).use(httpBasics(createLogger('silent'))).use(dashboardRoutes(dir))
    const fetchWith = (path: string, encoding?: string) =>
      served.handle(new Request(`http://localhost${path}`, encoding === undefined ? {} : { headers: { 'accept-encoding': encoding } }))

    const br = await fetchWith('/assets/big-1.js', 'gzip, deflate, br, zstd')
    expect(br.headers.get('content-encoding')).toBe('br')
    expect(br.headers.get('content-type')).toContain('javascript')
    expect(br.headers.get('vary')).toBe('Accept-Encoding')
    expect(br.headers.get('cache-control')).toContain('immutable')
    expect(Buffer.from(brotliDecompressSync(Buffer.from(await br.arrayBuffer()))).toString()).toBe(script)

    const gz = await fetchWith('/assets/big-1.js', 'gzip;q=1, br;q=0')
    expect(gz.headers.get('content-encoding')).toBe('gzip')
    expect(Buffer.from(gunzipSync(Buffer.from(await gz.arrayBuffer()))).toString()).toBe(script)

    for (const encoding of [undefined, 'identity', 'br;q=0, gzip;q=0']) {
      const plain = await fetchWith('/assets/big-1.js', encoding)
      expect(plain.headers.get('content-encoding')).toBeNull()
      expect(await plain.text()).toBe(script)
    }
    // Too small to gain: no copy, sent as it is.
    expect((await fetchWith('/assets/tiny-1.js', 'br')).headers.get('content-encoding')).toBeNull()
    // The page itself, at every client-side route, keeps its security headers.
    const page = await fetchWith('/chatbots/1', 'br')
    expect(page.headers.get('content-encoding')).toBe('br')
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'")
    // The copies are never addressed themselves.
    expect(await (await fetchWith('/assets/big-1.js.br')).text()).toContain('<title>Enclava</title>')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
