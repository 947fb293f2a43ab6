/**
 * The playground and the providers page in Chromium against a real platform whose privatemode provider is the
 * local mock upstream (models mock-chat and mock-embed, answers `echo: <text>` streamed word by word, 5 ms apart).
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

const overflow = (page: Page) => page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')

/**
 * Records every text the answer being streamed shows, so the test can tell whether the answer appeared piece by
 * piece (the streamed answer is the conversation entry marked aria-busy while it is written), and the content type
 * of each chat answer.
 */
const recordStreamedText = (page: Page) =>
  page.evaluate(`(() => {
    const seen = []
    window.__seen = seen
    // The content type of each chat answer, read in the page: page.waitForResponse subscribes the page to responses,
    // which now and then makes Playwright's client throw from its message loop (see dashboard.test.ts).
    const types = []
    window.__chatTypes = types
    const fetchFirst = window.fetch
    window.fetch = async (...args) => {
      const res = await fetchFirst(...args)
      if (res.url.endsWith('/api-internal/v1/llm/chat/completions')) types.push(res.headers.get('content-type'))
      return res
    }
    new MutationObserver(() => {
      const busy = document.querySelector('[aria-label="Conversation"] [aria-busy="true"]')
      if (busy && busy.textContent) seen.push(busy.textContent)
    }).observe(document.body, { subtree: true, childList: true, characterData: true })
  })()`)

