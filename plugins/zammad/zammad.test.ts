import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { parseManifest, sandboxLimits, validateConfig } from '../../src/plugins/manifest.ts'
import { bundlePlugin, SandboxClient, toResponse, toWireRequest, type HostCallName, type RouteResult, type WireRequest } from '../../src/plugins/sandbox/index.ts'
import { signZammad, startZammad, zammadWebhookPayload, type ZammadFixture } from '../../test/fixtures/zammad.ts'

const TOKEN = 'zmd-secret-token-5f1c2a'
const manifest = parseManifest(await Bun.file(join(import.meta.dir, 'plugin.json')).json())

/**
 * The platform's host API as far as this plugin uses it: kv in a Map (with the TTL it was given), settings in an
 * object, a fake LLM with a fixed completion, and fetch carried out for real (against the Zammad fixture).
 */
const host = {
  kv: new Map<string, { value: unknown; ttlSeconds: number | null }>(),
  settings: {} as Record<string, unknown>,
  chats: [] as { model: string; messages: { role: string; content: string }[]; max_tokens?: number }[],
  llm: 'ok' as 'ok' | 'fail' | 'empty',
  /** Everything the plugin logged, through ctx.log or console. */
  logs: [] as string[],
  denied: [] as string[],
  /** The JSON of every kv.set, llm.chat and log call, never reset: fetch is the only call that may carry the token. */
  outbound: [] as string[],
}
const SUMMARY = 'The customer cannot print: the printer jams on page two. Agent suggested a firmware update; awaiting reply.'

async function hostFetch(wire: WireRequest): Promise<unknown> {
  let res: Response
  try {
    res = await fetch(wire.url, {
      method: wire.method,
      headers: wire.headers,
      body: wire.body === null || wire.body === undefined ? null : Buffer.from(wire.body, 'base64'),
    })
  } catch {
    // What the platform's host API answers for a connection failure (src/plugins/host-api.ts).
    throw Object.assign(new Error('fetch failed'), { code: 'host_error' })
  }
  return { status: res.status, statusText: res.statusText, headers: [...res.headers], body: Buffer.from(await res.arrayBuffer()).toString('base64'), bodyEncoding: 'base64' }
}

async function onHostCall(_plugin: string, _id: string, name: HostCallName, args: unknown[]): Promise<unknown> {
  if (name !== 'fetch') host.outbound.push(JSON.stringify(args))
  switch (name) {
    case 'kv.get':
      return host.kv.get(String(args[0]))?.value ?? null
    case 'kv.set':
      host.kv.set(String(args[0]), { value: args[1], ttlSeconds: (args[2] as { ttlSeconds?: number } | undefined)?.ttlSeconds ?? null })
      return null
    case 'kv.list': {
      const prefix = typeof args[0] === 'string' ? args[0] : ''
      return { keys: [...host.kv.keys()].filter((k) => k.startsWith(prefix)) }
    }
    case 'config.get':
      return args[0] === undefined ? host.settings : (host.settings[String(args[0])] ?? null)
    case 'llm.chat': {
      const request = args[0] as (typeof host.chats)[number]
      host.chats.push(request)
      if (host.llm === 'fail') throw Object.assign(new Error('the monthly budget of 20 USD is spent'), { code: 'budget_exceeded' })
      const content = host.llm === 'empty' ? '' : SUMMARY
      return {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: request.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 321, completion_tokens: 25, total_tokens: 346 },
      }
    }
    case 'fetch':
      return hostFetch(args[0] as WireRequest)
    case 'log':
      host.logs.push(JSON.stringify(args))
      return null
    default:
      host.denied.push(name)
      throw Object.assign(new Error(`${name} is not granted to zammad`), { code: 'permission_denied' })
  }
}

const sandbox = new SandboxClient({ onHostCall, onLog: (_plugin, level, message) => host.logs.push(`${level} ${message}`) })
let zammad: ZammadFixture
/** Every response body the plugin produced, for the check that the token never leaves. */
const responses: string[] = []

beforeAll(async () => {
  zammad = await startZammad({ token: TOKEN })
  await sandbox.start()
  await sandbox.load('zammad', (await bundlePlugin(join(import.meta.dir, manifest.entry), import.meta.dir)).code, sandboxLimits(manifest))
})
afterAll(async () => {
  await sandbox.stop()
  await zammad.stop()
})
beforeEach(() => {
  host.kv.clear()
  host.chats.length = 0
  host.llm = 'ok'
  host.settings = { zammad_url: zammad.url, api_token: TOKEN, webhook_secret: 'whsec-1', model: 'privatemode-default', max_articles: 20 }
  zammad.requests.length = 0
  zammad.created.length = 0
  zammad.setBehavior('ok')
})

