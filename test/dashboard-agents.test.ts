/**
 * The Agents and Prompts pages in Chromium against a real platform and the scripted mock upstream, as a plain user:
 * build an agent with the code interpreter (the server's refusals shown beside their fields), run it and watch the
 * tool calls, their results and the answer arrive while the run is still going, find the run in the list; then a
 * prompt template: created, edited into version 2, version 1 viewed, its usage code copied, deleted. Both pages at
 * 390×844 without horizontal scrolling, and no page error or unexpected console error anywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Page } from 'playwright-core'
import { startDashboard, type Dashboard } from './dashboard-fixture.ts'
import type { ScriptRequest, ScriptedTurn } from './fixtures/upstream.ts'
import { killLeftovers } from './server-process.ts'

let d: Dashboard
let user: { email: string; username: string; password: string }

afterAll(killLeftovers)
beforeAll(async () => {
  d = await startDashboard()
  user = await d.user()
})
afterAll(async () => {
  await d?.close()
})

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
/** The refusals this test provokes on purpose; Chromium logs each failed request as a console error. */
const refused = (m: { text(): string }) => m.text().includes('status of 400')

async function userToken(): Promise<string> {
  const res = await d.call('POST', '/api-internal/v1/auth/login', { body: { email: user.email, password: user.password } })
  return res.body.access_token as string
}

/** Opens a section through the navigation (behind the Menu button on a narrow screen). */
async function openSection(page: Page, name: string) {
  const toggle = page.getByRole('button', { name: 'Menu' })
  if (await toggle.isVisible()) await toggle.click()
  await page.getByRole('link', { name, exact: true }).click()
  await page.getByRole('heading', { name, level: 1 }).waitFor()
}

/** No horizontal scrolling; on failure, names the elements that stick out so the fix is obvious. */
async function noOverflow(page: Page) {
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
  if (overflow > 0) {
    const wide = await page.evaluate<string[]>(`[...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 40).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`)
    expect(wide).toEqual([])
  }
  expect(overflow).toBeLessThanOrEqual(0)
}

/**
 * The model asks for two snippets at once (one that works, one that throws), then answers from their results. Its
 * answer is held back a while, so the page can be seen showing the tool results before the run has ended.
 */
function calculator(req: ScriptRequest): ScriptedTurn | null {
  if (!req.tools.some((t) => t.function?.name === 'run_javascript')) return null
  if (!req.messages.some((m) => m.role === 'tool')) {
    d.upstream.setFirstTokenDelay(0)
    return {
      toolCalls: [
        { name: 'run_javascript', arguments: JSON.stringify({ code: '[1, 2, 3].map((x) => x * 14).at(-1)' }) },
        { name: 'run_javascript', arguments: JSON.stringify({ code: 'throw new Error("boom")' }) },
      ],
    }
  }
  d.upstream.setFirstTokenDelay(4_000)
  return { content: 'The answer is 42; the second snippet failed with boom.' }
}

