/**
 * Self-registration from the sign-in page, when the server allows it (ALLOW_REGISTRATION): the page offers it,
 * the new account is signed in at once with the session cookie (a reload keeps it), and errors sit beside their
 * fields. The other dashboard tests run with registration off, where the page offers nothing of the kind.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startDashboard, type Dashboard } from './dashboard-fixture.ts'
import { killLeftovers } from './server-process.ts'

let d: Dashboard

afterAll(killLeftovers)
beforeAll(async () => {
  d = await startDashboard({ ALLOW_REGISTRATION: 'true' })
})
afterAll(async () => {
  await d?.close()
})

/** The deliberate refusal: a password the policy rejects. */
const refused = (m: { text(): string; location(): { url: string } }) => m.text().includes('400') && m.location().url.endsWith('/auth/register')

describe('registration', () => {
  test('create an account from the sign-in page, land signed in, reload keeps the session', async () => {
    for (const [width, height] of [[1280, 860], [390, 844]] as const) {
      const { page, context, errors } = await d.page({ width, height, expected: refused })
      try {
        const username = `newcomer${width}`
        const email = `${username}@example.com`
        await page.goto(`${d.base}/sign-in`)
        await page.getByRole('link', { name: 'Create an account' }).click()
        await page.getByRole('heading', { name: 'Create an account' }).waitFor()
        await page.getByLabel('Email').fill(email)
        await page.getByLabel('Username').fill(username)
        // The server's policy, beside the field.
        await page.getByLabel('Password', { exact: true }).fill('too short')
        await page.getByLabel('Repeat the password').fill('too short')
        await page.getByRole('button', { name: 'Create account' }).click()
        const passwordError = page.locator('#password-error')
        await passwordError.waitFor()
        expect(await passwordError.textContent()).toMatch(/^Password .*12 characters/)
        await d.screenshot(page, `register-error-${width}`)
        await page.getByLabel('Password', { exact: true }).fill('a perfectly long password')
        await page.getByLabel('Repeat the password').fill('a perfectly long password')
        await page.getByRole('button', { name: 'Create account' }).click()
        await page.getByTestId('me').getByText(email).waitFor()
        expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(0)
        await page.reload()
        await page.getByTestId('me').getByText(email).waitFor()
        const me = await d.call('POST', '/api-internal/v1/auth/login', { body: { email, password: 'a perfectly long password' } })
        expect(me.body.user).toMatchObject({ email, username, role: 'user' })
        expect(errors.list).toEqual([])
      } finally {
        await context.close()
      }
    }
  })
})
