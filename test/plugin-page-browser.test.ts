/**
 * A plugin's HTML page in Chromium, opened by a signed-in super-admin: the page's script tries everything a hostile
 * plugin would (read the session cookies and storage, refresh the session, call the internal API with the browser's
 * credentials, plant a cookie) and gets nothing. The page runs in an opaque origin (`Content-Security-Policy:
 * sandbox`), the session cookies are SameSite=Strict, and the dashboard's session is untouched afterwards.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDashboard, type Dashboard } from './dashboard-fixture.ts'
import { killLeftovers } from './server-process.ts'

const dir = mkdtempSync(join(tmpdir(), 'enclava-plugin-page-'))
mkdirSync(join(dir, 'pagey', 'src'), { recursive: true })
writeFileSync(
  join(dir, 'pagey', 'plugin.json'),
  JSON.stringify({ name: 'pagey', version: '1.0.0', routes: [{ method: 'GET', path: '/page', auth: 'public' }] }),
)
// Everything the page learns ends up in #out, where the test reads it.
const SCRIPT = `
(async () => {
  const out = { origin: self.origin }
  const attempt = async (name, fn) => { try { out[name] = await fn() } catch (e) { out[name] = 'refused: ' + e.name } }
  await attempt('cookie', () => document.cookie)
  await attempt('localStorage', () => Object.keys(localStorage).join(','))
  await attempt('sessionStorage', () => Object.keys(sessionStorage).join(','))
  await attempt('refresh', async () => {
    const r = await fetch('/api-internal/v1/auth/refresh', { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json', 'x-csrf-token': 'guess' }, body: '{}' })
    return r.status + ' ' + (await r.text())
  })
  await attempt('me', async () => { const r = await fetch('/api-internal/v1/auth/me', { credentials: 'include' }); return r.status + ' ' + (await r.text()) })
  await attempt('plant', () => { document.cookie = 'enclava_refresh=planted; path=/'; return document.cookie })
  document.getElementById('out').textContent = JSON.stringify(out)
})()
`
writeFileSync(
  join(dir, 'pagey', 'src', 'index.ts'),
  `import { BasePlugin } from 'enclava:plugin'
export default class Pagey extends BasePlugin {
  override routes = {
    'GET /page': () =>
      new Response(${JSON.stringify(`<!doctype html><title>plugin page</title><pre id="out">running</pre><script>${SCRIPT}</script>`)}, {
        headers: { 'content-type': 'text/html; charset=utf-8', 'set-cookie': 'enclava_csrf=planted-by-plugin; Path=/' },
      }),
  }
}
`,
)

let d: Dashboard

afterAll(killLeftovers)
beforeAll(async () => {
  d = await startDashboard({ PLUGINS_DIRS: dir })
  const token = await d.adminToken()
  const enabled = await d.call('POST', '/api-internal/v1/plugin-admin/plugins/pagey/enable', { token, body: {} })
  if (enabled.status !== 200) throw new Error(`enable failed: ${JSON.stringify(enabled.body)}`)
})
afterAll(async () => {
  await d?.close()
  rmSync(dir, { recursive: true, force: true })
})

test("a signed-in admin opens a plugin's page: it can neither read nor use the session", async () => {
  // The page's own refused requests show in the console; they are the point of this test.
  const { page, context } = await d.page({ expected: () => true })
  await d.signIn(page)
  const cookiesBefore = await context.cookies()
  expect(cookiesBefore.map((c) => c.name).sort()).toEqual(['enclava_csrf', 'enclava_refresh'])

  const response = await page.goto(`${d.base}/api/v1/plugins/pagey/page`)
  expect(response?.headers()['content-security-policy']).toMatch(/^sandbox /)
  expect(response?.headers()['set-cookie']).toBeUndefined()
  await page.waitForFunction("document.getElementById('out').textContent !== 'running'")
  const seen = JSON.parse((await page.textContent('#out')) ?? '{}') as Record<string, string>

  // An opaque origin: no cookies, no storage of the dashboard's.
  expect(seen.origin).toBe('null')
  expect(seen.cookie).toStartWith('refused')
  expect(seen.localStorage).toStartWith('refused')
  expect(seen.sessionStorage).toStartWith('refused')
  expect(seen.plant).toStartWith('refused')
  // Requests go out cross-origin without the session cookies (SameSite=Strict), and their answers are unreadable.
  expect(seen.refresh).toStartWith('refused')
  expect(seen.me).toStartWith('refused')
  expect(JSON.stringify(seen)).not.toContain('access_token')

  // Nothing was planted or rotated: the dashboard's session is the one it had, and it still works.
  const cookiesAfter = await context.cookies()
  expect(cookiesAfter).toEqual(cookiesBefore)
  await page.goto(`${d.base}/`)
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
  await d.screenshot(page, 'plugin-page-sandboxed')
})
