/**
 * The Security page in Chromium against a real server: an address blocked by credential stuffing and a suspended
 * key appear, an administrator lifts the block and reinstates the key (each confirmed, each effective at once), the
 * events are filtered, a threshold is changed; a normal user sees the no-permission state.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startDashboard, type Dashboard } from './dashboard-fixture.ts'
import { killLeftovers } from './server-process.ts'

let d: Dashboard
afterAll(killLeftovers)
beforeAll(async () => {
  d = await startDashboard({ TRUST_PROXY: 'true' })
})
afterAll(async () => {
  await d?.close()
})

const ATTACKER = '203.0.113.7'
const loginFrom = (ip: string, email: string, password: string) =>
  fetch(`${d.base}/api-internal/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ email, password }),
  })

test('blocks, suspended keys, events and settings: seen, lifted, reinstated and changed by an administrator', async () => {
  const admin = await d.adminToken()
  const victim = await d.user()
  for (let i = 0; i < 21; i++) await loginFrom(ATTACKER, i % 6 ? `nobody${i % 6}@test.local` : victim.email, 'wrong-password-123')
  expect((await loginFrom(ATTACKER, victim.email, victim.password)).status).toBe(429)
  const key = await d.call('POST', '/api-internal/v1/api-keys', { token: admin, body: { name: 'leaked' } })
  expect((await d.call('POST', `/api-internal/v1/security/keys/${key.body.id}/suspend`, { token: admin })).body).toEqual({ suspended: true })

  const { page, context, errors } = await d.page()
  try {
    await d.signIn(page)
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Security' }).click()
    await page.getByRole('heading', { name: 'Security', level: 1 }).waitFor()
    const overview = page.getByTestId('security-overview')
    await overview.getByText('Blocked addresses').waitFor()
    expect(await overview.textContent()).toContain('Blocked addresses1')
    expect(await overview.textContent()).toContain('Suspended keys1')

    const blocks = page.getByTestId('security-blocks')
    const row = blocks.getByRole('row').filter({ hasText: ATTACKER })
    await row.getByText('Credential stuffing').waitFor()
    await d.screenshot(page, 'security')
    await row.getByRole('button', { name: 'Lift' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Lift' }).click()
    await row.getByText('lifted').waitFor()
    expect((await loginFrom(ATTACKER, victim.email, victim.password)).status).toBe(200)

    const suspended = page.getByTestId('suspended-keys')
    await suspended.getByRole('row').filter({ hasText: 'leaked' }).getByRole('button', { name: 'Reinstate' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Reinstate' }).click()
    await page.getByText('No key is suspended.').waitFor()
    expect((await d.call('GET', '/api/v1/me', { token: key.body.key })).status).toBe(200)

    await page.getByLabel('Severity').selectOption('high')
    const events = page.getByTestId('security-events')
    await events.getByRole('cell', { name: 'IP blocked' }).first().waitFor()
    expect(await events.getByRole('cell', { name: 'Key suspended' }).count()).toBeGreaterThan(0)
    expect(await events.getByRole('cell', { name: 'IP unblocked' }).count()).toBe(0)

    await page.getByLabel('Failed sign-ins per address').fill('30')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor()
    expect((await d.call('GET', '/api-internal/v1/security/settings', { token: admin })).body.settings.login_ip_max_failures).toBe(30)
    expect(errors.list).toEqual([])
  } finally {
    await context.close()
  }

  const plain = await d.user()
  const { page: userPage, context: userContext } = await d.page()
  try {
    await d.signIn(userPage, plain.email, plain.password)
    await userPage.goto(`${d.base}/security`)
    await userPage.getByTestId('no-permission').waitFor()
    expect(await userPage.getByTestId('no-permission').textContent()).toContain('audit:read')
  } finally {
    await userContext.close()
  }
}, 120_000)
