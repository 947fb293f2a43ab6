/**
 * The administration pages in Chromium against a real server process: platform settings (saved, a bad value shown
 * beside its field, the restart-only list), modules (a disabled module's section leaves the navigation and its routes
 * answer 503; enabled, it comes back), custom roles (created with chosen permissions, deleted with its users moved to
 * read only), platform-wide notifications (a webhook to a local receiver, its secret shown once, a test delivered and
 * one failing, both in the delivery log), retention (a run and what it deleted), a user's inbox and own channels, and
 * their data export and account deletion. Every page at 390×844 without horizontal scrolling.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Page } from 'playwright-core'
import { ADMIN_EMAIL, startDashboard, type Dashboard } from './dashboard-fixture.ts'
import { join } from 'node:path'
import { killLeftovers, ROOT } from './server-process.ts'

let d: Dashboard
let receiver: ReturnType<typeof Bun.serve>
const received: { path: string; signature: string | null; body: string }[] = []

afterAll(killLeftovers)
beforeAll(async () => {
  receiver = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const path = new URL(req.url).pathname
      received.push({ path, signature: req.headers.get('x-enclava-signature'), body: await req.text() })
      return new Response(path === '/broken' ? 'down for maintenance' : 'ok', { status: path === '/broken' ? 500 : 200 })
    },
  })
  // The shipped plugins, for the execute panel (hello has an execute).
  d = await startDashboard({ PLUGINS_DIRS: join(ROOT, 'plugins') })
}, 120_000)
afterAll(async () => {
  await d?.close()
  receiver?.stop(true)
})

/** A console error the page caused on purpose (a refused save, a refused channel) is expected; nothing else is. */
const expected400 = (m: { text(): string }) => /status of (400|503)/.test(m.text())

async function openSection(page: Page, name: string, heading = name) {
  const toggle = page.getByRole('button', { name: 'Menu' })
  if (await toggle.isVisible()) await toggle.click()
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name, exact: true }).click()
  await page.getByRole('heading', { name: heading, level: 1 }).waitFor()
}

async function noOverflow(page: Page, where: string) {
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
  if (overflow > 0) {
    const wide = await page.evaluate<string[]>(`[...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 40).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`)
    expect({ where, wide }).toEqual({ where, wide: [] })
  }
  expect({ where, overflow: Math.max(0, overflow) }).toEqual({ where, overflow: 0 })
}