describe('playground', () => {
  test('chat streams the answer, shows usage and confidentiality, and the request as code', async () => {
    const { page, errors } = await d.page()
    await d.signIn(page)
    await page.goto(`${d.base}/playground`)
    const chat = page.getByRole('tabpanel', { name: 'Chat' })
    const picker = chat.getByRole('combobox', { name: 'Model' })
    await picker.selectOption('mock-chat')
    expect(await picker.locator('option', { hasText: 'mock-chat' }).textContent()).toBe('mock-chat (confidential, TEE)')
    await chat.getByText('TEE · confidential').waitFor()
    await chat.getByText('Price: $0.50 in / $2.00 out per 1M tokens').waitFor()

    await chat.getByLabel('System prompt').fill('You are terse.')
    await chat.getByLabel('Temperature').fill('0.2')
    await chat.getByLabel('Max tokens').fill('200')

    // Forty words stream as forty-odd events, 5 ms apart: the answer must show up in pieces before it is complete.
    const words = Array.from({ length: 40 }, (_, i) => `word${i + 1}`).join(' ')
    const expected = `echo: ${words}`
    await recordStreamedText(page)
    await chat.getByLabel('Message', { exact: true }).fill(words)
    await chat.getByRole('button', { name: 'Send' }).click()
    const conversation = chat.getByRole('list', { name: 'Conversation' })
    await conversation.getByRole('listitem').filter({ hasText: expected }).waitFor()
    const types = await page.evaluate<string[]>('window.__chatTypes')
    expect(types.length).toBe(1)
    expect(types[0]).toContain('text/event-stream')
    const seen = await page.evaluate<string[]>('window.__seen')
    const partials = seen.map((s) => s.replace(/^Assistant/, '')).filter((s) => s.startsWith('echo:') && s !== expected)
    expect(partials.length).toBeGreaterThan(0)
    for (const p of partials) expect(expected.startsWith(p)).toBe(true)

    // The mock counts words (+3 a message): 6 (system) + 43 (user) in, 41 out; at $0.50/$2.00 per 1M that is 107 micro-dollars.
    const last = chat.getByRole('region', { name: 'Last answer' })
    await last.getByText('49 in, 41 out, 90 total').waitFor()
    await last.getByText('Yes: ran in a TEE').waitFor()
    expect(await last.textContent()).toContain('$0.0001')
    await d.screenshot(page, 'playground-chat')

    // The upstream received what the form said.
    const sent = d.upstream.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)?.body as Record<string, unknown>
    expect(sent).toMatchObject({ model: 'mock-chat', temperature: 0.2, max_tokens: 200, stream: true })

    await chat.getByRole('button', { name: 'Show as code' }).click()
    const curl = await chat.getByRole('region', { name: 'curl' }).locator('pre').textContent()
    const node = await chat.getByRole('region', { name: 'Node.js (openai)' }).locator('pre').textContent()
    for (const code of [curl, node]) {
      expect(code).toContain('"model": "mock-chat"')
      expect(code).toContain(words)
      expect(code).toContain('ENCLAVA_API_KEY')
      expect(code).not.toContain('eyJ') // no JWT
    }
    expect(curl).toContain(`${d.base}/api/v1/chat/completions`)
    expect(node).toContain(`baseURL: '${d.base}/api/v1'`)
    await chat.getByRole('button', { name: 'Copy curl command' }).waitFor()
    await chat.getByRole('button', { name: 'Copy openai code' }).waitFor()
    await d.screenshot(page, 'playground-code')

    // Stop aborts a request that has not answered yet; the conversation stays usable.
    d.upstream.setBehavior('hang')
    try {
      await chat.getByLabel('Message', { exact: true }).fill('never answered')
      await chat.getByRole('button', { name: 'Send' }).click()
      await chat.getByRole('button', { name: 'Stop' }).click()
      await chat.getByText('Stopped before the end.').waitFor()
    } finally {
      d.upstream.setBehavior('ok')
    }
    await chat.getByRole('button', { name: 'Send' }).waitFor()
    // Stop before the first token is no fault of the server's: it is logged at info (499), never as an error with
    // an exception dump (it was, as an "unhandled error" with the whole AbortError).
    const deadline = Date.now() + 5000
    const ended = () => d.server.lines.some((l) => l.includes('"status":499'))
    while (!ended() && Date.now() < deadline) await Bun.sleep(50)
    expect(ended()).toBe(true)
    expect(d.server.lines.filter((l) => l.includes('"level":"error"'))).toEqual([])

    // Out-of-range parameters are caught next to the field, before anything is sent.
    await chat.getByLabel('Temperature').fill('3')
    await chat.getByLabel('Message', { exact: true }).fill('too hot')
    await chat.getByRole('button', { name: 'Send' }).click()
    await chat.getByText('Temperature must be between 0 and 2.').waitFor()
    expect(errors.list).toEqual([])
  })

  test("a failed request leaves no previous answer's tokens, cost or TEE flag on screen", async () => {
    const { page, errors } = await d.page({ expected: (m) => m.text().includes('502') || m.text().includes('500') })
    await d.signIn(page)
    await page.goto(`${d.base}/playground`)
    const chat = page.getByRole('tabpanel', { name: 'Chat' })
    await chat.getByRole('combobox', { name: 'Model' }).selectOption('mock-chat')
    await chat.getByLabel('Message', { exact: true }).fill('first question')
    await chat.getByRole('button', { name: 'Send' }).click()
    const last = chat.getByRole('region', { name: 'Last answer' })
    await last.getByText(/\d+ in, \d+ out/).waitFor()
    d.upstream.setBehavior('error-500')
    try {
      await chat.getByLabel('Message', { exact: true }).fill('this one fails')
      await chat.getByRole('button', { name: 'Send' }).click()
      await chat.getByRole('alert').waitFor()
      // The failed request's panel would be the previous answer's figures: there is none.
      expect(await last.count()).toBe(0)
      await d.screenshot(page, 'playground-failed')
    } finally {
      d.upstream.setBehavior('ok')
    }
    expect(errors.list).toEqual([])
  })

  test('answers are Markdown, rendered safely: formatting and code blocks, raw HTML as text; a long conversation scrolls in its frame', async () => {
    const { page, errors } = await d.page({ height: 800 })
    await d.signIn(page)
    await page.goto(`${d.base}/playground`)
    const chat = page.getByRole('tabpanel', { name: 'Chat' })
    await chat.getByRole('combobox', { name: 'Model' }).selectOption('mock-chat')
    // The mock answers "echo: <message>", so the message is the Markdown the answer will hold.
    const markdown = 'Here is **bold**, `inline code` and a list:\n\n- one\n- two\n\n```js\nconst answer = 42\n```\n\n<img src=x onerror="window.__owned=1"><script>window.__owned=2</script> [link](javascript:alert(1))'
    await chat.getByLabel('Message', { exact: true }).fill(markdown)
    await chat.getByRole('button', { name: 'Send' }).click()
    const answer = chat.getByRole('list', { name: 'Conversation' }).locator('.bubble.assistant').last()
    // The answer streams in: counts are taken once it is whole (its figures appear when the stream has ended).
    await chat.getByRole('region', { name: 'Last answer' }).getByText(/\d+ in, \d+ out/).waitFor()
    await answer.locator('strong', { hasText: 'bold' }).waitFor()
    await answer.locator('code', { hasText: 'inline code' }).waitFor()
    expect(await answer.locator('li').count()).toBe(2)
    await answer.locator('pre code', { hasText: 'const answer = 42' }).waitFor()
    await answer.getByRole('button', { name: 'Copy code' }).waitFor()
    // Raw HTML is text: no element made from it, nothing ran; the javascript: link is no link.
    expect(await answer.locator('img, script').count()).toBe(0)
    await answer.getByText('<script>window.__owned=2</script>', { exact: false }).waitFor()
    expect(await page.evaluate('window.__owned ?? null')).toBeNull()
    expect(await answer.locator('a').count()).toBe(0)
    await d.screenshot(page, 'playground-markdown')

    // Many long turns: the conversation scrolls inside its frame; the page does not grow with it.
    const before = await page.evaluate<number>('document.documentElement.scrollHeight')
    const long = Array.from({ length: 60 }, (_, i) => `line${i}`).join('\n')
    for (let i = 0; i < 4; i++) {
      await chat.getByLabel('Message', { exact: true }).fill(`${long} ${i}`)
      await chat.getByRole('button', { name: 'Send' }).click()
      await chat.getByRole('button', { name: 'Send' }).waitFor()
    }
    const log = chat.getByRole('list', { name: 'Conversation' })
    const frame = await log.evaluate((el) => ({ scroll: el.scrollHeight, client: el.clientHeight, top: el.scrollTop }))
    expect(frame.scroll).toBeGreaterThan(frame.client)
    // Scrolled to the newest answer.
    expect(frame.top + frame.client).toBeGreaterThan(frame.scroll - 50)
    expect(await page.evaluate<number>('document.documentElement.scrollHeight')).toBeLessThan(before + 400)
    expect(errors.list).toEqual([])
  })

  test('embeddings return a vector with its size and tokens', async () => {
    const { page, errors } = await d.page()
    await d.signIn(page)
    await page.goto(`${d.base}/playground`)
    await page.getByRole('tab', { name: 'Embeddings' }).click()
    const panel = page.getByRole('tabpanel', { name: 'Embeddings' })
    await panel.getByRole('combobox', { name: 'Model' }).selectOption('mock-embed')
    await panel.getByLabel('Text to embed').fill('confidential computing is neat')
    await panel.getByRole('button', { name: 'Embed' }).click()
    const result = panel.getByRole('region', { name: 'Embedding' })
    await result.waitFor()
    const text = (await result.textContent()) ?? ''
    expect(text).toContain('Dimensions8')
    expect(text).toMatch(/First values\[-?0\.\d{6}, /)
    expect(text).toContain('Tokens4')
    expect(text).toContain('Yes: ran in a TEE')
    await panel.getByRole('button', { name: 'Show as code' }).click()
    expect(await panel.getByRole('region', { name: 'curl' }).locator('pre').textContent()).toContain('/api/v1/embeddings')
    await d.screenshot(page, 'playground-embeddings')
    expect(errors.list).toEqual([])
  })

  test('a read-only account is told it may not use the playground', async () => {
    const user = await d.user({ role: 'read_only' })
    // The overview (where sign-in lands) asks for provider health, which read-only accounts may not see.
    const { page, errors } = await d.page({
      expected: (m) => m.text().includes('403') && m.location().url.endsWith('/api-internal/v1/llm/providers/status'),
    })
    await d.signIn(page, user.email, user.password)
    await page.goto(`${d.base}/playground`)
    await page.getByText('You do not have permission to use the playground').waitFor()
    expect(await page.getByRole('combobox', { name: 'Model' }).count()).toBe(0)
    await d.screenshot(page, 'playground-no-permission')
    expect(errors.list).toEqual([])
  })

  test('fits a 375 px wide screen, in dark mode too', async () => {
    const { page, errors } = await d.page({ width: 375, height: 800 })
    await page.emulateMedia({ colorScheme: 'dark' })
    await d.signIn(page)
    await page.goto(`${d.base}/playground`)
    const chat = page.getByRole('tabpanel', { name: 'Chat' })
    await chat.getByLabel('Message', { exact: true }).fill('a narrow screen with a fairly long message to wrap around')
    await chat.getByRole('button', { name: 'Send' }).click()
    await chat.getByRole('list', { name: 'Conversation' }).getByText('echo: a narrow screen').waitFor()
    await chat.getByRole('region', { name: 'Last answer' }).waitFor()
    await chat.getByRole('button', { name: 'Show as code' }).click()
    await chat.getByRole('region', { name: 'curl' }).waitFor()
    expect(await overflow(page)).toBeLessThanOrEqual(0)
    await d.screenshot(page, 'playground-375-dark')

    // The providers page's wide tables scroll inside their frame, not the page.
    await page.getByRole('button', { name: 'Menu' }).click()
    await page.getByRole('link', { name: 'Providers' }).click()
    await page.getByRole('table', { name: /^Models/ }).waitFor()
    expect(await overflow(page)).toBeLessThanOrEqual(0)
    await d.screenshot(page, 'providers-375-dark')
    expect(errors.list).toEqual([])
  })
})

