/** Chatbots: CRUD and ownership, templates, grounding with sources, fallback, memory trimming, the external chat API. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { countTokens } from '../gateway/tokens.ts'

let env: TestEnv
let up: Upstream
let owner: Awaited<ReturnType<TestEnv['user']>>
let other: Awaited<ReturnType<TestEnv['user']>>
let collectionId: string
const C = '/api-internal/v1/chatbots'

beforeAll(async () => {
  up = await startUpstream({ models: ['bot-model'] })
  env = await createTestEnv({ OPENAI_COMPAT_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  owner = await env.user('user')
  other = await env.user('user')
  collectionId = await env.collection(
    owner.token,
    { 'coffee.txt': 'The office coffee machine is descaled every Friday by the facilities team.', 'parking.txt': 'Parking permits are renewed each January at the front desk.' },
    { name: 'kb' },
  )
})
afterAll(async () => {
  await env.close()
  await up.stop()
})

const create = async (body: Record<string, unknown>, token = owner.token) => {
  const res = await env.call('POST', C, { token, body: { name: 'bot', model: 'bot-model', ...body } })
  expect(res.status).toBe(201)
  return res.body as { id: string; system_prompt: string }
}
const chat = (id: string, body: Record<string, unknown>, token = owner.token) =>
  env.call('POST', `/api-internal/v1/chatbot/${id}/chat`, { token, body })
const lastUpstream = () => up.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)!.body as { messages: { role: string; content: string }[] }

describe('builder', () => {
  test('a type brings its template; another user cannot see or use the chatbot', async () => {
    const bot = await create({ type: 'customer_support', prompt_variables: { company: 'Acme' } })
    expect(bot.system_prompt).toContain('customer support agent for {{company}}')
    expect((await env.call('GET', `${C}/${bot.id}`, { token: other.token })).status).toBe(404)
    expect((await env.call('PATCH', `${C}/${bot.id}`, { token: other.token, body: { name: 'mine' } })).status).toBe(404)
    expect((await chat(bot.id, { message: 'hi' }, other.token)).status).toBe(404)
    expect((await env.call('GET', `${C}/${bot.id}`, { token: await env.adminToken() })).status).toBe(200)
    const foreignCollection = await env.call('POST', C, { token: other.token, body: { name: 'x', model: 'bot-model', rag_collections: [collectionId] } })
    expect(foreignCollection.status).toBe(404)
  })

  test('template variables are filled in what goes upstream', async () => {
    const bot = await create({ type: 'customer_support', prompt_variables: { company: 'Acme Corp' } })
    expect((await chat(bot.id, { message: 'hello' })).status).toBe(200)
    const system = lastUpstream().messages[0]!
    expect(system.role).toBe('system')
    expect(system.content).toContain('Acme Corp')
    expect(system.content).toContain(new Date().toISOString().slice(0, 10))
    expect(system.content).not.toContain('{{')
  })
})

describe('grounded chat', () => {
  test('the upstream receives the retrieved chunks and the answer carries their sources', async () => {
    const bot = await create({ rag_collections: [collectionId], rag_top_k: 1, rag_mode: 'lexical' })
    const res = await chat(bot.id, { message: 'when is the coffee machine descaled?' })
    expect(res.status).toBe(200)
    expect(res.body.sources).toHaveLength(1)
    expect(res.body.sources[0]).toMatchObject({ index: 1, document_name: 'coffee.txt', collection_id: collectionId })
    expect(lastUpstream().messages[0]!.content).toContain('descaled every Friday')
    expect(lastUpstream().messages[0]!.content).not.toContain('Parking permits')
    const conv = await env.call('GET', `${C}/${bot.id}/conversations/${res.body.conversation_id}`, { token: owner.token })
    expect(conv.body.data.map((m: any) => m.role)).toEqual(['user', 'assistant'])
    expect(conv.body.data[1].sources[0].document_name).toBe('coffee.txt')
  })

  test('with must_cite, the citations the answer makes come back as structured sources', async () => {
    const bot = await create({ rag_collections: [collectionId], rag_top_k: 2, rag_mode: 'lexical', must_cite: true })
    // The local upstream echoes the question, so the answer cites [1] exactly when the question does.
    const res = await chat(bot.id, { message: 'coffee machine descaled parking? see [1]' })
    expect(lastUpstream().messages[0]!.content).toContain('square brackets')
    expect(res.body.citations.map((c: any) => c.index)).toEqual([1])
    expect(res.body.citations[0].document_name).toBe(res.body.sources[0].document_name)
  })

  test('nothing relevant: the fallback response, without asking the model', async () => {
    const bot = await create({ rag_collections: [collectionId], rag_mode: 'lexical', fallback_response: 'Sorry, I only know office matters.' })
    const before = up.requests.length
    const res = await chat(bot.id, { message: 'quantum chromodynamics' })
    expect(res.body).toMatchObject({ response: 'Sorry, I only know office matters.', fallback: true, sources: [] })
    expect(up.requests.length).toBe(before)
  })
})

describe('memory', () => {
  test('history is trimmed oldest first to fit the context window by real token counts; the new message never', async () => {
    const bot = await create({ context_window: 700, max_tokens: 100, memory_length: 50 })
    const long = (i: number) => `message ${i}: ${'lorem ipsum dolor sit amet '.repeat(12)}`
    let conversation: string | undefined
    for (let i = 0; i < 6; i++) {
      const res = await chat(bot.id, { message: long(i), ...(conversation ? { conversation_id: conversation } : {}) })
      expect(res.status).toBe(200)
      conversation = res.body.conversation_id
    }
    const sent = lastUpstream().messages
    expect(sent.at(-1)).toEqual({ role: 'user', content: long(5) })
    const total = sent.reduce((n, m) => n + countTokens(m.content) + 4, 3)
    expect(total).toBeLessThanOrEqual(700 - 100)
    // Some history was kept, the oldest was dropped.
    expect(sent.length).toBeGreaterThan(2)
    expect(sent.some((m) => m.content === long(0))).toBe(false)
    const tooLong = await chat(bot.id, { message: 'word '.repeat(2000), conversation_id: conversation! })
    expect(tooLong.status).toBe(400)
    expect(tooLong.body.error.param).toBe('message')
  })
})

describe('external API', () => {
  test('keys with the chatbots scope, narrowed to chatbots; conversations belong to their key', async () => {
    const bot = await create({})
    const otherBot = await create({})
    const key = async (body: Record<string, unknown>) =>
      (await env.call('POST', '/api-internal/v1/api-keys', { token: owner.token, body: { name: 'k', ...body } })).body.key as string
    const narrow = await key({ scopes: ['chatbots'], allowed_chatbots: [bot.id] })
    const second = await key({ scopes: ['chatbots'] })
    const llm = await key({ scopes: ['llm'] })
    const first = await env.call('POST', `/api/v1/chatbot/${bot.id}/chat`, { apiKey: narrow, body: { message: 'hello there' } })
    expect(first.status).toBe(200)
    expect(first.body.response).toContain('hello there')
    const again = await env.call('POST', `/api/v1/chatbot/${bot.id}/chat`, {
      apiKey: narrow,
      body: { message: 'and again', conversation_id: first.body.conversation_id },
    })
    expect(again.body.conversation_id).toBe(first.body.conversation_id)
    expect(lastUpstream().messages.map((m) => m.content)).toEqual(expect.arrayContaining(['hello there', 'and again']))
    expect((await env.call('POST', `/api/v1/chatbot/${otherBot.id}/chat`, { apiKey: narrow, body: { message: 'x' } })).status).toBe(404)
    expect(
      (await env.call('POST', `/api/v1/chatbot/${bot.id}/chat`, { apiKey: second, body: { message: 'x', conversation_id: first.body.conversation_id } })).status,
    ).toBe(404)
    expect((await env.call('POST', `/api/v1/chatbot/${bot.id}/chat`, { apiKey: llm, body: { message: 'x' } })).status).toBe(403)
    await env.s.ledger.flush()
    const [usage] = await env.s.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM usage_records WHERE source = 'chatbot' AND request_id LIKE ${`chatbot:${bot.id}:%`}`
    expect(usage!.n).toBeGreaterThan(0)
  })
})

describe('streaming and the OpenAI-style API', () => {
  test('the test chat streams start, deltas and done, and keeps the turn', async () => {
    const bot = await create({ rag_collections: [collectionId], rag_mode: 'lexical', rag_top_k: 1 })
    const base = env.listen()
    const res = await fetch(`${base}/api-internal/v1/chatbot/${bot.id}/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'parking permits renewed when', stream: true }),
    })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const events = [...(await res.text()).matchAll(/event: (\w+)\ndata: (.+)\n/g)].map((m) => [m[1], JSON.parse(m[2]!)] as [string, any])
    expect(events[0]![0]).toBe('start')
    expect(events[0]![1].sources[0].document_name).toBe('parking.txt')
    const deltas = events.filter(([e]) => e === 'delta').map(([, d]) => d.content)
    expect(deltas.length).toBeGreaterThan(1)
    const done = events.at(-1)!
    expect(done[0]).toBe('done')
    expect(done[1].response).toBe(deltas.join(''))
    expect(done[1].response).toContain('parking permits renewed when')
    const stored = await env.call('GET', `${C}/${bot.id}/conversations/${done[1].conversation_id}`, { token: owner.token })
    expect(stored.body.data[1].content).toBe(done[1].response)
  })

  test('a model stream that breaks off ends the test chat with an error event, and no half answer is kept', async () => {
    const bot = await create({})
    const base = env.listen()
    // The model list is in before the upstream starts breaking its streams.
    expect((await chat(bot.id, { message: 'warm up' })).status).toBe(200)
    up.setBehavior('cut-stream')
    try {
      const res = await fetch(`${base}/api-internal/v1/chatbot/${bot.id}/chat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'tell me a long story about parking', stream: true }),
      })
      const events = [...(await res.text()).matchAll(/event: (\w+)\ndata: (.+)\n/g)].map((m) => [m[1], JSON.parse(m[2]!)] as [string, any])
      expect(events.map(([e]) => e)).toContain('delta')
      const last = events.at(-1)!
      expect(last[0]).toBe('error')
      expect(last[1].error.code).toBe('upstream_error')
      const conversationId = events[0]![1].conversation_id
      const stored = await env.call('GET', `${C}/${bot.id}/conversations/${conversationId}`, { token: owner.token })
      expect(stored.body.data.filter((m: { role: string }) => m.role === 'assistant')).toHaveLength(0)
    } finally {
      up.setBehavior('ok')
    }
  })

  test('the official openai client talks to a chatbot through its base URL, with and without streaming', async () => {
    const { default: OpenAI } = await import('openai')
    const bot = await create({ rag_collections: [collectionId], rag_mode: 'lexical', rag_top_k: 1 })
    const key = (await env.call('POST', '/api-internal/v1/api-keys', { token: owner.token, body: { name: 'oa', scopes: ['chatbots'] } })).body.key
    const client = new OpenAI({ baseURL: `${env.listen()}/api/v1/chatbot/${bot.id}/v1`, apiKey: key })
    expect((await client.models.list()).data.map((m) => m.id)).toEqual([bot.id])
    const answer = await client.chat.completions.create({
      model: bot.id,
      messages: [
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'first answer' },
        { role: 'user', content: 'how often is the coffee machine descaled' },
      ],
    })
    expect(answer.choices[0]!.message.content).toContain('coffee machine descaled')
    expect((answer as unknown as { sources: { document_name: string }[] }).sources[0]!.document_name).toBe('coffee.txt')
    expect(lastUpstream().messages.map((m) => m.content).slice(1)).toEqual(['first question', 'first answer', 'how often is the coffee machine descaled'])
    const stream = await client.chat.completions.create({ model: bot.id, messages: [{ role: 'user', content: 'stream about parking' }], stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
    expect(text).toContain('stream about parking')
    const denied = await new OpenAI({ baseURL: `${env.listen()}/api/v1/chatbot/${crypto.randomUUID()}/v1`, apiKey: key }).models.list().catch((e) => e)
    expect(denied.status).toBe(404)
  })
})

describe('templates', () => {
  test("an administrator replaces a type's default and resets it; users keep templates of their own", async () => {
    const T = `${C}/templates`
    const initial = (await env.call('GET', T, { token: owner.token })).body
    expect(initial.defaults.teacher).toMatchObject({ builtin: true })
    expect((await env.call('PUT', `${T}/defaults/teacher`, { token: owner.token, body: { content: 'x' } })).status).toBe(403)
    const admin = await env.adminToken()
    expect((await env.call('PUT', `${T}/defaults/teacher`, { token: admin, body: { content: 'You teach {{company}} staff.' } })).status).toBe(200)
    expect((await create({ type: 'teacher' })).system_prompt).toBe('You teach {{company}} staff.')
    expect((await env.call('DELETE', `${T}/defaults/teacher`, { token: admin })).body.builtin).toBe(true)
    expect((await create({ type: 'teacher' })).system_prompt).toBe(initial.defaults.teacher.content)

    const mine = await env.call('POST', T, { token: owner.token, body: { name: 'terse', content: 'Answer in one sentence.' } })
    expect(mine.status).toBe(201)
    expect((await env.call('GET', `${T}/${mine.body.id}`, { token: other.token })).status).toBe(404)
    expect((await env.call('PATCH', `${T}/${mine.body.id}`, { token: owner.token, body: { content: 'Answer in two sentences.' } })).body.content).toBe(
      'Answer in two sentences.',
    )
    expect((await env.call('GET', T, { token: owner.token })).body.custom.map((t: any) => t.name)).toEqual(['terse'])
    expect((await env.call('DELETE', `${T}/${mine.body.id}`, { token: owner.token })).status).toBe(204)
  })

  test('"improve this prompt" asks a model through the gateway, charged to the user', async () => {
    const res = await env.call('POST', `${C}/templates/improve`, { token: owner.token, body: { prompt: 'be nice to {{company}} customers', model: 'bot-model' } })
    expect(res.status).toBe(200)
    expect(res.body.improved).toContain('be nice to {{company}} customers')
    expect(lastUpstream().messages[0]!.content).toContain('improve system prompts')
    await env.s.ledger.flush()
    const [row] = await env.s.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM usage_records WHERE user_id = ${owner.id} AND source = 'playground'`
    expect(row!.n).toBeGreaterThan(0)
  })
})
