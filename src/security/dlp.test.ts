/**
 * Data-loss prevention: the detectors measured on the corpus (fixtures/dlp-corpus.ts; the rates are printed and
 * quoted in the README), then the gateway: what reaches a provider outside the TEE (redacted, or nothing), what
 * reaches a confidential one (the request as sent), the audit events (kinds, never values) and the policy order
 * (platform, user, key).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { guardChat, guardEmbeddings, ibanValid, luhn, redact, scan, type DlpKind } from './dlp.ts'
import { guardBody } from './dlp-pool.ts'
import { BENIGN, CONTACTS, POSITIVES, randomDigits } from './fixtures/dlp-corpus.ts'

const kinds = (text: string, contacts = false) => scan(text, { contacts }).map((f) => f.kind).sort()

describe('detectors on the corpus', () => {
  test('every true positive is found with its kind, and nothing else is', () => {
    let expected = 0
    let found = 0
    const wrong: string[] = []
    for (const p of [...POSITIVES, ...CONTACTS]) {
      const got = kinds(p.text, true)
      expected += p.kinds.length
      const want = [...p.kinds].sort()
      found += want.filter((k, i) => got.filter((g) => g === k).length > want.slice(0, i).filter((w) => w === k).length).length
      if (got.join() !== want.join()) wrong.push(`${want.join()} != ${got.join()}: ${p.text.slice(0, 60)}`)
    }
    console.log(`DLP recall on the corpus: ${found}/${expected} (${((found / expected) * 100).toFixed(1)}%)`)
    expect(wrong).toEqual([])
  })

  test('benign look-alikes are not found; contacts only when asked for', () => {
    const flagged = BENIGN.filter((b) => kinds(b).length > 0)
    console.log(`DLP false positives on ${BENIGN.length} benign look-alikes: ${flagged.length}`)
    expect(flagged).toEqual([])
    for (const c of CONTACTS) expect(kinds(c.text)).toEqual([])
  })

  test('random 16-digit strings: none failing Luhn is a card; those passing it with an issuer prefix are (the measured rate)', () => {
    const digits = randomDigits(10_000, 16)
    const failing = digits.filter((d) => !luhn(d))
    const flaggedAll = digits.filter((d) => kinds(`ref ${d}.`).includes('card_number'))
    expect(failing.filter((d) => kinds(`ref ${d}.`).length > 0)).toEqual([])
    // About one in ten passes Luhn by chance, and about a third of those start like a card: inherent to bare numbers.
    const rate = flaggedAll.length / digits.length
    console.log(`random 16-digit strings read as cards: ${flaggedAll.length}/${digits.length} (${(rate * 100).toFixed(1)}%); Luhn failures: 0/${failing.length}`)
    expect(rate).toBeLessThan(0.05)
  })

  test('checksums: Luhn and IBAN mod-97', () => {
    expect(luhn('4111111111111111')).toBe(true)
    expect(luhn('4111111111111112')).toBe(false)
    expect(ibanValid('DE89 3704 0044 0532 0130 00')).toBe(true)
    expect(ibanValid('DE89 3704 0044 0532 0130 01')).toBe(false)
    expect(ibanValid('XX89 3704 0044 0532 0130 00')).toBe(false)
  })

  test('redaction replaces each find by its kind, and nothing else', () => {
    const text = 'card 4111 1111 1111 1111 and IBAN DE89370400440532013000, thanks'
    expect(redact(text, scan(text, { contacts: false }))).toBe('card [REDACTED:card_number] and IBAN [REDACTED:iban], thanks')
  })

  test('chat bodies: contents, text parts, tool call arguments and tool results are all searched; the rest is kept', () => {
    const body = {
      model: 'm',
      temperature: 0.2,
      messages: [
        { role: 'system', content: 'Context: pay to GB82WEST12345698765432' },
        { role: 'user', content: [{ type: 'text', text: 'my card 5555555555554444' }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'pay', arguments: '{"card":"4111111111111111"}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'charged 378282246310005' },
      ],
    }
    const r = guardChat(body, { contacts: false })
    expect(r.counts).toEqual({ iban: 1, card_number: 3 })
    const json = JSON.stringify(r.body)
    for (const secret of ['GB82WEST', '5555555555554444', '4111111111111111', '378282246310005']) expect(json).not.toContain(secret)
    expect(r.body.temperature).toBe(0.2)
    expect(JSON.stringify(r.body.messages[1])).toContain('https://x/y.png')
    expect(guardChat({ messages: [{ role: 'user', content: 'nothing here' }] }, { contacts: true }).total).toBe(0)
    expect(guardEmbeddings({ input: ['a', 'card 4111111111111111'] }, { contacts: false }).body.input).toEqual(['a', 'card [REDACTED:card_number]'])
  })

  test('a large body is scanned off the server thread with the same result', async () => {
    const filler = 'lorem ipsum dolor sit amet '.repeat(20_000)
    const body = { messages: [{ role: 'user', content: `${filler} card 4111 1111 1111 1111 ${filler}` }] }
    const r = await guardBody('chat', body, { contacts: false })
    expect(r.counts).toEqual({ card_number: 1 })
    expect(JSON.stringify(r.body)).not.toContain('4111 1111')
    const clean = { messages: [{ role: 'user', content: filler }] }
    expect((await guardBody('chat', clean, { contacts: false })).body).toBe(clean)
  })
})

describe('the gateway', () => {
  let env: TestEnv
  let tee: Upstream
  let open: Upstream
  let user: { id: string; token: string }
  const secret = 'Charge 4111 1111 1111 1111 and use key sk-proj-' + 'a'.repeat(40)

  const newKey = async (token: string, body: Record<string, unknown> = {}) =>
    (await env.call('POST', '/api-internal/v1/api-keys', { token, body: { name: 'dlp', ...body } })).body.key as string
  const ask = (apiKey: string, model: string, content = secret) =>
    env.call('POST', '/api/v1/chat/completions', { apiKey, body: { model, messages: [{ role: 'user', content }] } })
  const lastChat = (u: Upstream) => JSON.stringify(u.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)?.body ?? null)
  /** Security events are written off the request path: waits a little for the first. */
  const events = async (action: string) => {
    for (let i = 0; ; i++) {
      const rows = await env.db.sql<{ details: Record<string, unknown>; actor_api_key_id: string | null }[]>`
        SELECT details, actor_api_key_id FROM audit_log WHERE action = ${action} ORDER BY id`
      if (rows.length > 0 || i >= 50) return rows
      await Bun.sleep(20)
    }
  }

  beforeAll(async () => {
    tee = await startUpstream({ models: ['tee-chat', 'tee-embed'] })
    open = await startUpstream({ models: ['open-chat', 'open-embed'] })
    env = await createTestEnv({ PRIVATEMODE_URL: tee.url, OPENAI_COMPAT_URL: open.url })
    user = await env.user('user')
  })
  afterAll(async () => {
    await env.close()
    await tee.stop()
    await open.stop()
  })

  test('redact (the default): a provider outside the TEE gets the request with the finds replaced; a confidential one gets it as sent', async () => {
    const k = await newKey(user.token)
    const res = await ask(k, 'open-chat')
    expect(res.status).toBe(200)
    const sent = lastChat(open)
    expect(sent).not.toContain('4111 1111')
    expect(sent).not.toContain('sk-proj-')
    expect(sent).toContain('[REDACTED:card_number]')
    expect(sent).toContain('[REDACTED:api_key]')
    expect((await ask(k, 'tee-chat')).status).toBe(200)
    expect(lastChat(tee)).toContain('4111 1111 1111 1111')
    const [event] = await events('security.dlp_redacted')
    expect(event?.details).toMatchObject({ kinds: { card_number: 1, api_key: 1 }, provider: 'openai-compatible', endpoint: 'chat' })
    // The event says what kind and how many, never the value.
    expect(JSON.stringify(event)).not.toContain('4111')
  })

  test('block on a key: 400 dlp_blocked naming the kinds and never the values, and nothing reaches the provider', async () => {
    const k = await newKey(user.token, { dlp_mode: 'block' })
    const before = open.requests.length
    const res = await ask(k, 'open-chat')
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('dlp_blocked')
    expect(res.body.error.message).toContain('card_number')
    expect(res.body.error.message).toContain('api_key')
    expect(res.body.error.message).not.toContain('4111')
    expect(open.requests.length).toBe(before)
    expect((await ask(k, 'open-chat', 'nothing secret here')).status).toBe(200)
    // Confidential models are not subject to it.
    expect((await ask(k, 'tee-chat')).status).toBe(200)
    expect((await events('security.dlp_blocked')).length).toBeGreaterThan(0)
  })

  test('embeddings leaving the TEE are redacted too (documents indexed with a non-confidential model)', async () => {
    const k = await newKey(user.token)
    const res = await env.call('POST', '/api/v1/embeddings', { apiKey: k, body: { model: 'open-embed', input: ['IBAN DE89 3704 0044 0532 0130 00'] } })
    expect(res.status).toBe(200)
    const sent = JSON.stringify(open.requests.filter((r) => r.path === '/v1/embeddings').at(-1)?.body)
    expect(sent).toContain('[REDACTED:iban]')
    expect(sent).not.toContain('DE89')
  })

  test("a key cannot relax its owner's policy; an administrator's user setting and the platform setting apply", async () => {
    const admin = await env.adminToken()
    const u = await env.user('user')
    await env.call('PATCH', `/api-internal/v1/users/${u.id}`, { token: admin, body: { dlp_mode: 'block' } })
    const relaxed = await newKey(u.token, { dlp_mode: 'off' })
    expect((await ask(relaxed, 'open-chat')).body.error?.code).toBe('dlp_blocked')
    await env.call('PATCH', `/api-internal/v1/users/${u.id}`, { token: admin, body: { dlp_mode: 'off' } })
    const before = open.requests.length
    expect((await ask(relaxed, 'open-chat')).status).toBe(200)
    expect(lastChat(open)).toContain('4111 1111 1111 1111')
    expect(open.requests.length).toBe(before + 1)
    // The platform's mode applies to users without their own.
    await env.call('PATCH', `/api-internal/v1/users/${u.id}`, { token: admin, body: { dlp_mode: null } })
    const put = await env.call('PUT', '/api-internal/v1/security/settings', { token: admin, body: { dlp_mode: 'block' } })
    expect(put.status).toBe(200)
    try {
      expect((await ask(relaxed, 'open-chat')).body.error?.code).toBe('dlp_blocked')
    } finally {
      await env.call('PUT', '/api-internal/v1/security/settings', { token: admin, body: { dlp_mode: 'redact' } })
    }
  })

  test('the playground and chatbots go through the same DLP', async () => {
    const res = await env.call('POST', '/api-internal/v1/llm/chat/completions', {
      token: user.token,
      body: { model: 'open-chat', messages: [{ role: 'user', content: 'my IBAN is NL91ABNA0417164300' }] },
    })
    expect(res.status).toBe(200)
    expect(lastChat(open)).toContain('[REDACTED:iban]')
    const bot = await env.call('POST', '/api-internal/v1/chatbots', { token: user.token, body: { name: 'dlp bot', model: 'open-chat' } })
    expect((await env.call('POST', `/api-internal/v1/chatbot/${bot.body.id}/chat`, { token: user.token, body: { message: 'card 5555 5555 5555 4444' } })).status).toBe(200)
    expect(lastChat(open)).toContain('[REDACTED:card_number]')
    expect(lastChat(open)).not.toContain('5555 5555')
  })
})

export type { DlpKind }
