/**
 * The embeddable chat widget in Chromium, on a page served from a second local origin, against the real server
 * process (a server inside the test process next to playwright-core stalls now and then; see dashboard-fixture.ts).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { ConsoleMessage } from 'playwright-core'
import { collectErrors } from './browser.ts'
import { ARTIFACTS, startDashboard, type Dashboard } from './dashboard-fixture.ts'
import { killLeftovers } from './server-process.ts'
import { join } from 'node:path'

const XSS = '<img src=x onerror="window.__xss=1">'
const DOC_NAME = '<img src=x onerror=window.__xss=2>returns.txt'

let dash: Dashboard
let token: string

afterAll(killLeftovers)
beforeAll(async () => {
  dash = await startDashboard({ WIDGET_RATE_LIMIT_PER_MINUTE: '1000' })
  const owner = await dash.user()
  token = (await dash.call('POST', '/api-internal/v1/auth/login', { body: { email: owner.email, password: owner.password } })).body.access_token
})
afterAll(async () => {
  await dash?.close()
})

// These run in the page, typed by shape: the tests' type check has no DOM library.
// Inside the shadow root, document.activeElement is the host; the root knows the focused element.
const isFocused = (el: { getRootNode(): unknown }) => el === (el.getRootNode() as { activeElement: unknown }).activeElement
type StyledElement = { ownerDocument: { defaultView: { getComputedStyle(el: unknown): { backgroundColor: string; fontFamily: string } } | null } }
const computedStyle = (el: StyledElement) => {
  const style = el.ownerDocument.defaultView?.getComputedStyle(el)
  return { background: style?.backgroundColor, font: style?.fontFamily }
}

/** A chatbot answering from one indexed document. */
async function groundedBot(): Promise<string> {
  const collection = (await dash.call('POST', '/api-internal/v1/rag/collections', { token, body: { name: 'shop' } })).body.id
  const form = new FormData()
  form.append('files', new File(['Returns are accepted within 30 days of delivery.'], DOC_NAME))
  const upload = await fetch(`${dash.base}/api-internal/v1/rag/collections/${collection}/documents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  })
  expect(upload.status).toBeLessThan(300)
  let indexed = false
  for (let i = 0; i < 300 && !indexed; i++) {
    const docs = (await dash.call('GET', `/api-internal/v1/rag/collections/${collection}/documents`, { token })).body.data
    indexed = docs.length > 0 && docs.every((d: { status: string }) => d.status === 'indexed')
    if (!indexed) await Bun.sleep(50)
  }
  expect(indexed).toBe(true)
  const bot = await dash.call('POST', '/api-internal/v1/chatbots', {
    token,
    body: { name: 'shop help', model: 'mock-chat', rag_collections: [collection], rag_mode: 'lexical', rag_top_k: 1 },
  })
  expect(bot.status).toBe(201)
  return bot.body.id
}

test('bubble, answer with sources, escaping, no cookies or storage; a disallowed page shows the error', async () => {
  const bot = await groundedBot()
  const platform = dash.base
  let key = ''
  const html = (origin: string) => `<!doctype html><html><head><title>Shop</title>
    <style>button { background: rgb(255, 0, 0) !important; } * { font-family: serif; }</style></head>
    <body><h1>A shop at ${origin}</h1>
    <script src="${platform}/widget.js" data-chatbot="${bot}" data-key="${key}" data-title="Shop help" async></script>
    </body></html>`
  const serve = () =>
    Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: (request) => new Response(html(new URL(request.url).origin), { headers: { 'content-type': 'text/html; charset=utf-8' } }),
    })
  const shop = serve()
  const blocked = serve()
  const shopOrigin = `http://127.0.0.1:${shop.port}`
  const blockedOrigin = `http://127.0.0.1:${blocked.port}`
  const created = await dash.call('POST', '/api-internal/v1/api-keys', {
    token,
    body: { name: 'widget', scopes: ['chatbots'], allowed_chatbots: [bot], allowed_origins: [shopOrigin] },
  })
  expect(created.status).toBe(201)
  key = created.body.key
  const chatUrl = `${platform}/api/v1/widget/${bot}/chat`

  try {
    const { page: tab, context, errors } = await dash.page()
    // Scoped to the chat path, so only a request that sent credentials could carry it.
    await context.addCookies([{ name: 'platform_session', value: 'must-not-travel', domain: '127.0.0.1', path: '/api/v1/widget' }])
    const sent: Promise<{ url: string; cookie: string | undefined }>[] = []
    tab.on('request', (request) => sent.push(request.allHeaders().then((h) => ({ url: request.url(), cookie: h.cookie }))))

    await tab.goto(shopOrigin)
    const bubble = tab.getByRole('button', { name: 'Open chat: Shop help' })
    await bubble.waitFor()
    // The page's CSS stops at the shadow root.
    expect(await bubble.evaluate(computedStyle)).toEqual({ background: 'rgb(36, 87, 197)', font: expect.stringContaining('system-ui') })

    await bubble.click()
    const dialog = tab.getByRole('dialog', { name: 'Shop help' })
    await dialog.waitFor()
    const input = tab.getByRole('textbox', { name: 'Your message' })
    expect(await input.evaluate(isFocused)).toBe(true)
    await input.fill('How long do returns take?')
    await input.press('Enter')
    await tab.getByText('echo: How long do returns take?').waitFor()
    const sources = tab.getByRole('list', { name: 'Sources' })
    expect(await sources.getByRole('listitem').allTextContents()).toEqual([DOC_NAME])
    await tab.screenshot({ path: join(ARTIFACTS, 'widget-answer.png') })

    await input.fill(XSS)
    await input.press('Enter')
    await tab.getByText(`echo: ${XSS}`, { exact: true }).waitFor()
    await tab.getByText(XSS, { exact: true }).waitFor()
    expect(await tab.evaluate(`document.querySelector('enclava-chat').shadowRoot.querySelectorAll('img').length`)).toBe(0)
    expect(await tab.evaluate('typeof window.__xss')).toBe('undefined')
    await tab.screenshot({ path: join(ARTIFACTS, 'widget-xss.png') })

    // One conversation, continued from memory.
    const conversations = await dash.call('GET', `/api-internal/v1/chatbots/${bot}/conversations`, { token })
    expect(conversations.body.data).toHaveLength(1)

    await tab.keyboard.press('Escape')
    await dialog.waitFor({ state: 'hidden' })
    expect(await bubble.evaluate(isFocused)).toBe(true)

    expect(await tab.evaluate('document.cookie')).toBe('')
    expect(await tab.evaluate('localStorage.length + sessionStorage.length')).toBe(0)
    const requests = await Promise.all(sent)
    expect(requests.filter((r) => r.url === chatUrl)).toHaveLength(2)
    expect(requests.filter((r) => r.cookie !== undefined)).toEqual([])
    expect(errors.list).toEqual([])

    // A page whose origin no key lists: the browser's preflight is refused, so the POST is never sent.
    const refused: string[] = []
    const isRefusal = (message: ConsoleMessage) => {
      const text = message.text()
      const refusal =
        text.startsWith(`Access to fetch at '${chatUrl}' from origin '${blockedOrigin}' has been blocked by CORS policy`) ||
        (text === 'Failed to load resource: net::ERR_FAILED' && message.location().url === chatUrl)
      if (refusal) refused.push(text)
      return refusal
    }
    const other = await context.newPage()
    const otherErrors = collectErrors(other, isRefusal)
    const upstreamCalls = dash.upstream.requests.length
    await other.goto(blockedOrigin)
    await other.getByRole('button', { name: 'Open chat: Shop help' }).click()
    const otherInput = other.getByRole('textbox', { name: 'Your message' })
    await otherInput.fill('hello')
    await otherInput.press('Enter')
    await other.getByRole('alert').getByText('The chat service could not be reached from this website.').waitFor()
    expect(await otherInput.inputValue()).toBe('hello')
    await other.screenshot({ path: join(ARTIFACTS, 'widget-blocked.png') })
    expect(refused.length).toBeGreaterThan(0)
    expect(otherErrors.list).toEqual([])
    expect(dash.upstream.requests.length).toBe(upstreamCalls)
  } finally {
    shop.stop(true)
    blocked.stop(true)
  }
})