async function call(method: string, path: string, body?: string, identity: unknown = null): Promise<{ status: number; json: Record<string, unknown> }> {
  const init: RequestInit = body === undefined ? { method } : { method, body, headers: { 'content-type': 'application/json' } }
  const request = await toWireRequest(new Request(`http://plugin${path}`, init))
  const res = toResponse((await sandbox.invoke('zammad', 'route', { request, path: new URL(path, 'http://x').pathname, identity })) as RouteResult)
  const text = await res.text()
  responses.push(text)
  return { status: res.status, json: JSON.parse(text) as Record<string, unknown> }
}

const webhook = (payload: unknown) => call('POST', '/webhook', typeof payload === 'string' ? payload : JSON.stringify(payload))

function runs(ticketId: number) {
  return [...host.kv.entries()].filter(([k]) => k.startsWith(`runs/${ticketId}/`))
}

function seedPrinterTicket(ticketId: number): void {
  zammad.seed(ticketId, [
    {
      from: 'Ada Lovelace <ada@example.com>',
      subject: 'Printer jams',
      content_type: 'text/html',
      body: '<div><p>Hello,</p><p>the printer jams on page&nbsp;two &amp; shows <b>E-42</b>.</p><script>alert(1)</script></div>',
    },
    { from: 'Agent Smith', sender: 'Agent', type: 'email', subject: 'RE: Printer jams', body: 'Please update the firmware and tell us if it helps.' },
  ])
}

describe('manifest', () => {
  test('the code declares exactly the manifest routes', async () => {
    const meta = await sandbox.load('zammad', (await bundlePlugin(join(import.meta.dir, manifest.entry), import.meta.dir)).code, sandboxLimits(manifest))
    expect(meta.routes.toSorted()).toEqual(manifest.routes.map((r) => `${r.method} ${r.path}`).toSorted())
    expect(meta).toMatchObject({ name: manifest.name, version: manifest.version })
  })

  test('the settings schema accepts a full configuration and names what is wrong', async () => {
    expect(await validateConfig(manifest, { zammad_url: 'https://support.example.com', api_token: 't', webhook_secret: 's', max_articles: 5 })).toEqual([])
    expect((await validateConfig(manifest, { zammad_url: 'https://support.example.com', api_token: 't', webhook_secret: 's', max_articles: 0 })).join()).toContain('/max_articles')
    expect((await validateConfig(manifest, { api_token: 't', webhook_secret: 's' })).join()).toContain('zammad_url')
  })
})

