/**
 * The MCP servers page in Chromium against a real platform and a real MCP server (the SDK's, on the loopback):
 * an administrator adds a shared server with a sealed header, tests it, narrows its tools, removes the header and
 * deletes it; a user sees the shared server read-only and is told why their own loopback server is refused.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Page } from 'playwright-core'
import { startDashboard, type Dashboard } from './dashboard-fixture.ts'
import { startMcpServer, type McpFixture } from './fixtures/mcp-server.ts'
import { killLeftovers } from './server-process.ts'

let d: Dashboard
let mcp: McpFixture

afterAll(killLeftovers)
beforeAll(async () => {
  mcp = await startMcpServer()
  d = await startDashboard()
})
afterAll(async () => {
  await d?.close()
  await mcp?.stop()
})

const SERVERS = '/api-internal/v1/mcp-servers'

async function openPage(page: Page, email?: string, password?: string) {
  await d.signIn(page, email, password)
  await page.getByRole('link', { name: 'MCP servers', exact: true }).click()
  await page.getByRole('heading', { name: 'MCP servers', level: 1 }).waitFor()
}

/** No horizontal scrolling; on failure, names the elements that stick out so the fix is obvious. */
async function noOverflow(page: Page) {
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
  if (overflow > 0) {
    const wide = await page.evaluate<string[]>(`[...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 8).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`)
    expect(wide).toEqual([])
  }
  expect(overflow).toBeLessThanOrEqual(0)
}

describe('MCP servers page', () => {
  test('add with a sealed header, test, narrow the tools, remove the header, and (as a user) see it read-only; delete', async () => {
    const admin = await d.adminToken()
    const { page, errors } = await d.page()
    await openPage(page)
    await page.getByText('No MCP servers yet').waitFor()

    await page.getByRole('button', { name: 'Add server' }).click()
    const form = page.getByRole('form', { name: 'Add an MCP server' })
    await form.getByLabel('Name', { exact: true }).fill('fixture')
    await form.getByLabel('URL', { exact: true }).fill(mcp.url)
    await form.getByRole('button', { name: 'Add a header' }).click()
    await form.getByLabel('Header name').fill('Authorization')
    await form.getByLabel('Value', { exact: true }).fill('Bearer from-the-dashboard')
    await form.getByLabel(/^Shared/).check()
    await d.screenshot(page, 'mcp-add')
    await form.getByRole('button', { name: 'Add server' }).click()
    await page.getByText('MCP server fixture saved.').waitFor()
    const table = page.getByRole('table', { name: 'MCP servers' })
    await table.getByRole('cell', { name: 'Authorization' }).waitFor()
    await table.getByText('shared').waitFor()

    const [stored] = (await d.call('GET', SERVERS, { token: admin })).body.data
    expect(stored).toMatchObject({ name: 'fixture', url: mcp.url, header_names: ['Authorization'], shared: true, private_network: true, allowed_tools: null })
    expect(JSON.stringify(stored)).not.toContain('from-the-dashboard')

    mcp.requests.length = 0
    await page.getByRole('button', { name: 'Test fixture' }).click()
    await page.getByText(/connected fixture answered in \d+ ms as fixture 1\.2\.3 over Streamable HTTP and lists 6 tools\./).waitFor()
    expect(mcp.requests.length).toBeGreaterThan(0)
    expect(mcp.requests.every((r) => r.headers.authorization === 'Bearer from-the-dashboard')).toBe(true)

    await page.getByRole('button', { name: 'Tools of fixture' }).click()
    const tools = page.getByRole('region', { name: 'Tools of fixture' })
    await tools.getByText('Adds two numbers').waitFor()
    expect(await tools.getByRole('checkbox').count()).toBe(7)
    await tools.getByRole('checkbox', { name: 'add', exact: true }).uncheck()
    await tools.getByRole('checkbox', { name: 'big', exact: true }).uncheck()
    expect(await tools.getByLabel(/^Every tool/).isChecked()).toBe(false)
    await d.screenshot(page, 'mcp-tools')
    await tools.getByRole('button', { name: 'Save allow-list' }).click()
    await page.getByText('Allow-list of fixture saved.').waitFor()
    await table.getByRole('cell', { name: '4 allowed' }).waitFor()
    expect((await d.call('GET', `${SERVERS}/${stored.id}`, { token: admin })).body.allowed_tools).toEqual(['echo', 'fail', 'search.pages', 'image'])

    await page.getByRole('button', { name: 'Edit fixture' }).click()
    const edit = page.getByRole('form', { name: 'Edit MCP server fixture' })
    await edit.getByLabel('Remove Authorization').check()
    await edit.getByRole('button', { name: 'Save changes' }).click()
    await page.getByText('MCP server fixture saved.').waitFor()
    expect((await d.call('GET', `${SERVERS}/${stored.id}`, { token: admin })).body.header_names).toEqual([])

    // A user: the shared server is there, without Edit or Delete, and a loopback server of their own is refused.
    const user = await d.user()
    const { page: userPage, errors: userErrors } = await d.page({ expected: (m) => m.text().includes('400') })
    await openPage(userPage, user.email, user.password)
    const userTable = userPage.getByRole('table', { name: 'MCP servers' })
    await userTable.getByText('fixture').first().waitFor()
    expect(await userPage.getByRole('button', { name: 'Edit fixture' }).count()).toBe(0)
    await userPage.getByRole('button', { name: 'Add server' }).click()
    const userForm = userPage.getByRole('form', { name: 'Add an MCP server' })
    await userForm.getByLabel('Name', { exact: true }).fill('mine')
    await userForm.getByLabel('URL', { exact: true }).fill(mcp.url)
    expect(await userForm.getByLabel(/^Shared/).count()).toBe(0)
    await userForm.getByRole('button', { name: 'Add server' }).click()
    await userForm.getByText('only an administrator may register a server on the private network').waitFor()
    await d.screenshot(userPage, 'mcp-user-refused')
    expect(userErrors.list).toEqual([])

    // The narrow layout, with the table and a tools panel open.
    await page.setViewportSize({ width: 375, height: 800 })
    await page.getByRole('region', { name: 'Tools of fixture' }).waitFor()
    await noOverflow(page)
    await d.screenshot(page, 'mcp-narrow')
    await page.setViewportSize({ width: 1280, height: 860 })

    await page.getByRole('button', { name: 'Delete', exact: true }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Delete server' }).click()
    await page.getByText('MCP server fixture deleted.').waitFor()
    await page.getByText('No MCP servers yet').waitFor()
    expect((await d.call('GET', SERVERS, { token: admin })).body.data).toEqual([])
    expect(errors.list).toEqual([])
  })
})
