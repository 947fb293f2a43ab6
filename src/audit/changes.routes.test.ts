/** Update routes record what they changed, before and after, so the audit log can show it (never a secret). */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'

let env: TestEnv
let up: Upstream
let token: string

beforeAll(async () => {
  up = await startUpstream({ models: ['tee-chat'] })
  env = await createTestEnv({ PRIVATEMODE_URL: up.url })
  token = await env.adminToken()
})
afterAll(async () => {
  await env?.close()
  await up?.stop()
})

async function lastEvent(action: string) {
  const res = await env.call('GET', `/api-internal/v1/audit?action=${action}&limit=1`, { token })
  expect(res.status).toBe(200)
  return res.body.data[0]
}

describe('audited updates carry before and after', () => {
  test('budget, collection, chatbot and API key', async () => {
    const budget = await env.call('POST', '/api-internal/v1/budgets', { token, body: { name: 'b1', scope: 'global', limit_usd: 5, period: 'monthly' } })
    expect(budget.status).toBe(201)
    expect((await env.call('PATCH', `/api-internal/v1/budgets/${budget.body.id}`, { token, body: { limit_usd: 7.5, name: 'b1' } })).status).toBe(200)
    const b = await lastEvent('budget.update')
    expect(b.details.changes).toEqual({ limit_usd: { from: 5, to: 7.5 } })

    const col = await env.call('POST', '/api-internal/v1/rag/collections', { token, body: { name: 'c1' } })
    expect((await env.call('PATCH', `/api-internal/v1/rag/collections/${col.body.id}`, { token, body: { description: 'now described' } })).status).toBe(200)
    expect((await lastEvent('rag.collection.update')).details.changes).toEqual({ description: { from: '', to: 'now described' } })

    const bot = await env.call('POST', '/api-internal/v1/chatbots', { token, body: { name: 'bot1', model: 'tee-chat' } })
    expect((await env.call('PATCH', `/api-internal/v1/chatbots/${bot.body.id}`, { token, body: { temperature: 0.2, prompt_variables: { company: 'Acme' } } })).status).toBe(200)
    const c = await lastEvent('chatbot.update')
    expect(c.details.changes.temperature.to).toBe(0.2)
    expect(c.details.changes.prompt_variables).toEqual({ from: {}, to: { company: 'Acme' } })

    const key = await env.call('POST', '/api-internal/v1/api-keys', { token, body: { name: 'k1' } })
    expect((await env.call('PATCH', `/api-internal/v1/api-keys/${key.body.id}`, { token, body: { name: 'k2' } })).status).toBe(200)
    const k = await lastEvent('api_key.update')
    expect(k.details.changes).toEqual({ name: { from: 'k1', to: 'k2' } })
    expect(JSON.stringify(k.details)).not.toContain(key.body.key)
  })
})