describe('providers', () => {
  test('an admin sees the providers and models, tests a connection, adds and deletes a provider, and edits a price', async () => {
    const { page, errors } = await d.page()
    await d.signIn(page)
    await page.goto(`${d.base}/providers`)
    const providers = page.getByRole('table', { name: 'Providers with their health and model count' })
    const pm = providers.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /privatemode/ }) })
    await pm.waitFor()
    expect(await pm.textContent()).toContain(d.upstream.url)
    await pm.getByText('TEE').waitFor()
    await pm.getByText('healthy').waitFor()
    await pm.getByRole('cell', { name: '2', exact: true }).waitFor()

    await page.getByRole('button', { name: 'Test connection to privatemode' }).click()
    const outcome = providers.getByRole('status')
    await outcome.getByText('connected').waitFor()
    expect(await outcome.textContent()).toContain('mock-chat, mock-embed')
    await d.screenshot(page, 'providers')

    const models = page.getByRole('table', { name: /^Models/ })
    const chatRow = models.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /mock-chat/ }) })
    expect(await chatRow.textContent()).toContain('privatemode')
    await chatRow.getByText('$0.50').waitFor()
    await chatRow.getByText('$2.00').waitFor()
    await chatRow.getByRole('button', { name: 'Edit settings of mock-chat' }).click()
    await page.getByLabel('Input price (USD per 1M tokens)').fill('1.25')
    await page.getByLabel('Output price (USD per 1M tokens)').fill('3.5')
    // A confidential model: whether its fallback may leave the TEE is shown, and off unless ticked.
    expect(await page.getByLabel(/Its fallback may leave the TEE/).isChecked()).toBe(false)
    await page.getByLabel('Output cap (tokens)').fill('2048')
    await d.screenshot(page, 'providers-price-edit')
    await page.getByRole('button', { name: 'Save', exact: true }).click()
    await chatRow.getByText('$3.50').waitFor()
    await chatRow.getByText('$1.25').waitFor()
    const catalog = await d.call('GET', '/api-internal/v1/llm/model-catalog', { token: await d.adminToken() })
    expect(catalog.body.data.find((m: { id: string }) => m.id === 'mock-chat')).toMatchObject({
      provider: 'privatemode',
      confidential: true,
      input_price_per_million: 1.25,
      output_price_per_million: 3.5,
      settings: { max_output_tokens: 2048, fallback_leaves_tee: false },
    })

    // Settings beyond prices, in a drawer: the provider and upstream id it is routed to, and whether it is offered.
    await chatRow.getByRole('button', { name: 'Edit settings of mock-chat' }).click()
    const settings = page.getByRole('form', { name: 'Settings of mock-chat' })
    expect(await settings.getByLabel('Output cap (tokens)').inputValue()).toBe('2048')
    await settings.getByLabel('Provider').selectOption('privatemode')
    await settings.getByLabel('Upstream id').fill('mock-chat')
    await settings.getByLabel('Fallback model').fill('mock-embed')
    await d.screenshot(page, 'providers-model-settings')
    await settings.getByRole('button', { name: 'Save', exact: true }).click()
    await settings.waitFor({ state: 'detached' })
    await chatRow.getByText('upstream id mock-chat').waitFor()
    await chatRow.getByRole('cell', { name: '2,048' }).waitFor()
    const routed = (await d.call('GET', '/api-internal/v1/llm/model-catalog', { token: await d.adminToken() })).body.data.find((m: { id: string }) => m.id === 'mock-chat')
    expect(routed.settings).toMatchObject({ provider_name: 'privatemode', upstream_id: 'mock-chat', fallback_model: 'mock-embed', is_active: true, max_output_tokens: 2048 })
    // Switched off: no longer offered, and says so; then on again.
    await chatRow.getByRole('button', { name: 'Edit settings of mock-chat' }).click()
    await settings.getByLabel(/^Offered/).uncheck()
    await settings.getByRole('button', { name: 'Save', exact: true }).click()
    await chatRow.locator('.badge', { hasText: 'switched off' }).waitFor()
    const offered = await d.call('GET', '/api-internal/v1/llm/models', { token: await d.adminToken() })
    expect(offered.body.data.map((m: { id: string }) => m.id)).not.toContain('mock-chat')
    await chatRow.getByRole('button', { name: 'Edit settings of mock-chat' }).click()
    await settings.getByLabel(/^Offered/).check()
    await settings.getByLabel('Fallback model').fill('')
    await settings.getByRole('button', { name: 'Save', exact: true }).click()
    await chatRow.locator('.badge', { hasText: 'switched off' }).waitFor({ state: 'detached' })

    // Add a provider: the API key goes in and never comes back out.
    await page.getByRole('button', { name: 'Add provider' }).click()
    const form = page.getByRole('form', { name: 'Add a provider' })
    await form.getByLabel('Name').fill('Not Valid')
    await form.getByRole('button', { name: 'Add provider' }).click()
    await form.getByText('Use 1 to 63 lower-case letters').waitFor()
    await form.getByLabel('Name').fill('extra')
    await form.getByText('Confidential: models run in a TEE').waitFor()
    await form.getByLabel('Kind').selectOption('openai-compatible')
    // The TEE hint follows the kind: an OpenAI-compatible server is said not to be confidential.
    await form.getByText('Not confidential').waitFor()
    expect(await form.getByText('Confidential: models run in a TEE').count()).toBe(0)
    await form.getByLabel('Base URL').fill(d.upstream.url)
    await form.getByLabel('API key', { exact: true }).fill('sk-extra-secret-123')
    await d.screenshot(page, 'providers-form')
    await form.getByRole('button', { name: 'Add provider' }).click()
    await page.getByText('Provider extra saved.').waitFor()
    const extra = providers.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /extra/ }) })
    await extra.waitFor()
    expect(await page.content()).not.toContain('sk-extra-secret-123')
    const listed = await d.call('GET', '/api-internal/v1/llm/providers', { token: await d.adminToken() })
    expect(listed.body.data.find((p: { name: string }) => p.name === 'extra')).toMatchObject({ kind: 'openai-compatible', has_api_key: true })

    await page.getByRole('button', { name: 'Edit extra' }).click()
    const edit = page.getByRole('form', { name: 'Edit provider extra' })
    expect(await edit.getByLabel('API key', { exact: true }).inputValue()).toBe('')
    await edit.getByText('A key is stored').waitFor()
    await edit.getByRole('button', { name: 'Cancel' }).click()

    await extra.getByRole('button', { name: 'Delete' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Delete provider' }).click()
    await page.getByText('Provider extra deleted.').waitFor()
    await extra.waitFor({ state: 'detached' })
    const after = await d.call('GET', '/api-internal/v1/llm/providers', { token: await d.adminToken() })
    expect(after.body.data.map((p: { name: string }) => p.name)).toEqual(['privatemode'])
    expect(await overflow(page)).toBeLessThanOrEqual(0)
    expect(errors.list).toEqual([])
  })

  test('a normal user sees that they may not manage providers', async () => {
    const user = await d.user()
    const { page, errors } = await d.page()
    await d.signIn(page, user.email, user.password)
    await page.goto(`${d.base}/providers`)
    await page.getByText('You do not have permission to manage providers').waitFor()
    expect(await page.getByRole('table').count()).toBe(0)
    await d.screenshot(page, 'providers-no-permission')
    expect(errors.list).toEqual([])
  })
})
