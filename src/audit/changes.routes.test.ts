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

  test('provider, model settings, MCP server, notification channel, agent and prompt; secrets only as changed', async () => {
    const provider = await env.call('POST', '/api-internal/v1/llm/providers', { token, body: { name: 'extra', kind: 'openai-compatible', base_url: up.url, api_key: 'sk-first-secret' } })
    expect(provider.status).toBe(201)
    const patched = await env.call('PATCH', '/api-internal/v1/llm/providers/extra', { token, body: { is_active: false, api_key: 'sk-second-secret' } })
    expect(patched.status).toBe(200)
    const p = await lastEvent('provider.update')
    expect(p.details.changes).toEqual({ is_active: { from: true, to: false }, api_key: { changed: true } })
    expect(JSON.stringify(p)).not.toContain('secret-')

    expect((await env.call('PUT', '/api-internal/v1/llm/model-settings/tee-chat', { token, body: { max_output_tokens: 100 } })).status).toBe(200)
    expect((await lastEvent('model.settings')).details.changes.max_output_tokens).toEqual({ from: null, to: 100 })
    expect((await env.call('PUT', '/api-internal/v1/llm/model-settings/tee-chat', { token, body: { max_output_tokens: 200, fallback_model: 'tee-chat-2' } })).status).toBe(200)
    const m = await lastEvent('model.settings')
    expect(m.details.changes).toEqual({ max_output_tokens: { from: 100, to: 200 }, fallback_model: { from: null, to: 'tee-chat-2' } })

    const server = await env.call('POST', '/api-internal/v1/mcp-servers', { token, body: { name: 'tools', url: `${up.url}/mcp`, headers: { authorization: 'Bearer mcp-secret-value' } } })
    expect(server.status).toBe(201)
    const renamed = await env.call('PATCH', `/api-internal/v1/mcp-servers/${server.body.id}`, { token, body: { name: 'tools-2', headers: { authorization: 'Bearer mcp-other-value' } } })
    expect(renamed.status).toBe(200)
    const s = await lastEvent('mcp_server.update')
    expect(s.details.changes).toEqual({ name: { from: 'tools', to: 'tools-2' }, headers: { changed: true } })
    expect(JSON.stringify(s)).not.toContain('-value')

    const channel = await env.call('POST', '/api-internal/v1/notifications/channels', { token, body: { name: 'mail', type: 'email', address: 'ops@example.com', events: ['budget.exhausted'], scope: 'admin' } })
    expect(channel.status).toBe(201)
    expect((await env.call('PATCH', `/api-internal/v1/notifications/channels/${channel.body.id}`, { token, body: { address: 'oncall@example.com' } })).status).toBe(200)
    expect((await lastEvent('notification.channel_update')).details.changes).toEqual({ address: { from: 'ops@example.com', to: 'oncall@example.com' } })

    const agent = await env.call('POST', '/api-internal/v1/agents', { token, body: { name: 'helper', model: 'tee-chat', instructions: 'Be brief.' } })
    expect(agent.status).toBe(201)
    expect(await lastEvent('agent.create')).toMatchObject({ resource_type: 'agent', resource_id: agent.body.id })
    expect((await env.call('PATCH', `/api-internal/v1/agents/${agent.body.id}`, { token, body: { instructions: 'Be thorough.' } })).status).toBe(200)
    expect((await lastEvent('agent.update')).details.changes).toEqual({ instructions: { from: 'Be brief.', to: 'Be thorough.' } })

    const prompt = await env.call('POST', '/api-internal/v1/prompts', { token, body: { name: 'support', instructions: 'Hello {{name}}.', variables: [{ name: 'name' }] } })
    expect(prompt.status).toBe(201)
    expect((await env.call('PATCH', `/api-internal/v1/prompts/${prompt.body.id}`, { token, body: { instructions: 'Hi {{name}}.' } })).status).toBe(200)
    const pr = await lastEvent('prompt.update')
    expect(pr.details).toMatchObject({ from_version: 1, to_version: 2, changes: { instructions: { from: 'Hello {{name}}.', to: 'Hi {{name}}.' } } })
  })
})
