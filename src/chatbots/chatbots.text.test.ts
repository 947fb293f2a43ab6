/**
 * U+0000 cannot be stored by PostgreSQL (`text` and `jsonb` alike). Every chatbot input that would be stored is
 * refused with a 400 naming the field before anything is stored or charged; a model answer holding it is kept with
 * U+FFFD instead of failing after the charge.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { ApiError } from '../http/errors.ts'

const NUL = '\u0000'
/** A message containing this makes the upstream below answer with a NUL in its text. */
const ASK_FOR_NUL = 'please answer with a nul'

let env: TestEnv
let up: Upstream
let model: ReturnType<typeof Bun.serve>
let owner: Awaited<ReturnType<TestEnv['user']>>
let bot: { id: string }
const C = '/api-internal/v1/chatbots'

/** The usual mock upstream, except that it answers ASK_FOR_NUL with "a<NUL>b" (as JSON or as a stream). */
function nulAnsweringModel(target: string) {
  return Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const url = new URL(req.url)
      const text = req.method === 'POST' ? await req.text() : undefined
      if (!text?.includes(ASK_FOR_NUL)) return fetch(`${target}${url.pathname.replace(/^\/v1/, '')}`, { method: req.method, headers: req.headers, body: text ?? null })
      const { model, stream } = JSON.parse(text) as { model: string; stream?: boolean }
      const base = { id: 'chatcmpl-nul', created: 1, model }
      const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 }
      if (!stream)
        return Response.json({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: `a${NUL}b` }, finish_reason: 'stop' }], usage })
      const chunk = (delta: object, finish: string | null) => ({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })
      const events = [chunk({ role: 'assistant', content: `a${NUL}` }, null), chunk({ content: 'b' }, 'stop'), { ...base, object: 'chat.completion.chunk', choices: [], usage }]
      return new Response(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n', { headers: { 'content-type': 'text/event-stream' } })
    },
  })
}

