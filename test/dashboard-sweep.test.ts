/**
 * Every section, as each kind of person, on a desktop and on a 390×844 phone: the page renders its heading, throws
 * nothing (no console error, no page error), never scrolls sideways, and the navigation lists exactly the sections
 * the person may use. An administrator, a plain user, a read-only user and a first-run administrator (one who must
 * change the password first) go through it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Page } from 'playwright-core'
import { startDashboard, type Dashboard } from './dashboard-fixture.ts'
import { killLeftovers } from './server-process.ts'

let d: Dashboard

afterAll(killLeftovers)
beforeAll(async () => {
  d = await startDashboard()
  // Something on the pages: usage, a collection, a chatbot.
  const token = await d.adminToken()
  const key = (await d.call('POST', '/api-internal/v1/api-keys', { token, body: { name: 'sweep key' } })).body.key as string
  await fetch(`${d.base}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'sweep' }] }),
  }).then((r) => r.text())
  await d.call('POST', '/api-internal/v1/rag/collections', { token, body: { name: 'Sweep collection' } })
  await d.call('POST', '/api-internal/v1/chatbots', { token, body: { name: 'Sweep bot', model: 'mock-chat' } })
})
afterAll(async () => {
  await d?.close()
})

const SECTIONS = ['/', '/playground', '/chatbots', '/agents', '/prompts', '/documents', '/mcp-servers', '/api-keys', '/budgets', '/analytics', '/audit-log', '/providers', '/plugins', '/users', '/security', '/settings']
/** What each section needs; without it the navigation does not list it (its page says so when reached). */
const NEEDS: Record<string, string> = {
  '/playground': 'llm:use',
  '/chatbots': 'chatbots:use',
  '/agents': 'agents:use',
  '/prompts': 'llm:use',
  '/documents': 'rag:read',
  '/mcp-servers': 'mcp:use',
  '/api-keys': 'api_keys:read',
  '/budgets': 'api_keys:read',
  '/audit-log': 'audit:read',
  '/providers': 'providers:manage',
  '/plugins': 'plugins:manage',
  '/users': 'users:read',
  '/security': 'audit:read',
}

async function sweep(page: Page, permissions: string[], label: string, errors: { list: string[] }): Promise<void> {
  const nav = page.getByRole('navigation', { name: 'Sections' })
  const links = await nav.getByRole('link').evaluateAll((els: any[]) => els.map((e) => new URL(e.href).pathname as string))
  for (const path of SECTIONS) {
    const need = NEEDS[path]
    const listed = links.includes(path)
    expect({ path, listed }).toEqual({ path, listed: !need || permissions.includes(need) })
  }
  for (const path of SECTIONS) {
    await page.goto(`${d.base}${path}`)
    await page.getByRole('heading', { level: 1 }).first().waitFor()
    // Until whatever it loads has arrived (skeletons gone), then nothing sticks out.
    // (Not "network idle": the overview keeps a live event stream open.)
    await page.locator('[data-testid="loading"]').first().waitFor({ state: 'detached', timeout: 10_000 }).catch(() => {})
    await page.waitForTimeout(300)
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
    expect({ path, overflow: overflow > 0 }).toEqual({ path, overflow: false })
    expect({ path, errors: errors.list }).toEqual({ path, errors: [] })
  }
  await d.screenshot(page, `sweep-${label}`)
}

const ROLES = [
  ['admin', undefined],
  ['user', 'user'],
  ['read-only', 'read_only'],
] as const

describe('every section, every kind of person, desktop and phone', () => {
  for (const [label, role] of ROLES)
    for (const [width, height] of [[1280, 860], [390, 844]] as const)
      test(`${label} at ${width}×${height}`, async () => {
        const { page, context, errors } = await d.page({ width, height })
        try {
          let token = await d.adminToken()
          if (role) {
            const u = await d.user({ role })
            await d.signIn(page, u.email, u.password)
            token = (await d.call('POST', '/api-internal/v1/auth/login', { body: { email: u.email, password: u.password } })).body.access_token
          } else await d.signIn(page)
          const me = (await d.call('GET', '/api-internal/v1/auth/me', { token })).body.permissions as string[]
          if (width < 500) await page.getByRole('button', { name: 'Menu' }).click()
          await sweep(page, me, `${label}-${width}`, errors)
          expect(errors.list).toEqual([])
        } finally {
          await context.close()
        }
      }, 120_000)

  test('a first-run administrator changes the password, then reaches every section', async () => {
    const first = await d.user({ role: 'admin', forcePasswordChange: true })
    const { page, context, errors } = await d.page({ width: 390, height: 844 })
    try {
      await page.goto(`${d.base}/sign-in`)
      await page.getByLabel('Email').fill(first.email)
      await page.getByLabel('Password').fill(first.password)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL(`${d.base}/change-password`)
      expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(0)
      await page.getByLabel('Current password').fill(first.password)
      await page.getByLabel('New password', { exact: true }).fill('first-run-new-password')
      await page.getByLabel('Repeat the new password').fill('first-run-new-password')
      await page.getByRole('button', { name: 'Change password' }).click()
      await page.getByTestId('me').waitFor()
      await page.getByRole('button', { name: 'Menu' }).click()
      const admin = Object.values(NEEDS)
      await sweep(page, admin, 'first-run-admin-390', errors)
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  }, 120_000)
})
