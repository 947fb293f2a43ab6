/**
 * Prompt variables: only the chatbot's own variables and the built-in ones ({{company}}, {{date}}) resolve; an
 * unknown placeholder stays as written; names follow one rule, and the names that reach Object.prototype are refused.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { renderPrompt } from './templates.ts'

const NOW = new Date('2026-03-04T10:00:00Z')

describe('renderPrompt', () => {
  const cases: [template: string, variables: Record<string, string>, expected: string][] = [
    ['Hi {{company}}', {}, 'Hi our organisation'],
    ['Hi {{company}}', { company: 'Acme' }, 'Hi Acme'],
    ['Today is {{date}}', { date: '1999-01-01' }, 'Today is 2026-03-04'],
    ['{{ greeting }}, {{name}}', { greeting: 'Hello', name: 'Ada' }, 'Hello, Ada'],
    ['{{unknown}} stays', {}, '{{unknown}} stays'],
    ['{{constructor}}', {}, '{{constructor}}'],
    ['{{__proto__}}', {}, '{{__proto__}}'],
    ['{{toString}} {{valueOf}} {{hasOwnProperty}}', {}, '{{toString}} {{valueOf}} {{hasOwnProperty}}'],
    ['{{prototype}}', {}, '{{prototype}}'],
    // Stored before names were checked: a reserved name never resolves, even as an own property.
    ['{{__proto__}} {{constructor}}', JSON.parse('{"__proto__": "x", "constructor": "y"}'), '{{__proto__}} {{constructor}}'],
    ['$& and $1 are literal', { company: '$&' }, '$& and $1 are literal'],
    ['{{company}}', { company: '$& $1 $$' }, '$& $1 $$'],
  ]
  test.each(cases)('%p with %p', (template, variables, expected) => {
    expect(renderPrompt(template, variables, NOW)).toBe(expected)
  })
})

let env: TestEnv
let up: Upstream
let owner: Awaited<ReturnType<TestEnv['user']>>
const C = '/api-internal/v1/chatbots'

beforeAll(async () => {
  up = await startUpstream({ models: ['bot-model'] })
  env = await createTestEnv({ OPENAI_COMPAT_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  owner = await env.user('user')
})
afterAll(async () => {
  await env?.close()
  await up?.stop()
})

/** Raw JSON, so a `__proto__` key reaches the server as an own property, as any client can send it. */
const post = (json: string) => env.call('POST', C, { token: owner.token, body: json })
const systemSent = () => (up.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)!.body as { messages: { content: string }[] }).messages[0]!.content

describe('the system prompt sent upstream', () => {
  test("{{constructor}}, {{__proto__}} and {{toString}} are sent as written; the chatbot's variables and the built-ins resolve", async () => {
    const created = await post(
      JSON.stringify({
        name: 'vars',
        model: 'bot-model',
        system_prompt: 'A {{constructor}} B {{__proto__}} C {{toString}} D {{company}} E {{date}} F {{tone}} G {{missing}}',
        prompt_variables: { tone: 'calm' },
      }),
    )
    expect(created.status).toBe(201)
    expect((await env.call('POST', `/api-internal/v1/chatbot/${created.body.id}/chat`, { token: owner.token, body: { message: 'hi' } })).status).toBe(200)
    const today = new Date().toISOString().slice(0, 10)
    expect(systemSent()).toBe(`A {{constructor}} B {{__proto__}} C {{toString}} D our organisation E ${today} F calm G {{missing}}`)
    expect(systemSent()).not.toContain('[native code]')
    expect(systemSent()).not.toContain('[object Object]')
  })
})

describe('variable names', () => {
  test.each(['__proto__', 'constructor', 'prototype', '1st', 'with-dash', 'with space', `x${'y'.repeat(64)}`, ''])(
    'the name %p is refused with a 400 naming the rule, on create and on update',
    async (name) => {
      const body = `{"name":"bad","model":"bot-model","prompt_variables":{${JSON.stringify(name)}:"x"}}`
      const res = await post(body)
      expect(res.status).toBe(400)
      expect(res.body.error.code).toBe('validation_failed')
      expect(res.body.error.param).toBe(`prompt_variables.${name}`)
      expect(res.body.error.message).toContain('^[A-Za-z_][A-Za-z0-9_]{0,63}$')
      expect(res.body.error.message).toContain('__proto__, constructor, prototype')

      const ok = await post(JSON.stringify({ name: 'good', model: 'bot-model' }))
      const patched = await env.call('PATCH', `${C}/${ok.body.id}`, { token: owner.token, body: `{"prompt_variables":{${JSON.stringify(name)}:"x"}}` })
      expect(patched.status).toBe(400)
      expect(patched.body.error.param).toBe(`prompt_variables.${name}`)
      expect((await env.call('GET', `${C}/${ok.body.id}`, { token: owner.token })).body.prompt_variables).toEqual({})
    },
  )

  test('ordinary names are kept', async () => {
    const res = await post(JSON.stringify({ name: 'ok', model: 'bot-model', prompt_variables: { company: 'Acme', _x: '1', Tone2: 'warm' } }))
    expect(res.status).toBe(201)
    expect(res.body.prompt_variables).toEqual({ company: 'Acme', _x: '1', Tone2: 'warm' })
  })
})

describe('a prompt template as the instructions', () => {
  test("its instructions and messages reach the model with the chatbot's variables; a missing variable or another user's template is refused when saved", async () => {
    const P = '/api-internal/v1/prompts'
    const template = await env.call('POST', P, {
      token: owner.token,
      body: { name: 'support', instructions: 'You answer for {{shop}}.', messages: [{ role: 'assistant', content: 'Welcome to {{shop}}!' }], variables: [{ name: 'shop' }] },
    })
    expect(template.status).toBe(201)
    const missing = await post(JSON.stringify({ name: 'p', model: 'bot-model', prompt_id: template.body.id }))
    expect(missing.status).toBe(400)
    expect(missing.body.error.param).toBe('prompt_variables.shop')
    const bot = await post(JSON.stringify({ name: 'p', model: 'bot-model', prompt_id: template.body.id, prompt_variables: { shop: 'Bike Barn' } }))
    expect(bot.status).toBe(201)
    expect((await env.call('POST', `/api-internal/v1/chatbot/${bot.body.id}/chat`, { token: owner.token, body: { message: 'hi' } })).status).toBe(200)
    const sent = (up.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)!.body as { messages: { role: string; content: string }[] }).messages
    expect(sent.map((m) => `${m.role}:${m.content}`)).toEqual(['system:You answer for Bike Barn.', 'assistant:Welcome to Bike Barn!', 'user:hi'])
    // A new version of the template is used from the next turn on.
    await env.call('PATCH', `${P}/${template.body.id}`, { token: owner.token, body: { instructions: 'You sell bikes for {{shop}}.' } })
    await env.call('POST', `/api-internal/v1/chatbot/${bot.body.id}/chat`, { token: owner.token, body: { message: 'again' } })
    expect(systemSent()).toBe('You sell bikes for Bike Barn.')
    const other = await env.user('user')
    const theirs = await env.call('POST', C, { token: other.token, body: { name: 'x', model: 'bot-model', prompt_id: template.body.id, prompt_variables: { shop: 'x' } } })
    expect(theirs.status).toBe(404)
    expect(theirs.body.error.param).toBe('prompt_id')
    // Deleting the template leaves the chatbot on its own system prompt.
    await env.call('DELETE', `${P}/${template.body.id}`, { token: owner.token })
    expect((await env.call('GET', `${C}/${bot.body.id}`, { token: owner.token })).body.prompt_id).toBeNull()
  })
})
