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

  test('charts: latency drawn in the 24-hour view, readable tooltips and legends with units, and a period control', async () => {
    const key = await keyFor(await d.adminToken(), 'chart-key')
    // One busy hour in a day of empty ones: the latency series has one value between nulls.
    for (let i = 0; i < 3; i++) expect((await chat(key, `latency ${i}`)).status).toBe(200)
    const { page, errors } = await d.page()
    await d.signIn(page)
    await page.getByTestId('kpi-latency').getByText(/\d+ ms/).waitFor()
    const latency = page.getByRole('figure', { name: 'Latency p50 and p95 over time' })
    await latency.locator('canvas').waitFor()
    // Pixels of the p50 series' colour on the latency canvas: its one value is drawn (as a point; it was invisible).
    const drawn = await latency.locator('canvas').evaluate((canvas: any) => {
      const w = globalThis as any
      const accent: string = w.getComputedStyle(w.document.documentElement).getPropertyValue('--accent').trim()
      const [r = 0, g = 0, b = 0] = [1, 3, 5].map((i) => parseInt(accent.slice(i, i + 2), 16))
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height)
      let n = 0
      for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i] - r) < 24 && Math.abs(data[i + 1] - g) < 24 && Math.abs(data[i + 2] - b) < 24 && data[i + 3] > 200) n++
      return n
    })
    expect(drawn).toBeGreaterThan(10)
    // Units and a legend of its own (uPlot's "Time: --" legend is gone), and a tooltip with rounded values.
    await latency.locator('.chart-unit').getByText('milliseconds').waitFor()
    await latency.getByRole('button', { name: 'p95' }).waitFor()
    expect(await page.locator('.u-legend:visible').count()).toBe(0)
    const box = await latency.locator('.u-over').boundingBox()
    if (!box) throw new Error('no plot area')
    await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2)
    const tip = latency.locator('.chart-tip')
    await tip.waitFor()
    const text = (await tip.textContent()) ?? ''
    expect(text).toMatch(/p50[\d.,]+ ms/)
    expect(text).not.toMatch(/\d\.\d{4,}/)
    expect(text).toMatch(/\d{2}:\d{2}–\d{2}:\d{2}/)
    await d.screenshot(page, 'overview-tooltip')
    // Toggling a series from the legend.
    await latency.getByRole('button', { name: 'p95' }).click()
    expect(await latency.getByRole('button', { name: 'p95' }).getAttribute('aria-pressed')).toBe('false')
    // The period control asks for another range.
    const asked = page.waitForRequest((r) => r.url().includes('/analytics/summary?range=7d'))
    await page.getByRole('group', { name: 'Period' }).getByRole('button', { name: '7 d' }).click()
    await asked
    await page.getByText('Your usage: last 7 days, by 6 hours.').waitFor()
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
    await page.getByRole('group', { name: 'Period' }).getByRole('button', { name: '7 d' }).click()
    await page.getByTestId('by-source').getByText('api').waitFor()
    await expect(page.getByTestId('top-keys').getByText('other-key').count()).resolves.toBe(0)
    await page.getByLabel('Whose usage').selectOption('all')
    await page.getByTestId('top-keys').getByText('other-key').waitFor()
    await d.screenshot(page, 'analytics-all')
    expect(errors.list).toEqual([])

    // One's own usage by day and model (all of one's keys and the playground), from /llm/usage.
    const daily = page.getByTestId('daily-usage-table')
    await daily.getByRole('row').filter({ hasText: 'mock-chat' }).first().waitFor()
    const today = new Date().toISOString().slice(0, 10)
    expect(await daily.getByRole('row').filter({ hasText: today }).count()).toBeGreaterThan(0)
    await page.getByTestId('daily-usage').getByRole('button', { name: '7 days' }).click()
    await page.getByTestId('daily-usage').getByText(/in the last 7 days/).waitFor()

    // A plain user has no choice of scope.
    const { page: theirs, errors: theirErrors } = await d.page()
    await d.signIn(theirs, other.email, other.password)
    await theirs.getByRole('link', { name: 'Analytics' }).click()
    await theirs.getByTestId('top-keys').getByText('other-key').waitFor()
    expect(await theirs.getByLabel('Whose usage').count()).toBe(0)
    // Their own usage by day: their key's request, nobody else's.
    const theirDaily = theirs.getByTestId('daily-usage-table')
    await theirDaily.getByRole('row').filter({ hasText: 'mock-chat' }).first().waitFor()
    expect(await theirDaily.getByRole('row').count()).toBe(2)
    await d.screenshot(theirs, 'analytics-user')
    expect(theirErrors.list).toEqual([])
  })
})