describe('POST /webhook', () => {
  test('summarises the ticket and posts the summary as an internal note', async () => {
    seedPrinterTicket(42)
    const res = await webhook(zammadWebhookPayload(42))
    expect(res.status).toBe(200)
    expect(zammad.created).toHaveLength(1)
    const note = zammad.created[0]
    expect(res.json).toEqual({ ticket_id: 42, article_id: note?.id, summary: SUMMARY })
    expect(note).toMatchObject({ ticket_id: 42, subject: 'AI summary', type: 'note', internal: true, content_type: 'text/plain' })
    expect(note?.body).toContain(SUMMARY)

    const [read, post] = zammad.requests
    expect(read).toMatchObject({ method: 'GET', path: '/api/v1/ticket_articles/by_ticket/42' })
    expect(read?.headers.authorization).toBe(`Token token=${TOKEN}`)
    expect(post).toMatchObject({ method: 'POST', path: '/api/v1/ticket_articles' })
    expect(post?.body).toEqual({ ticket_id: 42, subject: 'AI summary', body: note?.body, content_type: 'text/plain', type: 'note', internal: true })
  })

  test('the prompt holds the articles as plain text, with sender and subject', async () => {
    seedPrinterTicket(43)
    await webhook(zammadWebhookPayload(43))
    const chat = host.chats[0]
    expect(chat).toMatchObject({ model: 'privatemode-default', max_tokens: 600 })
    const prompt = chat?.messages.at(-1)?.content ?? ''
    expect(prompt).toContain('Ticket #31043: Ticket 43')
    expect(prompt).toContain('Ada Lovelace <ada@example.com>')
    expect(prompt).toContain('Subject: Printer jams')
    expect(prompt).toContain('the printer jams on page two & shows E-42.')
    expect(prompt).toContain('Please update the firmware')
    expect(prompt).not.toContain('<p>')
    expect(prompt).not.toContain('alert(1)')
    expect(prompt.indexOf('Printer jams')).toBeLessThan(prompt.indexOf('RE: Printer jams'))
  })

  test('stores the run in kv under runs/<ticket_id>/<timestamp>, with an expiry', async () => {
    seedPrinterTicket(44)
    const before = Date.now()
    const res = await webhook(zammadWebhookPayload(44))
    const stored = runs(44)
    expect(stored).toHaveLength(1)
    const [key, { value, ttlSeconds }] = stored[0] ?? ['', { value: null, ttlSeconds: null }]
    expect(key).toMatch(/^runs\/44\/\d{13}-[0-9a-f]{8}$/)
    expect(Number(key.split('/')[2]?.split('-')[0])).toBeGreaterThanOrEqual(before)
    expect(ttlSeconds).toBe(90 * 24 * 3600)
    expect(value).toMatchObject({
      ticket_id: 44,
      ticket_number: '31044',
      status: 'ok',
      article_count: 2,
      model: 'privatemode-default',
      summary: SUMMARY,
      usage: { prompt_tokens: 321, completion_tokens: 25, total_tokens: 346 },
      article_id: res.json.article_id,
      error: null,
    })
  })

  test('only the newest max_articles go into the prompt; earlier summary notes stay out', async () => {
    host.settings.max_articles = 2
    zammad.seed(45, [
      { subject: 'first', body: 'article one' },
      { subject: 'AI summary', body: 'an older summary', internal: true, type: 'note', sender: 'Agent' },
      { subject: 'second', body: 'article two' },
      { subject: 'third', body: 'article three' },
    ])
    await webhook(zammadWebhookPayload(45))
    const prompt = host.chats[0]?.messages.at(-1)?.content ?? ''
    expect(prompt).toContain('2 of 3 articles')
    expect(prompt).not.toContain('article one')
    expect(prompt).not.toContain('an older summary')
    expect(prompt).toContain('article two')
    expect(prompt).toContain('article three')
    expect(runs(45)[0]?.[1].value).toMatchObject({ article_count: 2 })
  })

  test('a webhook fired by its own summary note is skipped', async () => {
    seedPrinterTicket(46)
    const res = await webhook(zammadWebhookPayload(46, { subject: 'AI summary', internal: true, type: 'note', sender: 'Agent' }))
    expect(res).toEqual({ status: 200, json: { ticket_id: 46, skipped: 'summary_note' } })
    expect(zammad.requests).toHaveLength(0)
    expect(host.chats).toHaveLength(0)
  })

  test('a bad payload is a 400 that says what was expected, and nothing is called', async () => {
    for (const [payload, code, fragment] of [
      ['{not json', 'invalid_json', 'not valid JSON'],
      ['[1,2]', 'bad_payload', 'ticket is missing'],
      [{ article: { id: 1 } }, 'bad_payload', 'ticket is missing'],
      [{ ticket: { id: 'abc' } }, 'bad_payload', 'ticket.id must be a positive integer'],
      [{ ticket: { id: -3 } }, 'bad_payload', 'ticket.id must be a positive integer'],
    ] as const) {
      const res = await webhook(payload)
      expect(res.status).toBe(400)
      const error = res.json.error as { code: string; message: string }
      expect(error.code).toBe(code)
      expect(error.message).toContain(fragment)
    }
    expect(zammad.requests).toHaveLength(0)
    expect(host.chats).toHaveLength(0)
  })

  test('Zammad down is a 502 that names Zammad and its URL; the failed run is recorded', async () => {
    const gone = await startZammad({ token: TOKEN })
    await gone.stop()
    host.settings.zammad_url = gone.url
    const res = await webhook(zammadWebhookPayload(47))
    expect(res.status).toBe(502)
    const error = res.json.error as { code: string; message: string; upstream_status: number | null }
    expect(error.code).toBe('zammad_error')
    expect(error.message).toBe(`could not reach Zammad at ${gone.url}: fetch failed`)
    expect(error.upstream_status).toBeNull()
    expect(runs(47)[0]?.[1].value).toMatchObject({ status: 'zammad_error', summary: null, error: error.message })
    expect(host.chats).toHaveLength(0)
  })

  test('Zammad refusing the token is a 502 pointing at the api_token setting', async () => {
    seedPrinterTicket(48)
    host.settings.api_token = 'wrong-token'
    const res = await webhook(zammadWebhookPayload(48))
    expect(res.status).toBe(502)
    expect(res.json.error).toEqual({
      code: 'zammad_error',
      message: 'Zammad answered 401 to GET /api/v1/ticket_articles/by_ticket/48 (Authentication failed); check the api_token setting and its permissions',
      upstream_status: 401,
    })
  })

  test('an unknown ticket is a 502 with Zammad’s 404', async () => {
    const res = await webhook(zammadWebhookPayload(4040))
    expect(res.status).toBe(502)
    expect(res.json.error).toMatchObject({ code: 'zammad_error', upstream_status: 404 })
  })

  test('Zammad failing is a 502 with its status', async () => {
    seedPrinterTicket(49)
    zammad.setBehavior('error-500')
    const res = await webhook(zammadWebhookPayload(49))
    expect(res.status).toBe(502)
    expect(res.json.error).toMatchObject({ code: 'zammad_error', upstream_status: 500 })
  })

  test('an LLM failure is a 502 llm_error; no note is posted', async () => {
    seedPrinterTicket(50)
    host.llm = 'fail'
    const res = await webhook(zammadWebhookPayload(50))
    expect(res.status).toBe(502)
    expect(res.json.error).toEqual({
      code: 'llm_error',
      message: 'the summary could not be generated with privatemode-default (budget_exceeded): the monthly budget of 20 USD is spent',
    })
    expect(zammad.created).toHaveLength(0)
    expect(runs(50)[0]?.[1].value).toMatchObject({ status: 'llm_error' })

    host.llm = 'empty'
    expect((await webhook(zammadWebhookPayload(50))).json.error).toMatchObject({ code: 'llm_error', message: 'privatemode-default returned no summary' })
  })

  test('the configured model is the one asked for', async () => {
    seedPrinterTicket(51)
    host.settings.model = 'mistral-small'
    await webhook(zammadWebhookPayload(51))
    expect(host.chats[0]?.model).toBe('mistral-small')
    expect(zammad.created[0]?.body).toContain('by mistral-small')
  })

  test('missing settings are a 503 naming them', async () => {
    host.settings = { webhook_secret: 'x' }
    const res = await webhook(zammadWebhookPayload(52))
    expect(res.status).toBe(503)
    expect(res.json.error).toEqual({ code: 'not_configured', message: 'the plugin is not configured: set zammad_url and api_token in its settings' })
  })

  test('a ticket without articles is skipped', async () => {
    zammad.seed(53, [])
    expect(await webhook(zammadWebhookPayload(53))).toEqual({ status: 200, json: { ticket_id: 53, skipped: 'no_articles' } })
    expect(host.chats).toHaveLength(0)
  })
})