describe('agents page', () => {
  let agentId = ''

  test('create an agent with a tool, test-run it live, see the run in the list, edit its tools', async () => {
    const token = await userToken()
    const { page, errors } = await d.page({ expected: refused })
    try {
      await d.signIn(page, user.email, user.password)
      await openSection(page, 'Agents')
      await page.getByText('No agents yet').waitFor()

      await page.getByRole('link', { name: 'New agent' }).click()
      const form = page.getByRole('form', { name: 'Settings' })
      await form.getByLabel('Name', { exact: true }).fill('Calculator')
      await form.getByLabel('Model', { exact: true }).selectOption('mock-chat')
      await form.getByLabel('Instructions').fill('Calculate with run_javascript, then answer in one sentence.')
      await form.getByLabel('Kind of tool').selectOption('code_interpreter')
      await form.getByRole('button', { name: 'Add tool' }).click()
      await form.getByRole('group', { name: 'Tool 1: Code interpreter' }).waitFor()
      // Out of range: the server refuses, and its message is shown beside the field it names.
      await form.getByLabel('Max steps').fill('99')
      await form.getByRole('button', { name: 'Create agent' }).click()
      await expect(page.locator('#new-agent-max_steps-error').textContent()).resolves.toContain("'max_steps' must be at most 50 (got 99)")
      await expect(form.getByLabel('Max steps').getAttribute('aria-invalid')).resolves.toBe('true')
      await form.getByLabel('Max steps').fill('4')
      await form.getByLabel('Cost limit (USD)').fill('0.5')
      await form.getByRole('button', { name: 'Create agent' }).click()
      await page.waitForURL(new RegExp(`/agents/${UUID}$`))
      await page.getByRole('heading', { name: 'Calculator', level: 1 }).waitFor()
      agentId = page.url().split('/').at(-1) ?? ''
      expect((await d.call('GET', `/api-internal/v1/agents/${agentId}`, { token })).body).toMatchObject({
        name: 'Calculator',
        model: 'mock-chat',
        tools: [{ type: 'code_interpreter' }],
        max_steps: 4,
        max_cost_usd: 0.5,
        temperature: null,
      })

      // A test run: tool calls and their results are on the page while the answer is still held back upstream.
      d.upstream.setScript(calculator)
      try {
        await page.getByLabel('Input', { exact: true }).fill('What is 3 times 14?')
        await page.getByRole('button', { name: 'Run', exact: true }).click()
        const live = page.getByRole('list', { name: 'Steps of the test run' })
        const calls = live.getByRole('listitem', { name: 'Tool call run_javascript' })
        await calls.nth(1).getByLabel('Result of run_javascript').waitFor()
        // Checked first, while the answer is held back: still running, no summary yet, and the run can be stopped.
        await expect(page.locator('.test-run .run-summary').count()).resolves.toBe(0)
        await expect(page.getByRole('button', { name: 'Stop' }).isVisible()).resolves.toBe(true)
        await d.screenshot(page, 'agents-running')
        await expect(calls.nth(0).getByLabel('Arguments of run_javascript').textContent()).resolves.toContain('[1, 2, 3].map((x) => x * 14).at(-1)')
        await expect(calls.nth(0).getByLabel('Result of run_javascript').textContent()).resolves.toContain('Result (JSON): 42')
        await expect(calls.nth(0).getByText('ok', { exact: true }).count()).resolves.toBe(1)
        await expect(calls.nth(1).getByText('Error result').count()).resolves.toBe(1)
        await expect(calls.nth(1).getByText('error', { exact: true }).count()).resolves.toBe(1)
        await expect(calls.nth(1).getByLabel('Result of run_javascript').textContent()).resolves.toContain('boom')

        const answer = page.locator('.test-run').getByRole('region', { name: 'Answer' })
        await answer.getByText('The answer is 42; the second snippet failed with boom.').waitFor()
        const summary = page.locator('.test-run .run-summary')
        await summary.getByText('completed').waitFor()
        await expect(summary.textContent()).resolves.toMatch(/Completed: the model answered\. [\d,]+ tokens \([\d,]+ in, [\d,]+ out\) · cost (< )?\$/)
        await expect(live.getByText('Step 1: model').count()).resolves.toBe(1)
        await expect(live.getByText('Step 2: model').count()).resolves.toBe(1)
        await page.getByRole('button', { name: 'Run', exact: true }).waitFor()
      } finally {
        d.upstream.setScript(null)
        d.upstream.setFirstTokenDelay(0)
      }
      await d.screenshot(page, 'agents-run-done')

      // The run in the agent's recent runs, with its steps behind a click.
      const runs = page.getByRole('list', { name: 'Runs' })
      const run = runs.getByRole('listitem').filter({ hasText: 'What is 3 times 14?' })
      await run.locator('summary').getByText('completed').waitFor()
      await expect(run.textContent()).resolves.toContain('2 tool calls')
      await run.getByText('What is 3 times 14?').click()
      const stored = run.getByRole('list', { name: /^Steps of the run/ })
      await expect(stored.getByRole('listitem', { name: 'Tool call run_javascript' }).count()).resolves.toBe(2)
      await stored.getByText('Result (JSON): 42').waitFor()
      await run.getByRole('region', { name: 'Answer' }).getByText('The answer is 42').waitFor()
      const [apiRun] = (await d.call('GET', `/api-internal/v1/agents/${agentId}/runs`, { token })).body.data
      expect(apiRun).toMatchObject({ status: 'completed', input: 'What is 3 times 14?', output: 'The answer is 42; the second snippet failed with boom.' })
      expect(apiRun.steps.map((s: { type: string; is_error?: boolean }) => [s.type, s.is_error ?? null])).toEqual([
        ['model', null],
        ['tool_call', false],
        ['tool_call', true],
        ['model', null],
      ])

      // An edit: a web_fetch tool whose host the server refuses (shown beside the tools), then a good one.
      const settings = page.getByRole('form', { name: 'Settings' })
      await settings.getByLabel('Kind of tool').selectOption('web_fetch')
      await settings.getByRole('button', { name: 'Add tool' }).click()
      const fetchTool = settings.getByRole('group', { name: 'Tool 2: Web fetch' })
      await fetchTool.getByLabel('Hosts').fill('not a host!!')
      await expect(page.getByText('You have unsaved changes').isVisible()).resolves.toBe(true)
      await settings.getByRole('button', { name: 'Save', exact: true }).click()
      await settings.locator('.tools-editor > .field-error').getByText(/web_fetch hosts: .*not a host/).waitFor()
      await fetchTool.getByLabel('Hosts').fill('example.com\n*.example.org')
      await settings.getByRole('button', { name: 'Save', exact: true }).click()
      await settings.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
      expect((await d.call('GET', `/api-internal/v1/agents/${agentId}`, { token })).body.tools).toEqual([
        { type: 'code_interpreter' },
        { type: 'web_fetch', hosts: ['example.com', '*.example.org'] },
      ])
      await openSection(page, 'Agents')
      await page.getByRole('table', { name: 'Agents' }).getByRole('cell', { name: 'Code interpreter, Web fetch' }).waitFor()
      expect(errors.list).toEqual([])
    } finally {
      d.upstream.setScript(null)
    }
  })

  test('prompts: create, edit into version 2, view version 1, copy the usage code, delete', async () => {
    const token = await userToken()
    const { page, context, errors } = await d.page({ expected: refused })
    await context.grantPermissions(['clipboard-write'], { origin: d.base })
    // Recorded as written: reading the clipboard back in headless Chromium does not always settle (see the chatbots test).
    await context.addInitScript(`{
      const write = navigator.clipboard.writeText.bind(navigator.clipboard)
      window.__copied = []
      navigator.clipboard.writeText = (text) => { window.__copied.push(text); return write(text) }
    }`)
    await d.signIn(page, user.email, user.password)
    await openSection(page, 'Prompts')
    await page.getByText('No prompts yet').waitFor()

    await page.getByRole('link', { name: 'New prompt' }).click()
    const form = page.getByRole('form', { name: 'Template' })
    await form.getByLabel('Name', { exact: true }).fill('greeter')
    await form.getByLabel('Description', { exact: true }).fill('Greets people by city')
    await form.getByLabel('Instructions').fill('Greet the reader from {{city}} in a {{tone}} tone.')
    await form.getByRole('button', { name: 'Add message' }).click()
    await form.getByRole('group', { name: 'Message 1' }).getByLabel('Content').fill('Say hello to {{city}}.')
    await form.getByRole('button', { name: 'Add variable' }).click()
    const city = form.getByRole('group', { name: 'Variable 1' })
    await city.getByLabel('Name').fill('city')
    await city.getByLabel('Default').fill('Berlin')
    // {{tone}} is not declared: the server says so, beside the variables.
    await form.getByRole('button', { name: 'Create prompt' }).click()
    await expect(page.locator('#pf-variables-error').textContent()).resolves.toContain('undeclared variables: {{tone}}')
    await form.getByRole('button', { name: 'Add variable' }).click()
    const tone = form.getByRole('group', { name: 'Variable 2' })
    await tone.getByLabel('Name').fill('tone')
    await tone.getByLabel('Description').fill('friendly, formal, …')
    await form.getByRole('button', { name: 'Create prompt' }).click()
    await page.waitForURL(/\/prompts\/pmpt_[A-Za-z0-9]+$/)
    await page.getByRole('heading', { name: 'greeter', level: 1 }).waitFor()
    const id = page.url().split('/').at(-1) ?? ''
    await page.locator('.page-header').getByText('version 1', { exact: true }).waitFor()

    // The usage example names this prompt and the public base URL, and is what the copy button copies.
    const usage = page.getByLabel('Usage example')
    // The example names the first model once the list has loaded.
    await usage.getByText('"model": "mock-chat"').waitFor()
    const code = (await usage.textContent()) ?? ''
    expect(code).toContain(`baseURL: '${d.base}/api/v1'`)
    expect(code).toContain('client.responses.create({')
    expect(code).toContain(`"id": "${id}"`)
    expect(code).toContain('"city": "Berlin"')
    expect(code).toContain('"tone": "<tone>"')
    await page.getByRole('button', { name: 'Copy code' }).click()
    await page.getByRole('button', { name: 'Copied' }).waitFor()
    await expect(page.evaluate<string | undefined>('window.__copied.at(-1)')).resolves.toBe(code)

    // An edit makes version 2; version 1 stays viewable.
    await form.getByLabel('Instructions').fill('Greet the reader from {{city}}, {{tone}}ly and briefly.')
    await form.getByRole('button', { name: 'Save', exact: true }).click()
    await form.getByRole('status').filter({ hasText: 'Saved as version 2.' }).waitFor()
    await page.locator('.page-header').getByText('version 2', { exact: true }).waitFor()
    const versions = page.getByRole('list', { name: 'Versions' })
    await versions.getByText('Version 2', { exact: true }).waitFor()
    await expect(versions.getByRole('listitem').count()).resolves.toBe(2)
    await page.getByRole('button', { name: 'View version 1' }).click()
    const v1 = page.getByRole('region', { name: 'Version 1' })
    await v1.getByText('Greet the reader from {{city}} in a {{tone}} tone.').waitFor()
    await v1.getByText('Say hello to {{city}}.').waitFor()
    // An older version can be loaded into the editor to start the next version from it.
    await v1.getByRole('button', { name: 'Edit from this version' }).click()
    await expect(form.getByLabel('Instructions').inputValue()).resolves.toBe('Greet the reader from {{city}} in a {{tone}} tone.')
    await d.screenshot(page, 'prompts-versions')
    expect((await d.call('GET', `/api-internal/v1/prompts/${id}/versions`, { token })).body.data.map((v: { version: number }) => v.version)).toEqual([2, 1])
    expect((await d.call('GET', `/api-internal/v1/prompts/${id}`, { token })).body).toMatchObject({
      version: 2,
      instructions: 'Greet the reader from {{city}}, {{tone}}ly and briefly.',
      messages: [{ role: 'user', content: 'Say hello to {{city}}.' }],
      variables: [{ name: 'city', default: 'Berlin' }, { name: 'tone', description: 'friendly, formal, …' }],
    })

    await page.getByRole('button', { name: 'Delete prompt' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Delete prompt' }).click()
    await page.waitForURL(/\/prompts$/)
    await page.getByText('No prompts yet').waitFor()
    expect((await d.call('GET', '/api-internal/v1/prompts', { token })).body.data).toEqual([])
    expect(errors.list).toEqual([])
  })

  test('at 390×844 neither page scrolls sideways', async () => {
    const token = await userToken()
    // A prompt with long text to show, made through the API.
    const long = 'A long instruction without breaks: ' + 'x'.repeat(300)
    const created = await d.call('POST', '/api-internal/v1/prompts', {
      token,
      body: { name: 'narrow', instructions: `${long} {{topic}}`, variables: [{ name: 'topic', default: 'a very long default value' }] },
    })
    expect(created.status).toBe(201)
    await d.call('PATCH', `/api-internal/v1/prompts/${created.body.id}`, { token, body: { instructions: `${long} v2 {{topic}}` } })

    const { page, errors } = await d.page({ width: 390, height: 844 })
    await d.signIn(page, user.email, user.password)
    await openSection(page, 'Agents')
    await page.getByRole('table', { name: 'Agents' }).waitFor()
    await noOverflow(page)
    await page.getByRole('link', { name: 'Calculator' }).click()
    await page.getByRole('heading', { name: 'Calculator', level: 1 }).waitFor()
    const run = page.getByRole('list', { name: 'Runs' }).getByRole('listitem').first()
    await run.locator('summary').click()
    await run.getByText('Result (JSON): 42').waitFor()
    await noOverflow(page)
    await d.screenshot(page, 'agents-narrow')
    await page.getByRole('link', { name: 'All agents' }).click()
    await page.getByRole('link', { name: 'New agent' }).click()
    await page.getByRole('form', { name: 'Settings' }).getByRole('button', { name: 'Add tool' }).click()
    await noOverflow(page)

    await openSection(page, 'Prompts')
    await page.getByRole('table', { name: 'Prompts' }).waitFor()
    await noOverflow(page)
    await page.getByRole('link', { name: 'narrow' }).click()
    await page.getByRole('button', { name: 'View version 1' }).click()
    await page.getByRole('region', { name: 'Version 1' }).waitFor()
    await noOverflow(page)
    await d.screenshot(page, 'prompts-narrow')
    await page.getByRole('link', { name: 'All prompts' }).click()
    await page.getByRole('link', { name: 'New prompt' }).click()
    await page.getByRole('button', { name: 'Add variable' }).click()
    await page.getByRole('button', { name: 'Add message' }).click()
    await noOverflow(page)
    expect(errors.list).toEqual([])
  })
})