beforeAll(async () => {
  up = await startUpstream({ models: ['bot-model'] })
  model = nulAnsweringModel(up.url)
  env = await createTestEnv({ OPENAI_COMPAT_URL: `http://127.0.0.1:${model.port}/v1`, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  owner = await env.user('user')
  bot = (await env.call('POST', C, { token: owner.token, body: { name: 'bot', model: 'bot-model' } })).body
})
afterAll(async () => {
  await env?.close()
  await model?.stop(true)
  await up?.stop()
})

const chatCalls = () => up.requests.filter((r) => r.path === '/v1/chat/completions').length
async function usageRows(): Promise<number> {
  await env.s.ledger.flush()
  const [row] = await env.s.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM usage_records WHERE user_id = ${owner.id}`
  return row!.n
}
function expectRefused(res: { status: number; body: any }, param: string) {
  expect(res.status).toBe(400)
  expect(res.body.error.code).toBe('validation_failed')
  expect(res.body.error.param).toBe(param)
  expect(res.body.error.message).toContain(`'${param}' must not contain the NUL character (U+0000)`)
  expect(res.body.error.request_id).toBeString()
}

describe('chatbot settings and templates', () => {
  test.each([
    ['name', { name: `a${NUL}b` }],
    ['model', { model: `bot${NUL}` }],
    ['system_prompt', { system_prompt: `Be kind${NUL}` }],
    ['fallback_response', { fallback_response: NUL }],
    ['prompt_variables.company', { prompt_variables: { company: `Ac${NUL}me` } }],
    ['prompt_variables.co\\u0000', { prompt_variables: { [`co${NUL}`]: 'x' } }],
  ])('%s: refused on create and on update', async (param, fields) => {
    expectRefused(await env.call('POST', C, { token: owner.token, body: { name: 'bot', model: 'bot-model', ...fields } }), param)
    expectRefused(await env.call('PATCH', `${C}/${bot.id}`, { token: owner.token, body: fields }), param)
  })

  test('templates: a user template, an administrator default, the prompt to improve (which would be charged)', async () => {
    const T = `${C}/templates`
    expectRefused(await env.call('POST', T, { token: owner.token, body: { name: `t${NUL}`, content: 'x' } }), 'name')
    const mine = await env.call('POST', T, { token: owner.token, body: { name: 't', content: 'x' } })
    expectRefused(await env.call('PATCH', `${T}/${mine.body.id}`, { token: owner.token, body: { content: NUL } }), 'content')
    expectRefused(await env.call('PUT', `${T}/defaults/teacher`, { token: await env.adminToken(), body: { content: `x${NUL}` } }), 'content')
    const calls = chatCalls()
    expectRefused(await env.call('POST', `${T}/improve`, { token: owner.token, body: { prompt: `p${NUL}`, model: 'bot-model' } }), 'prompt')
    expect(chatCalls()).toBe(calls)
  })
})

describe('messages', () => {
  test('a first message with NUL: 400, no conversation and no model call', async () => {
    const calls = chatCalls()
    expectRefused(await env.call('POST', `/api-internal/v1/chatbot/${bot.id}/chat`, { token: owner.token, body: { message: `hi${NUL}` } }), 'message')
    expect(chatCalls()).toBe(calls)
    expect((await env.call('GET', `${C}/${bot.id}/conversations`, { token: owner.token })).body.data).toEqual([])
  })

  test('a second turn with NUL: 400 before the model is called or anything is charged; the conversation keeps its first turn', async () => {
    const first = await env.call('POST', `/api-internal/v1/chatbot/${bot.id}/chat`, { token: owner.token, body: { message: 'hello' } })
    expect(first.status).toBe(200)
    const [calls, charged] = [chatCalls(), await usageRows()]
    const second = await env.call('POST', `/api-internal/v1/chatbot/${bot.id}/chat`, {
      token: owner.token,
      body: { message: `again${NUL}`, conversation_id: first.body.conversation_id },
    })
    expectRefused(second, 'message')
    expect(chatCalls()).toBe(calls)
    expect(await usageRows()).toBe(charged)
    const stored = await env.call('GET', `${C}/${bot.id}/conversations/${first.body.conversation_id}`, { token: owner.token })
    expect(stored.body.data.map((m: { content: string }) => m.content)).toEqual(['hello', 'echo: hello'])
  })

  test('the streamed test chat answers the 400 itself, not a 200 with an error event', async () => {
    const res = await env.call('POST', `/api-internal/v1/chatbot/${bot.id}/chat`, { token: owner.token, body: { message: NUL, stream: true } })
    expect(res.headers.get('content-type')).toContain('application/json')
    expectRefused(res, 'message')
  })

  test('the external API, the OpenAI-style API (history too) and the widget', async () => {
    const key = (await env.call('POST', '/api-internal/v1/api-keys', { token: owner.token, body: { name: 'k', scopes: ['chatbots'] } })).body.key
    const calls = chatCalls()
    expectRefused(await env.call('POST', `/api/v1/chatbot/${bot.id}/chat`, { apiKey: key, body: { message: `x${NUL}` } }), 'message')
    const completions = `/api/v1/chatbot/${bot.id}/v1/chat/completions`
    expectRefused(await env.call('POST', completions, { apiKey: key, body: { model: bot.id, messages: [{ role: 'user', content: `x${NUL}` }] } }), 'messages.0.content')
    const withHistory = {
      model: bot.id,
      stream: true,
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: `a${NUL}` },
        { role: 'user', content: 'next' },
      ],
    }
    expectRefused(await env.call('POST', completions, { apiKey: key, body: withHistory }), 'messages.1.content')
    const widgetKey = (
      await env.call('POST', '/api-internal/v1/api-keys', {
        token: owner.token,
        body: { name: 'w', scopes: ['chatbots'], allowed_chatbots: [bot.id], allowed_origins: ['https://shop.example'] },
      })
    ).body.key
    const widget = await env.call('POST', `/api/v1/widget/${bot.id}/chat`, {
      headers: { 'x-api-key': widgetKey, origin: 'https://shop.example' },
      body: { message: `x${NUL}` },
    })
    expectRefused(widget, 'message')
    expect(chatCalls()).toBe(calls)
  })

  test('callers inside the server (plugins) get the same refusals from the service', async () => {
    const row = await env.s.chatbots.get({ userId: owner.id, isAdmin: false }, bot.id)
    const caller = { source: 'chatbot' as const, userId: owner.id, apiKey: null, requestId: 'plugin:x:1', startedAt: performance.now() }
    const speaker = { userId: null, apiKeyId: null, source: 'plugin' as const }
    const signal = new AbortController().signal
    const refused = await env.s.chatbots.chat(row, { message: `x${NUL}` }, caller, speaker, signal).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(ApiError)
    expect(refused).toMatchObject({ status: 400, code: 'validation_failed', param: 'message' })
    const badId = await env.s.chatbots.chat(row, { message: 'x', conversation_id: 'not-a-uuid' }, { ...caller }, speaker, signal).catch((e: unknown) => e)
    expect(badId).toMatchObject({ status: 400, code: 'validation_failed', param: 'conversation_id' })
  })
})

describe('a model answer with NUL', () => {
  test('is kept with U+FFFD in its place, streamed or not, and the turn is saved', async () => {
    const res = await env.call('POST', `/api-internal/v1/chatbot/${bot.id}/chat`, { token: owner.token, body: { message: ASK_FOR_NUL } })
    expect(res.status).toBe(200)
    expect(res.body.response).toBe('a\uFFFDb')
    const streamed = await env.call('POST', `/api-internal/v1/chatbot/${bot.id}/chat`, {
      token: owner.token,
      body: { message: ASK_FOR_NUL, conversation_id: res.body.conversation_id, stream: true },
    })
    expect(streamed.status).toBe(200)
    const events = [...String(streamed.body).matchAll(/event: (\w+)\ndata: (.+)\n/g)].map((m) => m[1])
    expect(events.at(-1)).toBe('done')
    const stored = await env.call('GET', `${C}/${bot.id}/conversations/${res.body.conversation_id}`, { token: owner.token })
    expect(stored.body.data.map((m: { content: string }) => m.content)).toEqual([ASK_FOR_NUL, 'a\uFFFDb', ASK_FOR_NUL, 'a\uFFFDb'])
  })
})
