/** The dashboard's static serving: files, history fallback, cache and security headers, API paths left alone. */
import { afterAll, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
