/**
 * The admin pages in Chromium against a real platform: Users (create, change role, deactivate with confirmation),
 * the Audit log (events, filter, detail, CSV and JSON export), Settings (own sessions, password change, theme), the
 * no-permission states a normal user sees, and each page at 375 px.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import type { ConsoleMessage, Page } from 'playwright-core'
import { startDashboard, type Dashboard } from './dashboard-fixture.ts'
import { killLeftovers } from './server-process.ts'

let d: Dashboard
afterAll(killLeftovers)
beforeAll(async () => {
  d = await startDashboard()
})
afterAll(async () => {
  await d?.close()
})

const AUTH = '/api-internal/v1/auth'


async function noOverflow(page: Page) {
  expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(0)
}

/** Saves the download a click starts and returns its text. */
async function downloadText(page: Page, button: string): Promise<{ name: string; text: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: button }).click()])
  const path = await download.path()
  return { name: download.suggestedFilename(), text: readFileSync(path, 'utf8') }
}

describe('admin pages', () => {
  test('users: create, change the role, deactivate (confirmed); audit log shows, filters, opens and exports the events', async () => {
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      const email = `casey${Date.now().toString(36)}@test.local`
      const username = `casey${Date.now().toString(36)}`

      await page.goto(`${d.base}/users`)
      await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
      await page.getByRole('heading', { name: 'Roles and what each may do' }).waitFor()
      await page.getByRole('button', { name: 'New user' }).click()
      const form = page.getByRole('form', { name: 'New user' })
      await form.getByLabel('Email').fill(email)
      await form.getByLabel('Username').fill(username)
      await form.getByLabel('Role').selectOption({ label: 'user' })
      expect(await form.getByLabel('Must change the password at first sign-in').isChecked()).toBe(true)
      await d.screenshot(page, 'users-create')
      await form.getByRole('button', { name: 'Create user' }).click()
      const temporary = (await page.getByTestId('temporary-password').textContent()) ?? ''
      expect(temporary.length).toBeGreaterThanOrEqual(12)
      await page.getByRole('cell', { name: email }).waitFor()
      await d.screenshot(page, 'users-created')

      // The user really exists, as asked, and can sign in with the password shown once.
      const admin = await d.adminToken()
      const found = await d.call('GET', `/api-internal/v1/users?q=${encodeURIComponent(email)}`, { token: admin })
      expect(found.body.data).toHaveLength(1)
      expect(found.body.data[0]).toMatchObject({ email, username, role: 'user', is_active: true, force_password_change: true })
      const createdUserId = found.body.data[0].id as string
      expect((await d.call('POST', `${AUTH}/login`, { body: { email, password: temporary } })).status).toBe(200)

      // Role change on the user's page.
      await page.getByRole('table', { name: 'Users' }).getByRole('link', { name: email }).click()
      await page.getByRole('heading', { name: email, level: 1 }).waitFor()
      await page.getByLabel('Role', { exact: true }).selectOption({ label: 'admin' })
      await page.getByRole('button', { name: 'Save changes' }).click()
      await page.getByText('Changes saved.').waitFor()
      expect((await d.call('GET', `/api-internal/v1/users/${createdUserId}`, { token: admin })).body.role).toBe('admin')

      // Deactivation asks first; cancelling changes nothing.
      await page.getByRole('button', { name: 'Deactivate' }).click()
      const dialog = page.getByRole('dialog')
      await dialog.getByText('They are signed out at once').waitFor()
      await d.screenshot(page, 'users-deactivate-confirm')
      await dialog.getByRole('button', { name: 'Cancel' }).click()
      await dialog.waitFor({ state: 'hidden' })
      expect((await d.call('GET', `/api-internal/v1/users/${createdUserId}`, { token: admin })).body.is_active).toBe(true)
      await page.getByRole('button', { name: 'Deactivate' }).click()
      await dialog.getByRole('button', { name: 'Deactivate' }).click()
      await page.getByTestId('user-status').getByText('inactive').waitFor()
      await page.getByRole('button', { name: 'Activate' }).waitFor()
      await d.screenshot(page, 'users-detail-inactive')
      const refused = await d.call('POST', `${AUTH}/login`, { body: { email, password: temporary } })
      expect(refused.status).toBe(403)
      expect(refused.body.error.code).toBe('account_disabled')

      // The audit log has the three events about this user.
      await page.getByRole('link', { name: 'Audit events about this user' }).click()
      await page.waitForURL(/\/audit-log\?.*resource_id=/)
      const table = page.getByRole('table', { name: 'Audit events' })
      for (const action of ['user.create', 'user.role_change', 'user.deactivate']) await table.getByRole('cell', { name: action, exact: true }).waitFor()
      expect(await table.getByRole('row').count()).toBe(4)
      // Rows name the resource (the user's email, linked to the user's page), not a cut id.
      const userLink = table.getByRole('link', { name: email }).first()
      await userLink.waitFor()
      expect(await userLink.getAttribute('href')).toBe(`/users/${createdUserId}`)
      expect(await table.getByText(`${createdUserId.slice(0, 8)}…`).count()).toBe(0)
      await d.screenshot(page, 'audit-log-user')

      // Filter by action, from the unfiltered list.
      await page.getByRole('button', { name: 'Clear filters' }).click()
      await page.waitForURL(`${d.base}/audit-log`)
      await table.getByRole('cell', { name: 'auth.login', exact: true }).first().waitFor()
      await page.getByLabel('Action', { exact: true }).selectOption('user.role_change')
      await page.getByRole('button', { name: 'Apply filters' }).click()
      await page.waitForURL(/action=user.role_change/)
      await page.getByTestId('audit-count').getByText('Showing 1 of 1 events').waitFor()
      expect(await table.getByRole('cell', { name: 'user.role_change', exact: true }).count()).toBe(1)
      expect(await table.getByRole('cell', { name: 'auth.login', exact: true }).count()).toBe(0)
      await d.screenshot(page, 'audit-log-filtered')

      // Export what the filter shows, as CSV and JSON.
      const csv = await downloadText(page, 'Export CSV')
      expect(csv.name).toMatch(/^audit-log-.+\.csv$/)
      const lines = csv.text.trimEnd().split('\r\n')
      expect(lines[0]).toStartWith('id,created_at,actor_user_id,actor_email')
      expect(lines).toHaveLength(2)
      expect(lines[1]).toContain(',user.role_change,user,')
      expect(lines[1]).toContain(createdUserId)
      const json = await downloadText(page, 'Export JSON')
      expect(json.name).toMatch(/^audit-log-.+\.json$/)
      const exported = JSON.parse(json.text)
      expect(exported.filters).toEqual({ action: 'user.role_change' })
      expect(exported.data).toHaveLength(1)
      expect(exported.data[0]).toMatchObject({ action: 'user.role_change', resource_id: createdUserId, details: { from: 'user', to: 'admin' } })

      // The event's detail: its details as formatted JSON; back keeps the filter.
      await page.getByRole('link', { name: /^Details of user\.role_change/ }).click()
      await page.getByRole('heading', { name: 'Audit event' }).waitFor()
      const details = page.getByTestId('event-details')
      expect(JSON.parse((await details.textContent()) ?? '')).toEqual({ from: 'user', to: 'admin' })
      expect(await details.textContent()).toContain('\n  "from": "user"')
      await page.getByTestId('event-resource').getByRole('link', { name: email }).waitFor()
      await page.getByTestId('event-resource').getByText(createdUserId).waitFor()
      // What changed, before and after.
      const changed = page.getByTestId('event-changes').getByRole('row').filter({ hasText: 'role' })
      expect((await changed.allTextContents()).join(' ')).toMatch(/role\s*user\s*admin/)
      await d.screenshot(page, 'audit-log-event')
      await page.getByRole('link', { name: 'All events' }).click()
      await page.waitForURL(/\/audit-log\?action=user.role_change$/)
      await page.getByTestId('audit-count').getByText('Showing 1 of 1 events').waitFor()

      // The exports are audited too.
      const audited = await d.call('GET', '/api-internal/v1/audit?action=audit.export', { token: admin })
      expect(audited.body.total).toBe(2)
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test("roles say what sets each apart, and one's own account does not send one round in circles", async () => {
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/users`)
      const roles = page.getByRole('heading', { name: 'Roles and what each may do' }).locator('xpath=..')
      // admin and super admin hold the same permissions: the summary says what differs instead of two equal counts.
      await roles.getByText(/super admin\s*— everything admin may do, and manages administrators and other super admins/).waitFor()
      await roles.getByText(/admin\s*— \d+ permissions, \d+ more than user/).waitFor()
      // Settings and one's own user page both point to another administrator for email, username and role.
      await page.goto(`${d.base}/settings`)
      await page.getByText(/Another administrator changes your email, username or role/).waitFor()
      const me = (await d.call('GET', '/api-internal/v1/auth/me', { token: await d.adminToken() })).body.id as string
      await page.goto(`${d.base}/users/${me}`)
      await page.getByText(/This is you\. Nobody changes their own email, username, role or status: another administrator does/).waitFor()
      expect(await page.getByText('Change your own account under Settings').count()).toBe(0)
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('users: reset password and delete, each confirmed', async () => {
    const u = await d.user()
    const admin = await d.adminToken()
    const id = (await d.call('GET', `/api-internal/v1/users?q=${encodeURIComponent(u.email)}`, { token: admin })).body.data[0].id as string
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/users/${id}`)
      await page.getByRole('heading', { name: u.email, level: 1 }).waitFor()
      const dialog = page.getByRole('dialog')
      await page.getByRole('button', { name: 'Reset password' }).click()
      await dialog.getByRole('button', { name: 'Reset password' }).click()
      const temporary = (await page.getByTestId('temporary-password').textContent()) ?? ''
      await d.screenshot(page, 'users-password-reset')
      expect((await d.call('POST', `${AUTH}/login`, { body: { email: u.email, password: u.password } })).status).toBe(401)
      const signedIn = await d.call('POST', `${AUTH}/login`, { body: { email: u.email, password: temporary } })
      expect(signedIn.status).toBe(200)
      expect(signedIn.body.user.force_password_change).toBe(true)

      await page.getByRole('button', { name: 'Delete user' }).click()
      await dialog.getByText('deleted for good').waitFor()
      await dialog.getByRole('button', { name: 'Delete for good' }).click()
      await page.waitForURL(`${d.base}/users`)
      await page.getByRole('table', { name: 'Users' }).waitFor()
      expect(await page.getByRole('cell', { name: u.email }).count()).toBe(0)
      expect((await d.call('GET', `/api-internal/v1/users/${id}`, { token: admin })).status).toBe(404)
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('a normal user sees no-permission states on Users and Audit log', async () => {
    const u = await d.user()
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page, u.email, u.password)
      await page.goto(`${d.base}/users`)
      await page.getByText('You do not have permission to see or manage users.').waitFor()
      await page.getByText('This needs the users:read permission, which your role (user) does not include.').waitFor()
      await d.screenshot(page, 'users-no-permission')
      expect((await d.call('GET', '/api-internal/v1/audit', { token: (await d.call('POST', `${AUTH}/login`, { body: { email: u.email, password: u.password } })).body.access_token })).status).toBe(403)
      await page.goto(`${d.base}/audit-log`)
      await page.getByText('You do not have permission to read the audit log.').waitFor()
      await d.screenshot(page, 'audit-log-no-permission')
      // Settings has no platform section for them.
      await page.goto(`${d.base}/settings`)
      await page.getByTestId('profile').getByText(u.email).waitFor()
      expect(await page.getByRole('heading', { name: 'Platform' }).count()).toBe(0)
      // Their navigation lists what they may use, none of the administrators' sections.
      const nav = page.getByRole('navigation', { name: 'Sections' })
      await nav.getByRole('link', { name: 'Playground' }).waitFor()
      for (const section of ['Chatbots', 'Documents', 'API keys', 'Analytics']) await nav.getByRole('link', { name: section }).waitFor()
      for (const section of ['Providers', 'Plugins', 'Users', 'Audit log', 'Security']) expect(await nav.getByRole('link', { name: section }).count()).toBe(0)
      // Plugins, reached by its address: a notice like the other admin pages', no red error, no admin buttons.
      await page.goto(`${d.base}/plugins`)
      await page.getByTestId('no-permission').getByText('You do not have permission to manage plugins.').waitFor()
      expect(await page.getByRole('alert').count()).toBe(0)
      expect(await page.getByRole('button', { name: 'Scan plugin folders' }).count()).toBe(0)
      expect(await page.getByRole('button', { name: 'Try again' }).count()).toBe(0)
      await d.screenshot(page, 'plugins-no-permission')
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('audit log: a period ending now, and custom times to the minute', async () => {
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/audit-log`)
      const table = page.getByRole('table', { name: 'Audit events' })
      await table.getByRole('cell', { name: 'auth.login', exact: true }).first().waitFor()
      await page.getByLabel('Period').selectOption('15m')
      const asked = page.waitForRequest((r) => r.url().includes('/api-internal/v1/audit?') && r.url().includes('since='))
      await page.getByRole('button', { name: 'Apply filters' }).click()
      await page.waitForURL(/range=15m/)
      const since = new URL((await asked).url()).searchParams.get('since') ?? ''
      const ago = Date.now() - Date.parse(since)
      expect(ago).toBeGreaterThan(14 * 60_000)
      expect(ago).toBeLessThan(16 * 60_000)
      await table.getByRole('cell', { name: 'auth.login', exact: true }).first().waitFor()
      // Custom: from a minute after now, nothing; the times reach the API to the minute.
      await page.getByLabel('Period').selectOption('custom')
      const local = (t: Date) => new Date(t.getTime() - t.getTimezoneOffset() * 60_000).toISOString().slice(0, 16)
      const start = new Date(Date.now() + 2 * 60_000)
      await page.getByLabel('From', { exact: true }).fill(local(start))
      await page.getByRole('button', { name: 'Apply filters' }).click()
      await page.waitForURL(/from=/)
      await page.getByText('No events match these filters').waitFor()
      expect(page.url()).not.toContain('range=')
      await page.getByLabel('From', { exact: true }).fill(local(new Date(Date.now() - 60 * 60_000)))
      await page.getByLabel('To', { exact: true }).fill(local(new Date()))
      await page.getByRole('button', { name: 'Apply filters' }).click()
      await table.getByRole('cell', { name: 'auth.login', exact: true }).first().waitFor()
      await d.screenshot(page, 'audit-log-times')
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('settings: sessions (revoke, confirmed), password change with errors shown, sign in again, theme', async () => {
    const u = await d.user()
    const newPassword = 'a-brand-new-password-42'
    // The deliberate failures: the wrong current password's 401 (sent twice: the client retries a 401 once after a refresh).
    // And the 400 of a new password equal to the current one.
    const wrongCurrent = (m: ConsoleMessage) => (m.text().includes('401') || m.text().includes('400')) && m.location().url.endsWith(`${AUTH}/change-password`)
    const { page, context, errors } = await d.page({ expected: wrongCurrent })
    try {
      // A second session elsewhere, to be signed out from the page.
      const other = (await d.call('POST', `${AUTH}/login`, { body: { email: u.email, password: u.password } })).body.access_token as string
      await d.signIn(page, u.email, u.password)
      await page.goto(`${d.base}/settings`)
      const profile = page.getByTestId('profile')
      await profile.getByText(u.email).waitFor()
      await profile.getByText(u.username, { exact: true }).waitFor()
      const sessions = page.getByRole('list').filter({ has: page.getByText('current session') })
      await sessions.getByRole('listitem').nth(1).waitFor()
      expect(await sessions.getByRole('listitem').count()).toBe(2)
      await d.screenshot(page, 'settings')
      await sessions.getByRole('listitem').filter({ hasNotText: 'current session' }).getByRole('button', { name: 'Sign out' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Sign out' }).click()
      await page.getByRole('dialog').waitFor({ state: 'hidden' })
      await sessions.getByRole('listitem').nth(1).waitFor({ state: 'detached' })
      expect((await d.call('GET', `${AUTH}/me`, { token: other })).status).toBe(401)

      // Mismatch (checked here), wrong current password (the server's message), then the real change.
      await page.getByLabel('Current password').fill(u.password)
      await page.getByLabel('New password', { exact: true }).fill(newPassword)
      await page.getByLabel('Repeat the new password').fill(`${newPassword}-typo`)
      await page.getByRole('button', { name: 'Change password' }).click()
      // Each message beside the field it is about (tied to it by aria-describedby), in words, not in a banner.
      await page.locator('#repeat-password-error').getByText('The new passwords do not match.').waitFor()
      expect(await page.getByLabel('Repeat the new password').getAttribute('aria-describedby')).toContain('repeat-password-error')
      await page.getByLabel('Current password').fill('not-my-current-password')
      await page.getByLabel('Repeat the new password').fill(newPassword)
      await page.getByRole('button', { name: 'Change password' }).click()
      await page.locator('#current-password-error').getByText('The current password is wrong').waitFor()
      expect(await page.getByLabel('Current password').getAttribute('aria-invalid')).toBe('true')
      expect(await page.locator('form[aria-labelledby="password-title"] .alert').count()).toBe(0)
      // The server's rule about a field reads in that field's words ("new_password must differ" was shown raw).
      await page.getByLabel('Current password').fill(u.password)
      await page.getByLabel('New password', { exact: true }).fill(u.password)
      await page.getByLabel('Repeat the new password').fill(u.password)
      await page.getByRole('button', { name: 'Change password' }).click()
      const differ = page.locator('#new-password-error')
      await differ.getByText(/^New password must differ/).waitFor()
      expect(await differ.textContent()).not.toContain('new_password')
      await page.getByLabel('New password', { exact: true }).fill(newPassword)
      await page.getByLabel('Repeat the new password').fill(newPassword)
      await d.screenshot(page, 'settings-password-error')
      await page.getByLabel('Current password').fill(u.password)
      await page.getByRole('button', { name: 'Change password' }).click()
      await page.getByText('Your password is changed.').waitFor()
      expect((await d.call('POST', `${AUTH}/login`, { body: { email: u.email, password: u.password } })).status).toBe(401)

      // Theme: explicit choices set data-theme; the system's removes it so the CSS follows the system.
      const dataTheme = () => page.evaluate<string | null>('document.documentElement.dataset.theme ?? null')
      await page.getByRole('radio', { name: 'Dark' }).check()
      expect(await dataTheme()).toBe('dark')
      await page.getByRole('button', { name: 'Switch to light theme' }).waitFor()
      await d.screenshot(page, 'settings-dark')
      await page.getByRole('radio', { name: 'Light' }).check()
      expect(await dataTheme()).toBe('light')
      await page.getByRole('radio', { name: 'Same as the system' }).check()
      expect(await dataTheme()).toBeNull()
      // The header's toggle is an explicit choice, and the page shows it.
      await page.getByRole('button', { name: /^Switch to (light|dark) theme$/ }).click()
      expect(await dataTheme()).not.toBeNull()
      expect(await page.getByRole('radio', { name: 'Same as the system' }).isChecked()).toBe(false)

      // Sign out, and in again with the new password.
      await page.getByRole('button', { name: u.username }).click()
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL(`${d.base}/sign-in`)
      await d.signIn(page, u.email, newPassword)
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('each page fits a 375 px wide screen', async () => {
    const u = await d.user()
    const admin = await d.adminToken()
    const target = (await d.call('GET', `/api-internal/v1/users?q=${encodeURIComponent(u.email)}`, { token: admin })).body.data[0].id as string
    const event = (await d.call('GET', '/api-internal/v1/audit?action=user.create&limit=1', { token: admin })).body.data[0].id as string
    const { page, context, errors } = await d.page({ width: 375, height: 740 })
    try {
      await d.signIn(page)
      const pages: [path: string, ready: () => Promise<void>, name: string][] = [
        ['/users', () => page.getByRole('table', { name: 'Users' }).waitFor(), 'users-375'],
        [`/users/${target}`, () => page.getByRole('button', { name: 'Deactivate' }).waitFor(), 'users-detail-375'],
        ['/audit-log', () => page.getByRole('table', { name: 'Audit events' }).waitFor(), 'audit-log-375'],
        [`/audit-log/${event}`, () => page.getByTestId('event-details').waitFor(), 'audit-log-event-375'],
        ['/settings', () => page.getByTestId('platform').waitFor(), 'settings-375'],
      ]
      for (const [path, ready, name] of pages) {
        await page.goto(`${d.base}${path}`)
        await ready()
        await d.screenshot(page, name)
        await noOverflow(page)
      }
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })
})