describe('GET /runs/:ticket_id', () => {
  test('lists the stored runs of a ticket, newest first', async () => {
    seedPrinterTicket(60)
    const first = await webhook(zammadWebhookPayload(60))
    await Bun.sleep(2)
    const second = await webhook(zammadWebhookPayload(60))
    const identity = { user_id: 1, source: 'internal' }
    const res = await call('GET', '/runs/60', undefined, identity)
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ ticket_id: 60, total: 2 })
    expect((res.json.runs as { article_id: number }[]).map((r) => r.article_id)).toEqual([second.json.article_id as number, first.json.article_id as number])
    expect(((await call('GET', '/runs/60?limit=1', undefined, identity)).json.runs as unknown[]).length).toBe(1)
    expect(await call('GET', '/runs/61', undefined, identity)).toEqual({ status: 200, json: { ticket_id: 61, total: 0, runs: [] } })
  })

  test('a bad ticket id or limit is a 400', async () => {
    expect((await call('GET', '/runs/abc')).status).toBe(400)
    expect((await call('GET', '/runs/1?limit=500')).status).toBe(400)
  })
})

describe('secrets', () => {
  test('the API token appears in no response, log line, stored run or prompt', () => {
    expect(responses.length).toBeGreaterThan(10)
    const everything = [...responses, ...host.logs, ...host.outbound].join('\n')
    expect(everything).not.toContain(TOKEN)
    expect(host.logs.some((l) => l.includes('summarised from 2 articles'))).toBe(true)
  })

  test('the plugin uses nothing beyond its grants', () => {
    expect(host.denied).toEqual([])
  })
})

describe('fixture', () => {
  test('signZammad is the sha1= prefixed hex HMAC-SHA1 of the raw body', () => {
    expect(signZammad('The quick brown fox jumps over the lazy dog', 'key')).toBe('sha1=de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9')
  })

  test('Zammad routes refuse a missing token', async () => {
    const res = await fetch(`${zammad.url}/api/v1/ticket_articles/by_ticket/42`)
    expect(res.status).toBe(401)
  })
})
