/**
 * The API keys and budgets pages in Chromium against a real server: a key created in the dashboard works against
 * the public API with exactly the restrictions chosen, its secret is shown once, and each lifecycle action in the
 * page has its effect on the API. Budgets are created, edited and deleted through the page and checked through the
 * API.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Page } from 'playwright-core'
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

/** A public API call with `secret` as the Bearer token. */
const models = (secret: string) => fetch(`${d.base}/api/v1/models`, { headers: { authorization: `Bearer ${secret}` } })

async function listedModels(secret: string): Promise<string[]> {
  const res = await models(secret)
  expect(res.status).toBe(200)
  return ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id)
}

async function expectRefused(secret: string) {
  const res = await models(secret)
  expect(res.status).toBe(401)
  await res.body?.cancel()
}

/** The open confirmation dialog's confirm button, clicked. */
async function confirm(page: Page, label: string) {
  const dialog = page.getByRole('dialog')
  await dialog.waitFor()
  await dialog.getByRole('button', { name: label, exact: true }).click()
  await dialog.waitFor({ state: 'hidden' })
}

const overflow = (page: Page) => page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')

describe('API keys page', () => {
  test('create with restrictions, secret once, then deactivate, activate, regenerate and delete', async () => {
    // The deliberate failures, matched precisely: the refused create (400) and the deleted key's page (404).
    let deleted = ''
    const { page, context, errors } = await d.page({
      width: 1280,
      height: 900,
      expected: (m) => {
        const url = m.location().url
        if (m.text().includes('400')) return url.endsWith('/api-internal/v1/api-keys')
        return deleted !== '' && m.text().includes('404') && url.endsWith(`/api-internal/v1/api-keys/${deleted}`)
      },
    })
    try {
      await d.signIn(page)
      await page.getByRole('link', { name: 'API keys' }).click()
      await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor()
      await page.getByText('No API keys yet').waitFor()
      await d.screenshot(page, 'api-keys-empty')

      // Create: one allowed model, a per-minute rate limit.
      await page.getByRole('button', { name: 'Create key' }).click()
      await page.getByLabel('Name', { exact: true }).fill('billing service')
      const allowedModels = page.getByRole('group', { name: 'Allowed models' })
      await allowedModels.getByLabel('mock-chat').check()
      await expect(allowedModels.getByLabel('mock-embed').isChecked()).resolves.toBe(false)
      await page.getByLabel('Requests per minute').fill('60')
      await d.screenshot(page, 'api-keys-create-form')

      // A refused value shows the server's sentence beside the field it is about, and nothing is created.
      await page.getByLabel('Allowed IP addresses').fill('not-an-address')
      await page.getByRole('button', { name: 'Create key' }).click()
      const formError = page.locator('#key-ips-error')
      await expect(formError.textContent()).resolves.toContain('not-an-address')
      expect((await formError.textContent()) ?? '').not.toContain('{')
      expect(await page.getByLabel('Allowed IP addresses').getAttribute('aria-describedby')).toContain('key-ips-error')
      expect(await page.locator('form').getByRole('alert').count()).toBe(0)
      await d.screenshot(page, 'api-keys-create-error')
      const admin = await d.adminToken()
      expect((await d.call('GET', '/api-internal/v1/api-keys', { token: admin })).body.total).toBe(0)
      await page.getByLabel('Allowed IP addresses').fill('')
      await page.getByRole('button', { name: 'Create key' }).click()

      // The secret, once, with a notice and a Copy button; focus lands on it.
      const secretBox = page.getByTestId('new-secret')
      await secretBox.waitFor()
      const secret = (await secretBox.textContent()) ?? ''
      expect(secret).toMatch(/^en_[0-9A-Za-z]{40}$/)
      await page.getByText('You will not see it again.').waitFor()
      await page.getByRole('button', { name: 'Copy secret' }).waitFor()
      expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('secret-title')
      await page.getByRole('link', { name: 'billing service' }).waitFor()
      await d.screenshot(page, 'api-keys-secret-once')

      // The secret works against the public API, for the allowed model only.
      expect(await listedModels(secret)).toEqual(['mock-chat'])
      const listed = await d.call('GET', '/api-internal/v1/api-keys', { token: admin })
      expect(listed.body.data[0]).toMatchObject({ name: 'billing service', allowed_models: ['mock-chat'], rate_limit_per_minute: 60, allowed_ips: [] })
      expect(JSON.stringify(listed.body)).not.toContain(secret)

      // Reload: the key is listed, the secret is gone for good.
      await page.reload()
      const row = page.getByRole('row').filter({ hasText: 'billing service' })
      await row.waitFor()
      await expect(row.textContent()).resolves.toContain(secret.slice(0, 8))
      await expect(row.textContent()).resolves.toContain('active')
      expect(await secretBox.count()).toBe(0)
      expect(await page.content()).not.toContain(secret)
      await d.screenshot(page, 'api-keys-list')

      // Traffic for the usage chart, then the key's page shows it.
      const chat = await fetch(`${d.base}/api/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'hello' }] }),
      })
      expect(chat.status).toBe(200)
      await chat.body?.cancel()
      await page.getByRole('link', { name: 'billing service' }).click()
      await page.getByRole('heading', { level: 1, name: 'billing service' }).waitFor()
      const totals = page.getByTestId('usage-totals')
      await totals.waitFor()
      await expect(totals.textContent()).resolves.toMatch(/Model requests\s*1(?!\d)/)
      await page.getByRole('figure', { name: 'Model requests per day' }).locator('canvas').waitFor()
      await page.getByText('60 requests / minute').waitFor()
      // The key's own counter, flushed for the page, counts every authenticated call: the model listing and the chat.
      // It has a name of its own ("API calls"), so the page never shows two different "Requests" for one key.
      await expect(page.getByTestId('key-facts').textContent()).resolves.toMatch(/API calls\s*2(?!\d)/)
      expect(await page.locator('dt').filter({ hasText: /^Requests$/ }).count()).toBe(0)
      await d.screenshot(page, 'api-keys-detail')
      const keyUrl = page.url()

      // Deactivate (confirmed): the API refuses the key; activate: it works again.
      await page.getByRole('button', { name: 'Deactivate' }).click()
      await d.screenshot(page, 'api-keys-deactivate-confirm')
      await confirm(page, 'Deactivate')
      await page.getByText('inactive', { exact: true }).waitFor()
      await expectRefused(secret)
      await d.screenshot(page, 'api-keys-inactive')
      await page.getByRole('button', { name: 'Activate' }).click()
      await page.getByText('active', { exact: true }).waitFor()
      expect(await listedModels(secret)).toEqual(['mock-chat'])

      // Regenerate (confirmed): a new secret, shown once; the old one stops at once.
      await page.getByRole('button', { name: 'Regenerate' }).click()
      await confirm(page, 'Regenerate')
      await secretBox.waitFor()
      const fresh = (await secretBox.textContent()) ?? ''
      expect(fresh).toMatch(/^en_[0-9A-Za-z]{40}$/)
      expect(fresh).not.toBe(secret)
      await expectRefused(secret)
      expect(await listedModels(fresh)).toEqual(['mock-chat'])
      await d.screenshot(page, 'api-keys-regenerated')
      await page.getByRole('button', { name: 'I have copied it' }).click()
      expect(await secretBox.count()).toBe(0)

      // Edit: a second model allowed, the rate limit cleared.
      await page.getByRole('button', { name: 'Edit' }).click()
      await page.getByRole('group', { name: 'Allowed models' }).getByLabel('mock-embed').check()
      await page.getByLabel('Requests per minute').fill('')
      await d.screenshot(page, 'api-keys-edit')
      await page.getByRole('button', { name: 'Save changes' }).click()
      await page.getByRole('button', { name: 'Edit' }).waitFor()
      expect((await listedModels(fresh)).sort()).toEqual(['mock-chat', 'mock-embed'])
      const id = keyUrl.split('/').at(-1) ?? ''
      expect((await d.call('GET', `/api-internal/v1/api-keys/${id}`, { token: admin })).body.rate_limit_per_minute).toBeNull()

      // Delete: cancel first keeps it; confirmed, it is gone from the page and the API.
      await page.getByRole('button', { name: 'Delete' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click()
      expect(await listedModels(fresh)).toHaveLength(2)
      await page.getByRole('button', { name: 'Delete' }).click()
      await d.screenshot(page, 'api-keys-delete-confirm')
      await confirm(page, 'Delete key')
      await page.waitForURL(`${d.base}/api-keys`)
      await page.getByText('No API keys yet').waitFor()
      await expectRefused(fresh)
      expect((await d.call('GET', `/api-internal/v1/api-keys/${id}`, { token: admin })).status).toBe(404)

      // A key that does not exist says so, in a sentence.
      deleted = id
      await page.goto(keyUrl)
      await expect(page.getByRole('alert').textContent()).resolves.toContain('not found')

      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })
})

describe('budgets page', () => {
  test('create, see progress and alerts, edit and delete', async () => {
    const { page, context, errors } = await d.page({ width: 1280, height: 900 })
    const admin = await d.adminToken()
    const someone = await d.user()
    const over = await d.user()
    const users = (await d.call('GET', '/api-internal/v1/users?limit=200', { token: admin })).body.data as { id: string; email: string }[]
    const overId = users.find((u) => u.email === over.email)?.id
    // A budget with nothing left, to show the over-limit state.
    const spentOut = await d.call('POST', '/api-internal/v1/budgets', {
      token: admin,
      body: { name: 'Spent out', scope: 'user', user_id: overId, limit_usd: 0, period: 'daily' },
    })
    expect(spentOut.status).toBe(201)
    try {
      await d.signIn(page)
      await page.getByRole('link', { name: 'Budgets' }).click()
      await page.getByRole('heading', { level: 1, name: 'Budgets' }).waitFor()
      const alerts = page.getByTestId('budget-alerts')
      await expect(alerts.textContent()).resolves.toContain('Spent out: 100% used')

      await page.getByRole('button', { name: 'Create budget' }).click()
      await page.getByLabel('Name', { exact: true }).fill('Team monthly')
      await page.getByLabel('Applies to').selectOption({ label: 'One user' })
      await page.getByLabel('User', { exact: true }).selectOption({ label: someone.email })
      await page.getByLabel('Limit (US dollars)').fill('12.5')
      await page.getByLabel('Period').selectOption({ label: 'Monthly' })
      await page.getByLabel('Warn at (% of the limit)').fill('75')
      await d.screenshot(page, 'budgets-create-form')
      await page.getByRole('button', { name: 'Create budget' }).click()

      const card = page.getByTestId('budget').filter({ hasText: 'Team monthly' })
      await card.waitFor()
      const bar = card.getByRole('progressbar')
      await expect(bar.getAttribute('aria-valuenow')).resolves.toBe('0')
      await expect(card.textContent()).resolves.toContain('$12.50')
      await expect(card.textContent()).resolves.toContain(someone.email)
      const full = page.getByTestId('budget').filter({ hasText: 'Spent out' })
      await expect(full.getByRole('progressbar').getAttribute('class')).resolves.toContain('bad')
      await expect(full.getByRole('progressbar').getAttribute('aria-valuenow')).resolves.toBe('100')
      await d.screenshot(page, 'budgets-list')

      const created = (await d.call('GET', '/api-internal/v1/budgets', { token: admin })).body.data.find((b: { name: string }) => b.name === 'Team monthly')
      expect(created).toMatchObject({ scope: 'user', limit_usd: 12.5, period: 'monthly', warn_threshold_pct: 75, is_hard: true })

      // Edit on its own page.
      await card.getByRole('link', { name: 'Edit Team monthly' }).click()
      await page.getByRole('heading', { level: 1, name: 'Edit budget' }).waitFor()
      await page.getByLabel('Limit (US dollars)').fill('20')
      await d.screenshot(page, 'budgets-edit')
      await page.getByRole('button', { name: 'Save changes' }).click()
      await page.waitForURL(`${d.base}/budgets`)
      await expect(card.textContent()).resolves.toContain('$20.00')
      expect((await d.call('GET', `/api-internal/v1/budgets/${created.id}`, { token: admin })).body.limit_usd).toBe(20)

      // Dark theme.
      await page.getByRole('button', { name: 'Switch to dark theme' }).click()
      await d.screenshot(page, 'budgets-dark')
      await page.getByRole('button', { name: 'Switch to light theme' }).click()

      // Delete, confirmed.
      await card.getByRole('button', { name: 'Delete' }).click()
      await confirm(page, 'Delete budget')
      await card.waitFor({ state: 'detached' })
      expect((await d.call('GET', `/api-internal/v1/budgets/${created.id}`, { token: admin })).status).toBe(404)

      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })
})

describe('budget amounts', () => {
  test('small limits read as amounts, and money held for requests goes away once nothing runs', async () => {
    const admin = await d.adminToken()
    const key = await d.call('POST', '/api-internal/v1/api-keys', { token: admin, body: { name: 'held money' } })
    expect(key.status).toBe(201)
    const budget = await d.call('POST', '/api-internal/v1/budgets', {
      token: admin,
      body: { name: 'Tiny cap', scope: 'api_key', api_key_id: key.body.id, limit_usd: 5, period: 'monthly', is_hard: true },
    })
    expect(budget.status).toBe(201)
    const tiny = await d.call('POST', '/api-internal/v1/budgets', {
      token: admin,
      body: { name: 'Fifty micro', scope: 'api_key', api_key_id: key.body.id, limit_usd: 0.00005, period: 'monthly', is_hard: false },
    })
    expect(tiny.status).toBe(201)
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      // Requests keep running until the page has seen money held for them.
      let running = true
      const traffic = (async () => {
        while (running)
          await fetch(`${d.base}/api/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key.body.key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'spend' }] }),
          }).then((r) => r.text())
      })()
      const card = page.getByTestId('budget').filter({ hasText: 'Tiny cap' })
      try {
        for (let i = 0; i < 10; i++) {
          await page.goto(`${d.base}/budgets`)
          await card.waitFor()
          if (await card.getByText(/held for requests in progress/).count()) break
        }
        await card.getByText(/held for requests in progress/).waitFor()
      } finally {
        running = false
        await traffic
      }
      // Nothing runs now: the hold is given back within seconds and the page shows it without a reload.
      await card.getByText(/held for requests in progress/).waitFor({ state: 'detached', timeout: 30_000 })
      expect(await card.textContent()).not.toContain('reserved')
      // A limit of 50 micro-dollars is an amount, not "< $0.0001".
      const small = page.getByTestId('budget').filter({ hasText: 'Fifty micro' })
      expect(await small.textContent()).toContain('$0.000050')
      expect(await page.content()).not.toContain('&lt; $0.0001')
      await d.screenshot(page, 'budgets-amounts')
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  }, 90_000)
})

