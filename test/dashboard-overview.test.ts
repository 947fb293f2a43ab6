/**
 * The overview and analytics pages in Chromium: usage from a real API call appears without a reload (the server's
 * live usage events), with the model and key it came from; the analytics page changes period and scope.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
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

async function keyFor(token: string, name: string): Promise<string> {
  const created = await d.call('POST', '/api-internal/v1/api-keys', { token, body: { name } })
  expect(created.status).toBe(201)
  return created.body.key as string
}

const chat = (key: string, content: string) =>
  fetch(`${d.base}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content }] }),
  })

describe('overview', () => {
  test('usage made elsewhere shows up live: requests, tokens, cost, top model and key; providers and TEE', async () => {
    const { page, errors } = await d.page()
    await d.signIn(page)
    const requests = page.getByTestId('kpi-requests')
    await expect(requests.textContent()).resolves.toBe('0')
    await page.getByTestId('live').getByText('live').waitFor()
    await page.getByText('No requests in this period.').waitFor()
    await page.getByTestId('providers').getByText('confidential (TEE)').waitFor()
    await d.screenshot(page, 'overview-empty')

    const key = await keyFor(await d.adminToken(), 'overview-key')
    expect((await chat(key, 'hello overview')).status).toBe(200)
    // No reload: the page hears the usage event and fetches the summary again.
    await page.getByTestId('kpi-requests').getByText('1', { exact: true }).waitFor()
    await page.getByTestId('top-models').getByText('mock-chat').waitFor()
    await page.getByTestId('top-keys').getByText('overview-key').waitFor()
    expect(await page.getByTestId('kpi-tokens').textContent()).not.toBe('0')
    expect(await page.getByTestId('kpi-error-rate').textContent()).toBe('0.0%')
    expect(await page.getByTestId('kpi-tee').textContent()).toBe('100.0%')
    // Four charts were drawn.
    expect(await page.locator('figure.chart canvas').count()).toBe(4)
    await d.screenshot(page, 'overview')
    expect(errors.list).toEqual([])
  })

  test('a budget near its limit is an alert on the overview', async () => {
    const token = await d.adminToken()
    const key = await keyFor(token, 'budget-key')
    // A soft budget on this key alone: the spend goes through and crosses the warning threshold.
    const keyId = (await d.call('GET', '/api-internal/v1/api-keys', { token })).body.data.find((k: { name: string }) => k.name === 'budget-key').id
    const created = await d.call('POST', '/api-internal/v1/budgets', {
      token,
      body: { name: 'tiny budget', scope: 'api_key', api_key_id: keyId, limit_usd: 0.000001, period: 'monthly', is_hard: false, warn_threshold_pct: 50 },
    })
    expect(created.status).toBe(201)
    expect((await chat(key, 'spend a little')).status).toBe(200)
    const { page, errors } = await d.page()
    await d.signIn(page)
    await page.getByTestId('budget-alerts').getByText('tiny budget').waitFor()
    await d.screenshot(page, 'overview-budget-alert')
    expect(errors.list).toEqual([])
  })

  test('dark theme: the switch applies it, the charts redraw in it, and it survives a reload', async () => {
    const { page, errors } = await d.page()
    await d.signIn(page)
    await page.locator('figure.chart canvas').first().waitFor()
    await page.getByRole('button', { name: /Switch to dark theme/ }).click()
    expect(await page.evaluate<string | undefined>('document.documentElement.dataset.theme')).toBe('dark')
    const background = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor')
    expect(background).not.toBe('rgb(247, 247, 248)')
    await d.screenshot(page, 'overview-dark')
    await page.reload()
    await page.getByTestId('me').waitFor()
    expect(await page.evaluate<string | undefined>('document.documentElement.dataset.theme')).toBe('dark')
    expect(errors.list).toEqual([])
  })

  test('fits a 375 px wide screen', async () => {
    const { page, errors } = await d.page({ width: 375, height: 800 })
    await d.signIn(page)
    await page.locator('figure.chart canvas').first().waitFor()
    expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(0)
    await d.screenshot(page, 'overview-375')
    expect(errors.list).toEqual([])
  })
})

describe('analytics', () => {
  test("period and scope: a user's own usage, and everyone's for an admin", async () => {
    const other = await d.user()
    const login = await d.call('POST', '/api-internal/v1/auth/login', { body: { email: other.email, password: other.password } })
    const otherKey = await keyFor(login.body.access_token, 'other-key')
    expect((await chat(otherKey, 'someone else')).status).toBe(200)

    const { page, errors } = await d.page()
    await d.signIn(page)
    await page.getByRole('link', { name: 'Analytics' }).click()
    await page.getByLabel('Period').selectOption('7d')
    await page.getByTestId('by-source').getByText('api').waitFor()
    await expect(page.getByTestId('top-keys').getByText('other-key').count()).resolves.toBe(0)
    await page.getByLabel('Whose usage').selectOption('all')
    await page.getByTestId('top-keys').getByText('other-key').waitFor()
    await d.screenshot(page, 'analytics-all')
    expect(errors.list).toEqual([])

    // A plain user has no choice of scope.
    const { page: theirs, errors: theirErrors } = await d.page()
    await d.signIn(theirs, other.email, other.password)
    await theirs.getByRole('link', { name: 'Analytics' }).click()
    await theirs.getByTestId('top-keys').getByText('other-key').waitFor()
    expect(await theirs.getByLabel('Whose usage').count()).toBe(0)
    await d.screenshot(theirs, 'analytics-user')
    expect(theirErrors.list).toEqual([])
  })
})