describe('platform administration', () => {
  test('settings: saved on the server; a bad value is shown beside its field; restart-only settings listed', async () => {
    const admin = await d.adminToken()
    const { page, context, errors } = await d.page({ expected: expected400 })
    try {
      await d.signIn(page)
      await openSection(page, 'Platform')
      const form = page.getByTestId('platform-settings')
      await form.waitFor()
      await page.getByLabel('Requests per minute per user (dashboard)').fill('4321')
      await page.getByLabel('Anyone may create an account').check()
      await page.getByRole('button', { name: 'Save settings' }).click()
      await page.getByText('Settings saved').waitFor()
      const saved = await d.call('GET', '/api-internal/v1/settings', { token: admin })
      expect(saved.body.settings).toMatchObject({ rate_limit_internal_per_minute: 4321, allow_registration: true })

      await page.getByLabel('Failed sign-ins before a lockout').fill('0')
      await page.getByRole('button', { name: 'Save settings' }).click()
      const fieldError = page.locator('#set-lockout_threshold-error')
      await fieldError.waitFor()
      expect(await fieldError.textContent()).toContain('Failed sign-ins before a lockout')
      expect(await page.getByLabel('Failed sign-ins before a lockout').getAttribute('aria-invalid')).toBe('true')
      await page.getByLabel('Failed sign-ins before a lockout').fill('6')
      await page.getByRole('button', { name: 'Save settings' }).click()
      await fieldError.waitFor({ state: 'detached' })
      for (let i = 0; i < 50 && (await d.call('GET', '/api-internal/v1/settings', { token: admin })).body.settings.lockout_threshold !== 6; i++) await Bun.sleep(100)
      expect((await d.call('GET', '/api-internal/v1/settings', { token: admin })).body.settings.lockout_threshold).toBe(6)
      // Selects show the value in force (DLP_MODE's default, redact), not their first option.
      expect(await page.getByLabel('Data-loss prevention (requests leaving the TEE)').inputValue()).toBe('redact')

      await page.getByText(/Settings that need a restart/).click()
      expect(await page.getByTestId('restart-required').textContent()).toContain('DATABASE_URL')
      await d.screenshot(page, 'admin-settings')
      expect(errors.list).toEqual([])
      // Put things back for the rest of the file.
      await d.call('PATCH', '/api-internal/v1/settings', { token: admin, body: { rate_limit_internal_per_minute: 5000, allow_registration: false, lockout_threshold: 5 } })
    } finally {
      await context.close()
    }
  }, 60_000)

  test('modules: a disabled module leaves the navigation and answers 503; enabled again, it is back', async () => {
    const admin = await d.adminToken()
    const { page, context, errors } = await d.page({ expected: expected400 })
    try {
      await d.signIn(page)
      const nav = page.getByRole('navigation', { name: 'Sections' })
      await nav.getByRole('link', { name: 'Chatbots', exact: true }).waitFor()
      await page.goto(`${d.base}/admin/modules`)
      const card = page.getByTestId('module-chatbots')
      await card.getByText('Enabled').waitFor()
      await card.getByRole('button', { name: 'Disable Chatbots' }).click()
      const dialog = page.getByRole('dialog')
      await dialog.getByLabel('Reason (optional, shown to administrators)').fill('migrating')
      await dialog.getByRole('button', { name: 'Disable' }).click()
      await card.getByText('Disabled', { exact: true }).waitFor()
      await card.getByText(/migrating/).waitFor()
      await nav.getByRole('link', { name: 'Chatbots', exact: true }).waitFor({ state: 'detached' })
      expect((await d.call('GET', '/api-internal/v1/chatbots', { token: admin })).body.error.code).toBe('module_disabled')
      // Documents' card shows its background work and stats.
      expect(await page.getByTestId('module-rag').textContent()).toContain('document indexing queue (running on this replica)')
      await d.screenshot(page, 'admin-modules')
      await card.getByRole('button', { name: 'Enable Chatbots' }).click()
      await card.getByText('Enabled', { exact: true }).waitFor()
      await nav.getByRole('link', { name: 'Chatbots', exact: true }).waitFor()
      expect((await d.call('GET', '/api-internal/v1/chatbots', { token: admin })).status).toBe(200)
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  }, 60_000)

  test('roles: a custom role with chosen permissions; deleting it moves its users to read only', async () => {
    const admin = await d.adminToken()
    const member = await d.user()
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/admin/roles`)
      await page.getByTestId('roles').getByText('super_admin').waitFor()
      await page.getByRole('button', { name: 'New role' }).click()
      const form = page.getByTestId('role-form')
      await form.getByLabel('Name').fill('auditor')
      await form.getByLabel('Description').fill('Reads the audit log')
      await form.getByText('audit:read', { exact: true }).click()
      await form.getByRole('button', { name: 'Create role' }).click()
      const row = page.getByTestId('roles').getByRole('row').filter({ hasText: 'auditor' })
      await row.getByText('Reads the audit log').waitFor()
      const role = await d.call('GET', '/api-internal/v1/roles/auditor', { token: admin })
      expect(role.body.permissions.sort()).toEqual(['audit:read', 'profile:read'])
      const users = await d.call('GET', `/api-internal/v1/users?q=${member.username}`, { token: admin })
      const id = users.body.data[0].id
      expect((await d.call('PATCH', `/api-internal/v1/users/${id}`, { token: admin, body: { role: 'auditor' } })).status).toBe(200)
      await page.reload()
      await row.getByRole('cell', { name: '1', exact: true }).waitFor()
      await d.screenshot(page, 'admin-roles')
      await row.getByRole('button', { name: 'Delete auditor' }).click()
      const dialog = page.getByRole('dialog')
      expect(await dialog.textContent()).toContain('1 user will fall back to read only')
      await dialog.getByRole('button', { name: 'Delete' }).click()
      await row.waitFor({ state: 'detached' })
      expect((await d.call('GET', `/api-internal/v1/users/${id}`, { token: admin })).body.role).toBe('read_only')
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  }, 60_000)

  test('notifications: a webhook channel, its secret once, a test delivered and a failing one, both in the delivery log', async () => {
    const { page, context, errors } = await d.page({ expected: expected400 })
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/admin/notifications`)
      const channels = page.getByTestId('channels-admin')
      await channels.getByRole('button', { name: 'Add channel' }).click()
      const form = page.getByTestId('new-channel')
      await form.getByLabel('Name').fill('ops hook')
      await form.getByLabel('URL').fill(`http://127.0.0.1:${receiver.port}/hook`)
      await form.getByRole('checkbox', { name: /^Provider down/ }).check()
      await form.getByRole('button', { name: 'Add channel' }).click()
      const secret = page.getByTestId('channel-secret')
      await secret.waitFor()
      expect(await secret.textContent()).toContain('whsec_')
      await secret.getByRole('button', { name: 'Done' }).click()
      await channels.getByRole('button', { name: 'Send a test to ops hook' }).click()
      await page.getByText('Test delivered to ops hook').waitFor()
      expect(received.some((r) => r.path === '/hook' && /^t=\d+,v1=[0-9a-f]{64}$/.test(r.signature ?? ''))).toBe(true)

      await channels.getByRole('button', { name: 'Add channel' }).click()
      await form.getByLabel('Name').fill('broken hook')
      await form.getByLabel('URL').fill(`http://127.0.0.1:${receiver.port}/broken`)
      await form.getByRole('checkbox', { name: /^Security event/ }).check()
      await form.getByRole('button', { name: 'Add channel' }).click()
      await secret.getByRole('button', { name: 'Done' }).click()
      await channels.getByRole('button', { name: 'Send a test to broken hook' }).click()
      await page.getByText(/Test to broken hook failed/).waitFor()

      const log = page.getByTestId('deliveries-admin')
      await log.getByRole('row').filter({ hasText: 'ops hook' }).getByText('delivered').waitFor()
      const failed = log.getByRole('row').filter({ hasText: 'broken hook' })
      await failed.getByText('failed').waitFor()
      expect(await failed.textContent()).toContain('answered 500')
      await d.screenshot(page, 'admin-notifications')
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  }, 60_000)

  test('retention: a run on demand and what it deleted; a user’s export found by email', async () => {
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/admin/retention`)
      await page.getByTestId('retention').waitFor()
      await page.getByRole('button', { name: 'Run now' }).click()
      await page.getByTestId('retention-deleted').getByText('Usage records').waitFor()
      await page.getByLabel('Find a user').fill('admin')
      await page.getByRole('button', { name: 'Find', exact: true }).click()
      const download = page.waitForEvent('download')
      await page.getByRole('button', { name: /^Export admin/ }).click()
      const file = await download
      expect(file.suggestedFilename()).toMatch(/^enclava-export-admin-.*\.json$/)
      await d.screenshot(page, 'admin-retention')
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  }, 60_000)
})

describe('plugins', () => {
  test('an enabled plugin’s execute runs from its page, with a JSON input', async () => {
    const admin = await d.adminToken()
    expect((await d.call('POST', '/api-internal/v1/plugin-admin/plugins/hello/enable', { token: admin, body: {} })).status).toBe(200)
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/plugins/hello`)
      const panel = page.getByTestId('plugin-execute')
      await panel.getByLabel('Input (JSON)').fill('{"name": "Ada"}')
      await panel.getByRole('button', { name: 'Run' }).click()
      await panel.getByTestId('execute-result').waitFor()
      expect(await panel.getByTestId('execute-result').textContent()).toContain('"message": "Hello, Ada!"')
      await panel.getByLabel('Input (JSON)').fill('{"name": ')
      await panel.getByRole('button', { name: 'Run' }).click()
      await page.locator('#execute-input-error').waitFor()
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  }, 60_000)
})

