/**
 * The Chatbots page in Chromium against a real platform and the mock upstream (`echo: <last user text>`, streamed):
 * create a chatbot, shape it in the builder, talk to it in the streamed test chat, read and delete the conversation,
 * embed it with a narrowed publishable key, edit and reset prompt templates, and the narrow layout.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Page } from 'playwright-core'
import { startDashboard, type Dashboard } from './dashboard-fixture.ts'
import { killLeftovers } from './server-process.ts'

let d: Dashboard
let base: string

afterAll(killLeftovers)
beforeAll(async () => {
  d = await startDashboard()
  base = d.base
})
afterAll(async () => {
  await d?.close()
})

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'

async function openChatbots(page: Page) {
  await d.signIn(page)
  await page.getByRole('link', { name: 'Chatbots', exact: true }).click()
  await page.getByRole('heading', { name: 'Chatbots', level: 1 }).waitFor()
}

/** Creates a chatbot through the form and waits for its builder; returns its id. */
async function createChatbot(page: Page, name: string): Promise<string> {
  await page.getByLabel('Name', { exact: true }).fill(name)
  await page.getByLabel('Type', { exact: true }).selectOption('customer_support')
  await page.getByLabel('Model', { exact: true }).selectOption('mock-chat')
  await page.getByRole('button', { name: 'Create chatbot' }).click()
  await page.waitForURL(new RegExp(`/chatbots/${UUID}$`))
  await page.getByRole('heading', { name, level: 1 }).waitFor()
  return page.url().split('/').at(-1) ?? ''
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

describe('chatbots page', () => {
  test('create, save, stream a test chat, read the conversation, embed, delete', async () => {
    const { page, context, errors } = await d.page()
    try {
      await context.grantPermissions(['clipboard-write'], { origin: base })
      // What the page writes to the clipboard is recorded as it is written: reading the clipboard back in headless
      // Chromium sometimes never settles (seen here), while writes go through normally.
      await context.addInitScript(`{
        const write = navigator.clipboard.writeText.bind(navigator.clipboard)
        window.__copied = []
        navigator.clipboard.writeText = (text) => { window.__copied.push(text); return write(text) }
      }`)
      const copied = () => page.evaluate<string | undefined>('window.__copied.at(-1)')
      const token = await d.adminToken()
      await openChatbots(page)
      await page.getByText('No chatbots yet').waitFor()
      await d.screenshot(page, 'chatbots-empty')

      const id = await createChatbot(page, 'Support bot')
      expect((await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).body).toMatchObject({ name: 'Support bot', model: 'mock-chat', type: 'customer_support' })
      // The model list marks confidential models.
      await page.getByText(/TEE: runs in a confidential enclave|not confidential/).waitFor()

      // Settings: a system prompt and a temperature, saved and persisted.
      await page.getByLabel('System prompt').fill('You are the support bot of the test shop.')
      await page.getByLabel('Temperature').fill('0.4')
      await expect(page.getByText('You have unsaved changes').isVisible()).resolves.toBe(true)
      await page.getByRole('button', { name: 'Save', exact: true }).click()
      await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
      const saved = (await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).body
      expect(saved.system_prompt).toBe('You are the support bot of the test shop.')
      expect(saved.temperature).toBe(0.4)
      await d.screenshot(page, 'chatbots-builder')

      // The test chat streams the answer.
      await page.getByLabel('Message', { exact: true }).fill('hello there')
      await page.getByRole('button', { name: 'Send' }).click()
      const log = page.getByRole('log', { name: 'Test conversation' })
      await log.getByText('echo: hello there').waitFor()
      await page.getByRole('button', { name: 'Send' }).and(page.locator(':disabled')).waitFor()
      await d.screenshot(page, 'chatbots-test-chat')

      // A second turn continues the same conversation.
      await page.getByLabel('Message', { exact: true }).fill('second question')
      await page.getByLabel('Message', { exact: true }).press('Enter')
      await log.getByText('echo: second question').waitFor()

      // Conversations: the one above with its messages.
      await page.getByRole('tab', { name: 'Conversations' }).click()
      const row = page.getByRole('row').filter({ hasText: 'hello there' })
      await row.waitFor()
      await expect(page.getByRole('row').count()).resolves.toBe(2)
      await row.getByRole('button', { name: 'Read conversation “hello there”' }).click()
      const transcript = page.getByRole('list', { name: 'Messages' })
      await transcript.getByText('echo: hello there').waitFor()
      await expect(transcript.getByRole('listitem').allTextContents()).resolves.toEqual([
        expect.stringContaining('hello there'),
        expect.stringContaining('echo: hello there'),
        expect.stringContaining('second question'),
        expect.stringContaining('echo: second question'),
      ])
      await d.screenshot(page, 'chatbots-conversations')

      // Stop aborts an answer that has not come yet; the test chat stays usable.
      await page.getByRole('tab', { name: 'Build and test' }).click()
      d.upstream.setBehavior('hang')
      try {
        await page.getByLabel('Message', { exact: true }).fill('never answered')
        await page.getByRole('button', { name: 'Send' }).click()
        await page.getByRole('button', { name: 'Stop' }).click()
        await log.getByText('Stopped before the end.').waitFor()
      } finally {
        d.upstream.setBehavior('ok')
      }
      await page.getByRole('button', { name: 'Send' }).waitFor()

      // Edit another setting: persisted through the API.
      await page.getByLabel('Max tokens').fill('256')
      await page.getByLabel('Must cite sources').check()
      await page.getByRole('button', { name: 'Save', exact: true }).click()
      await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
      expect((await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).body).toMatchObject({ max_tokens: 256, must_cite: true })

      // Widget: the snippet, copyable, and a key narrowed to this chatbot and an origin.
      await page.getByRole('tab', { name: 'Embed widget' }).click()
      const code = page.getByLabel('Widget snippet')
      // data-title: the widget's header and button say the chatbot's name (they said "Chat").
      await expect(code.textContent()).resolves.toBe(`<script src="${base}/widget.js" data-chatbot="${id}" data-key="YOUR_PUBLISHABLE_KEY" data-title="Support bot" async></script>`)
      await page.getByRole('button', { name: 'Copy snippet' }).click()
      await page.getByRole('button', { name: 'Copied' }).waitFor()
      await expect(copied()).resolves.toBe((await code.textContent()) ?? '')
      await page.getByLabel('Allowed origins').fill('https://shop.example.com/')
      await page.getByRole('button', { name: 'Create widget key' }).click()
      await page.getByText('Key created and put into the snippet above').waitFor()
      const withKey = (await code.textContent()) ?? ''
      const secret = /data-key="([^"]+)"/.exec(withKey)?.[1] ?? ''
      expect(secret).not.toBe('YOUR_PUBLISHABLE_KEY')
      const keys = (await d.call('GET', '/api-internal/v1/api-keys?limit=200', { token })).body.data as { allowed_chatbots: string[]; allowed_origins: string[]; scopes: string[] }[]
      expect(keys.filter((k) => k.allowed_chatbots.includes(id))).toEqual([
        expect.objectContaining({ scopes: ['chatbots'], allowed_chatbots: [id], allowed_origins: ['https://shop.example.com'] }),
      ])
      await page.getByRole('button', { name: 'Copy snippet' }).click()
      await expect(copied()).resolves.toBe(withKey)
      await page.getByRole('listitem').filter({ hasText: 'https://shop.example.com' }).waitFor()
      await d.screenshot(page, 'chatbots-widget')

      // Delete the conversation, confirmed.
      await page.getByRole('tab', { name: 'Conversations' }).click()
      await row.getByRole('button', { name: 'Delete' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Delete conversation' }).click()
      await page.getByText('No conversations yet').waitFor()
      expect((await d.call('GET', `/api-internal/v1/chatbots/${id}/conversations`, { token })).body.data).toEqual([])

      // Back to the list, where the chatbot is shown; delete it, cancelling once first.
      await page.getByRole('link', { name: 'All chatbots' }).click()
      const listed = page.getByRole('row').filter({ hasText: 'Support bot' })
      await expect(listed.textContent()).resolves.toContain('mock-chat')
      await expect(listed.textContent()).resolves.toContain('active')
      await d.screenshot(page, 'chatbots-list')
      await listed.getByRole('button', { name: 'Delete' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click()
      expect((await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).status).toBe(200)
      await listed.getByRole('button', { name: 'Delete' }).click()
      await d.screenshot(page, 'chatbots-delete-confirm')
      await page.getByRole('dialog').getByRole('button', { name: 'Delete chatbot' }).click()
      await page.getByText('No chatbots yet').waitFor()
      expect((await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).status).toBe(404)

      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('prompt variables ({{company}} has a field), context window, safety settings and the per-chatbot API', async () => {
    const { page, context, errors } = await d.page()
    try {
      await context.grantPermissions(['clipboard-write'], { origin: base })
      await context.addInitScript(`{
        const write = navigator.clipboard.writeText.bind(navigator.clipboard)
        window.__copied = []
        navigator.clipboard.writeText = (text) => { window.__copied.push(text); return write(text) }
      }`)
      const token = await d.adminToken()
      await openChatbots(page)
      const id = await createChatbot(page, 'Variable bot')
      // The default prompt says {{company}}: it has a field, with what an empty one becomes.
      const variables = page.getByTestId('prompt-variables')
      const company = variables.getByLabel('{{company}}')
      await company.waitFor()
      expect(await company.getAttribute('placeholder')).toBe('our organisation')
      await company.fill('Acme Shop')
      // A placeholder typed into the prompt gets its field at once.
      await page.getByLabel('System prompt').fill('You help customers of {{company}} with {{product}}. Today is {{date}}.')
      await variables.getByLabel('{{product}}').fill('garden tools')
      expect(await variables.getByLabel('{{date}}').count()).toBe(0)
      await page.getByLabel('Context window').fill('8192')
      await page.getByLabel(/^Confidential only/).check()
      await page.getByRole('button', { name: 'Save', exact: true }).click()
      await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
      const saved = (await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).body
      expect(saved).toMatchObject({ prompt_variables: { company: 'Acme Shop', product: 'garden tools' }, context_window: 8192, confidential_only: true })
      // Out of range: beside the field.
      await page.getByLabel('Context window').fill('100')
      await page.getByRole('button', { name: 'Save', exact: true }).click()
      await page.getByText('Context window must be between 512 and 2000000.').waitFor()
      await page.getByLabel('Context window').fill('8192')
      await d.screenshot(page, 'chatbots-variables')
      // The answer uses the values: the mock echoes the system prompt it was sent when asked for it.
      await page.getByLabel('Message', { exact: true }).fill('hello')
      await page.getByRole('button', { name: 'Send' }).click()
      await page.getByRole('log', { name: 'Test conversation' }).getByText('echo: hello').waitFor()
      const sent = d.upstream.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)?.body as { messages: { role: string; content: string }[] }
      expect(sent.messages[0]?.content).toContain('You help customers of Acme Shop with garden tools.')

      // The API tab: both endpoints, a copyable example per language, and a key made for this chatbot alone.
      await page.getByRole('tab', { name: 'API' }).click()
      const endpoints = page.getByTestId('chatbot-endpoints')
      await endpoints.getByText(`POST ${base}/api/v1/chatbot/${id}/chat`).waitFor()
      await endpoints.getByText(`${base}/api/v1/chatbot/${id}/v1`, { exact: true }).waitFor()
      const example = page.getByTestId('api-example')
      expect(await example.textContent()).toContain(`curl ${base}/api/v1/chatbot/${id}/chat`)
      await page.getByRole('tab', { name: 'Node.js (openai)' }).click()
      expect(await example.textContent()).toContain(`baseURL: '${base}/api/v1/chatbot/${id}/v1'`)
      await page.getByRole('tab', { name: 'Python (openai)' }).click()
      expect(await example.textContent()).toContain(`base_url="${base}/api/v1/chatbot/${id}/v1"`)
      await page.getByRole('button', { name: 'Copy example' }).click()
      expect(await page.evaluate<string>('window.__copied.at(-1)')).toBe((await example.textContent()) ?? '')
      await page.getByRole('button', { name: 'Create a key for this chatbot' }).click()
      const secret = ((await page.locator('.alert.created .secret').textContent()) ?? '').trim()
      expect(secret).toStartWith('en_')
      await page.getByRole('link', { name: 'API: Variable bot' }).waitFor()
      await d.screenshot(page, 'chatbots-api')
      // The example works as shown, with that key.
      const answer = await fetch(`${base}/api/v1/chatbot/${id}/chat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'Hello!' }),
      })
      expect(answer.status).toBe(200)
      expect(((await answer.json()) as { response: string }).response).toBe('echo: Hello!')
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('agent mode: tools chosen in the settings are saved; a tool missing its fields is marked on its card', async () => {
    const { page, context, errors } = await d.page()
    try {
      const token = await d.adminToken()
      await openChatbots(page)
      const id = await createChatbot(page, 'Tool bot')
      const mode = page.getByRole('group', { name: 'Agent mode: tools' })
      await mode.getByText('No tools: the chatbot only answers from the model.').waitFor()
      await mode.getByLabel('Kind of tool').selectOption('web_fetch')
      await mode.getByRole('button', { name: 'Add tool' }).click()
      // Hosts left empty: refused beside the card, nothing sent.
      await page.getByRole('button', { name: 'Save', exact: true }).click()
      await mode.getByText('List at least one host it may reach').waitFor()
      expect((await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).body.tools).toEqual([])
      await mode.getByLabel('Hosts').fill('docs.example.com\n*.example.org')
      await mode.getByLabel('Kind of tool').selectOption('code_interpreter')
      await mode.getByRole('button', { name: 'Add tool' }).click()
      await mode.getByLabel('Tool steps').fill('3')
      await page.getByRole('button', { name: 'Save', exact: true }).click()
      await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
      const saved = (await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).body
      expect(saved.tools).toEqual([{ type: 'web_fetch', hosts: ['docs.example.com', '*.example.org'] }, { type: 'code_interpreter' }])
      expect(saved.max_tool_steps).toBe(3)
      // Loaded again, the form equals what was saved (whatever order the database keeps keys in): nothing to save.
      await page.reload()
      await mode.getByLabel('Hosts').waitFor()
      expect(await mode.getByLabel('Hosts').inputValue()).toBe('docs.example.com\n*.example.org')
      await page.getByRole('button', { name: 'Save', exact: true }).click()
      await page.getByRole('status').filter({ hasText: 'No changes to save.' }).waitFor()
      // Removing a tool is saved too.
      await mode.getByRole('button', { name: 'Remove Tool 2: Code interpreter' }).click()
      await page.getByRole('button', { name: 'Save', exact: true }).click()
      await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
      expect((await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).body.tools).toEqual([{ type: 'web_fetch', hosts: ['docs.example.com', '*.example.org'] }])
      await d.screenshot(page, 'chatbots-agent-mode')
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test("an administrator's list says whose each chatbot is, and narrows to their own", async () => {
    const { page, context, errors } = await d.page()
    try {
      const other = await d.user()
      const login = await d.call('POST', '/api-internal/v1/auth/login', { body: { email: other.email, password: other.password } })
      expect((await d.call('POST', '/api-internal/v1/chatbots', { token: login.body.access_token, body: { name: 'Their bot', model: 'mock-chat' } })).status).toBe(201)
      expect((await d.call('POST', '/api-internal/v1/chatbots', { token: await d.adminToken(), body: { name: 'Admin bot', model: 'mock-chat' } })).status).toBe(201)
      await openChatbots(page)
      await page.getByRole('heading', { name: 'All chatbots' }).waitFor()
      const theirs = page.getByRole('row').filter({ hasText: 'Their bot' })
      await theirs.getByTestId('owner').getByText(other.email).waitFor()
      await page.getByRole('row').filter({ hasText: 'Admin bot' }).getByTestId('owner').getByText('you').waitFor()
      await d.screenshot(page, 'chatbots-owners')
      await page.getByLabel('Only mine').check()
      await page.getByRole('heading', { name: 'Your chatbots' }).waitFor()
      await theirs.waitFor({ state: 'detached' })
      // The owner's own list has no owner column.
      const { page: mine, errors: myErrors } = await d.page()
      await d.signIn(mine, other.email, other.password)
      await mine.goto(`${base}/chatbots`)
      await mine.getByRole('row').filter({ hasText: 'Their bot' }).waitFor()
      expect(await mine.getByRole('columnheader', { name: 'Owner' }).count()).toBe(0)
      expect(myErrors.list).toEqual([])
      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('validation, improving the prompt, and prompt templates', async () => {
    const { page, context, errors } = await d.page()
    try {
      const token = await d.adminToken()
      await openChatbots(page)
      const id = await createChatbot(page, 'Prompt bot')
      // The new chatbot starts with its type's default prompt.
      await expect(page.getByLabel('System prompt').inputValue()).resolves.toContain('customer support agent')

      // A value out of range is reported beside its field and nothing is sent.
      await page.getByLabel('Temperature').fill('5')
      await page.getByRole('button', { name: 'Save', exact: true }).click()
      await page.getByText('Temperature must be between 0 and 2.').waitFor()
      await expect(page.getByLabel('Temperature').getAttribute('aria-invalid')).resolves.toBe('true')
      await d.screenshot(page, 'chatbots-validation')
      expect((await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).body.temperature).not.toBe(5)
      await page.getByLabel('Temperature').fill('0.7')

      // Improve: the suggestion is shown and used only when accepted.
      await page.getByLabel('System prompt').fill('Be nice to customers.')
      await page.getByRole('button', { name: 'Improve this prompt' }).click()
      const suggestion = page.getByRole('region', { name: 'Suggested prompt' })
      await suggestion.getByText('echo: Prompt to improve:').waitFor()
      await d.screenshot(page, 'chatbots-improve')
      await expect(page.getByLabel('System prompt').inputValue()).resolves.toBe('Be nice to customers.')
      await suggestion.getByRole('button', { name: 'Use suggestion' }).click()
      await expect(page.getByLabel('System prompt').inputValue()).resolves.toBe('echo: Prompt to improve:\nBe nice to customers.')
      await page.getByRole('button', { name: 'Undo prompt change' }).click()
      await expect(page.getByLabel('System prompt').inputValue()).resolves.toBe('Be nice to customers.')

      // A template of another type replaces the prompt.
      await page.getByLabel('Start from a template').selectOption({ label: 'Teacher' })
      await page.getByRole('button', { name: 'Use template' }).click()
      await expect(page.getByLabel('System prompt').inputValue()).resolves.toContain('patient teacher')
      await page.getByRole('button', { name: 'Save', exact: true }).click()
      await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
      expect((await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).body).toMatchObject({ temperature: 0.7, system_prompt: expect.stringContaining('patient teacher') })

      // Templates: change a type's default, then reset it (confirmed).
      await page.getByRole('link', { name: 'Manage templates' }).click()
      await page.getByRole('heading', { name: 'Prompt templates', level: 1 }).waitFor()
      const teacher = page.getByRole('form', { name: 'Teacher' })
      await teacher.getByLabel('Teacher default prompt').fill('You teach with worked examples. Today is {{date}}.')
      await teacher.getByRole('button', { name: 'Save' }).click()
      await teacher.getByText('customised', { exact: true }).waitFor()
      const templates = async () => (await d.call('GET', '/api-internal/v1/chatbots/templates', { token })).body
      expect((await templates()).defaults.teacher).toEqual({ content: 'You teach with worked examples. Today is {{date}}.', builtin: false })
      await d.screenshot(page, 'chatbots-templates')
      await teacher.getByRole('button', { name: 'Reset to default' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Reset' }).click()
      await teacher.getByText('built-in', { exact: true }).waitFor()
      expect((await templates()).defaults.teacher.builtin).toBe(true)
      await expect(teacher.getByLabel('Teacher default prompt').inputValue()).resolves.toContain('patient teacher')

      // A template of one's own: create, edit, delete (confirmed).
      await page.getByLabel('Template name').fill('Short answers')
      await page.getByLabel('Template prompt').fill('Answer in one sentence.')
      await page.getByRole('button', { name: 'Save template' }).click()
      const own = page.getByRole('form', { name: 'Template Short answers' })
      await own.waitFor()
      await own.getByLabel('Prompt').fill('Answer in one short sentence.')
      await own.getByRole('button', { name: 'Save' }).click()
      await own.getByText('Saved.').waitFor()
      expect((await templates()).custom).toEqual([expect.objectContaining({ name: 'Short answers', content: 'Answer in one short sentence.' })])
      await own.getByRole('button', { name: 'Delete' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Delete template' }).click()
      await page.getByText('No templates of your own yet').waitFor()
      expect((await templates()).custom).toEqual([])

      // The builder in the dark theme, then deleting the chatbot from it (confirmed).
      await page.getByRole('link', { name: 'All chatbots' }).click()
      await page.getByRole('link', { name: 'Prompt bot' }).click()
      await page.getByRole('button', { name: /Switch to dark theme/ }).click()
      await page.getByLabel('System prompt').waitFor()
      await d.screenshot(page, 'chatbots-builder-dark')
      await page.getByRole('button', { name: 'Delete chatbot' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Delete chatbot' }).click()
      await page.getByRole('heading', { name: 'Chatbots', level: 1 }).waitFor()
      expect((await d.call('GET', `/api-internal/v1/chatbots/${id}`, { token })).status).toBe(404)

      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })

  test('fits a 375 px wide screen', async () => {
    const { page, context, errors } = await d.page({ width: 375, height: 800 })
    try {
      const token = await d.adminToken()
      const bot = await d.call('POST', '/api-internal/v1/chatbots', { token, body: { name: 'A chatbot with a rather long name for narrow screens', model: 'mock-chat' } })
      expect(bot.status).toBe(201)
      await d.signIn(page)
      await page.getByRole('button', { name: /menu/i }).click()
      await page.getByRole('link', { name: 'Chatbots', exact: true }).click()
      await page.getByRole('row').filter({ hasText: 'rather long name' }).waitFor()
      await noOverflow(page)
      await d.screenshot(page, 'chatbots-list-375')

      await page.getByRole('link', { name: 'A chatbot with a rather long name for narrow screens' }).click()
      await page.getByLabel('System prompt').waitFor()
      await page.getByLabel('Message', { exact: true }).fill('narrow hello')
      await page.getByRole('button', { name: 'Send' }).click()
      await page.getByRole('log').getByText('echo: narrow hello').waitFor()
      await noOverflow(page)
      await d.screenshot(page, 'chatbots-builder-375')

      await page.getByRole('tab', { name: 'Conversations' }).click()
      await page.getByRole('button', { name: 'Read conversation “narrow hello”' }).click()
      await page.getByRole('list', { name: 'Messages' }).getByText('echo: narrow hello').waitFor()
      await noOverflow(page)
      await d.screenshot(page, 'chatbots-conversations-375')

      await page.getByRole('tab', { name: 'Embed widget' }).click()
      await page.getByLabel('Widget snippet').waitFor()
      await noOverflow(page)
      await d.screenshot(page, 'chatbots-widget-375')

      await page.getByRole('link', { name: 'All chatbots' }).click()
      await page.getByRole('link', { name: 'Prompt templates' }).click()
      await page.getByRole('heading', { name: 'Defaults by type' }).waitFor()
      await noOverflow(page)
      await d.screenshot(page, 'chatbots-templates-375')

      expect(errors.list).toEqual([])
    } finally {
      await context.close()
    }
  })
})