describe('a regular user', () => {
  test('manages their own key and budgets it, without admin-only requests', async () => {
    const person = await d.user()
    const { page, context, errors } = await d.page({ width: 1100, height: 900 })
    try {
      await d.signIn(page, person.email, person.password)
      await page.goto(`${d.base}/api-keys`)
      await page.getByRole('button', { name: 'Create key' }).click()
      await page.getByLabel('Name', { exact: true }).fill('my script')
      await page.getByRole('button', { name: 'Create key' }).click()
      const secret = (await page.getByTestId('new-secret').textContent()) ?? ''
      expect((await listedModels(secret)).sort()).toEqual(['mock-chat', 'mock-embed'])

      await page.getByRole('link', { name: 'Budgets' }).click()
      await page.getByText('No budgets yet').waitFor()
      await page.getByRole('button', { name: 'Create budget' }).click()
      // Only budgets on their own keys are theirs to make.
      await expect(page.getByLabel('Applies to').locator('option').allTextContents()).resolves.toEqual(['One API key'])
      await page.getByLabel('Name', { exact: true }).fill('Script cap')
      await page.getByLabel('API key').selectOption({ label: `my script (${secret.slice(0, 8)}…)` })
      await page.getByLabel('Limit (US dollars)').fill('3')
      await page.getByRole('button', { name: 'Create budget' }).click()
      const card = page.getByTestId('budget').filter({ hasText: 'Script cap' })
      await expect(card.textContent()).resolves.toContain('API key my script')
      await d.screenshot(page, 'budgets-user')

      const status = await fetch(`${d.base}/api/v1/llm/budget/status`, { headers: { authorization: `Bearer ${secret}` } })
      const applicable = ((await status.json()) as { data: { name: string; limit_usd: number }[] }).data
      expect(applicable.find((b) => b.name === 'Script cap')).toMatchObject({ limit_usd: 3 })

      // Only an administrator may list other people's keys.
      await page.getByRole('link', { name: 'API keys' }).click()
      await page.getByRole('link', { name: 'my script' }).waitFor()
      await expect(page.getByLabel("Show every user's keys").count()).resolves.toBe(0)
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

})

describe('an administrator', () => {
  test("sees their own keys, and everyone's with the owner on asking", async () => {
    const person = await d.user()
    const token = (await d.call('POST', '/api-internal/v1/auth/login', { body: { email: person.email, password: person.password } })).body.access_token
    expect((await d.call('POST', '/api-internal/v1/api-keys', { token, body: { name: 'someone else key' } })).status).toBe(201)
    const { page, context, errors } = await d.page()
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/api-keys`)
      const table = page.getByRole('table', { name: 'API keys' })
      const everyone = page.getByLabel("Show every user's keys")
      await everyone.waitFor()
      await expect(table.getByRole('link', { name: 'someone else key' }).count()).resolves.toBe(0)
      await everyone.check()
      const row = table.getByRole('row').filter({ hasText: 'someone else key' })
      await row.getByText(person.email).waitFor()
      await d.screenshot(page, 'keys-everyone')
      await everyone.uncheck()
      await row.waitFor({ state: 'detached' })
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })
})

describe('narrow screens', () => {
  test('keys, a key and budgets fit 375 px', async () => {
    const admin = await d.adminToken()
    const key = await d.call('POST', '/api-internal/v1/api-keys', {
      token: admin,
      body: { name: 'a rather long key name for a narrow phone screen', allowed_models: ['mock-chat'], rate_limit_per_minute: 5 },
    })
    expect(key.status).toBe(201)
    const { page, context, errors } = await d.page({ width: 375, height: 800 })
    try {
      await d.signIn(page)
      await page.goto(`${d.base}/api-keys`)
      await page.getByRole('row').filter({ hasText: 'a rather long key name' }).waitFor()
      expect(await overflow(page)).toBeLessThanOrEqual(0)
      await d.screenshot(page, 'api-keys-375')

      await page.getByRole('button', { name: 'Create key' }).click()
      await page.getByRole('group', { name: 'Allowed models' }).getByLabel('mock-chat').waitFor()
      expect(await overflow(page)).toBeLessThanOrEqual(0)
      await d.screenshot(page, 'api-keys-create-375')

      await page.goto(`${d.base}/api-keys/${key.body.id}`)
      await page.getByText('No requests in the last 30 days').waitFor()
      expect(await overflow(page)).toBeLessThanOrEqual(0)
      await d.screenshot(page, 'api-keys-detail-375')

      await page.goto(`${d.base}/budgets`)
      await page.getByTestId('budget').first().waitFor()
      expect(await overflow(page)).toBeLessThanOrEqual(0)
      await d.screenshot(page, 'budgets-375')

      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })
})