describe('a user', () => {
  test('inbox with a failed document, own channels refusing a private address; data export and account deletion', async () => {
    const user = await d.user()
    const login = await d.call('POST', '/api-internal/v1/auth/login', { body: { email: user.email, password: user.password } })
    const token = login.body.access_token as string
    const coll = await d.call('POST', '/api-internal/v1/rag/collections', { token, body: { name: 'broken' } })
    const form = new FormData()
    form.append('files', new File(['this is not a pdf at all'], 'broken.pdf', { type: 'application/pdf' }))
    const uploaded = await fetch(`${d.base}/api-internal/v1/rag/collections/${coll.body.id}/documents`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    expect(uploaded.status).toBe(202)
    expect(((await uploaded.json()) as { accepted: unknown[] }).accepted).toHaveLength(1)
    for (let i = 0; i < 100; i++) {
      const docs = await d.call('GET', `/api-internal/v1/rag/collections/${coll.body.id}/documents`, { token })
      if (docs.body.data[0]?.status === 'failed') break
      await Bun.sleep(100)
    }

    const { page, context, errors } = await d.page({ expected: expected400 })
    try {
      await d.signIn(page, user.email, user.password)
      // No platform administration for a user.
      expect(await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Platform' }).count()).toBe(0)
      await openSection(page, 'Notifications')
      const inbox = page.getByTestId('inbox')
      await inbox.getByText('broken.pdf could not be indexed').waitFor({ timeout: 20_000 })
      await inbox.getByText('1 unread').waitFor()
      await inbox.getByRole('button', { name: 'Mark all read' }).click()
      await inbox.getByText('1 unread').waitFor({ state: 'detached' })
      await page.getByTestId('subscriptions').getByText('Document failed').waitFor()
      await d.screenshot(page, 'notifications-inbox')

      await page.getByRole('tab', { name: 'Channels' }).click()
      const channels = page.getByTestId('channels-user')
      await channels.getByRole('button', { name: 'Add channel' }).click()
      const form = page.getByTestId('new-channel')
      await form.getByLabel('Name').fill('mine')
      await form.getByLabel('URL').fill(`http://127.0.0.1:${receiver.port}/hook`)
      await form.getByRole('checkbox', { name: /^API key expiring/ }).check()
      await form.getByRole('button', { name: 'Add channel' }).click()
      const urlError = page.locator('#ch-target-user-error')
      await urlError.waitFor()
      expect(await urlError.textContent()).toContain('private or loopback')

      await page.goto(`${d.base}/admin`)
      await page.getByTestId('no-permission').first().waitFor()

      await page.goto(`${d.base}/settings`)
      const data = page.getByTestId('your-data')
      const download = page.waitForEvent('download')
      await data.getByRole('button', { name: 'Download my data' }).click()
      const file = await download
      const path = await file.path()
      const exported = JSON.parse(await Bun.file(path).text())
      expect(exported.user.email).toBe(user.email)
      expect(exported.collections[0].documents[0].filename).toBe('broken.pdf')

      await data.getByLabel('Your password').fill(user.password)
      await data.getByLabel(/Type “delete my account”/).fill('no')
      await data.getByRole('button', { name: 'Delete my account' }).click()
      await page.locator('#delete-confirm-error').waitFor()
      await data.getByLabel(/Type “delete my account”/).fill('delete my account')
      await data.getByRole('button', { name: 'Delete my account' }).click()
      await page.waitForURL(/\/sign-in/)
      expect((await d.call('POST', '/api-internal/v1/auth/login', { body: { email: user.email, password: user.password } })).status).toBe(401)
      expect(errors.list.filter((e) => !e.includes('401'))).toEqual([])
    } finally {
      await context.close()
    }
  }, 90_000)

  test('at 390×844 no page scrolls sideways', async () => {
    const { page, context, errors } = await d.page({ width: 390, height: 844 })
    try {
      await d.signIn(page, ADMIN_EMAIL)
      for (const [path, ready] of [
        ['/admin/settings', 'platform-settings'],
        ['/admin/modules', 'modules'],
        ['/admin/roles', 'roles'],
        ['/admin/notifications', 'deliveries-admin'],
        ['/admin/retention', 'retention'],
        ['/notifications', 'inbox'],
        ['/notifications/channels', 'channels-user'],
        ['/settings', 'your-data'],
      ] as const) {
        await page.goto(`${d.base}${path}`)
        await page.getByTestId(ready).first().waitFor()
        await noOverflow(page, path)
      }
      await d.screenshot(page, 'admin-mobile')
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  }, 90_000)
})
