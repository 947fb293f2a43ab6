/** Providers and model settings through the admin API, the playground on the internal API. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'

let env: TestEnv
let up: Upstream
let admin: string
let key: string

const PROVIDERS = '/api-internal/v1/llm/providers'

beforeAll(async () => {
  up = await startUpstream({ models: ['vllm-chat', 'vllm-embed'], apiKey: 'vllm-upstream-key' })
  env = await createTestEnv()
  admin = await env.adminToken()
  const u = await env.user('user')
  key = (await env.call('POST', '/api-internal/v1/api-keys', { token: u.token, body: { name: 'adm' } })).body.key
})
afterAll(async () => {
  await env.close()
  await up.stop()
})

describe('providers', () => {
  test('a provider added at run time serves its models; its key is sealed at rest and never shown', async () => {
    expect((await env.call('GET', '/api/v1/models', { apiKey: key })).body.data).toEqual([])
    const created = await env.call('POST', PROVIDERS, {
      token: admin,
      body: { name: 'vllm', kind: 'openai-compatible', base_url: up.url, api_key: 'vllm-upstream-key' },
    })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ name: 'vllm', source: 'database', has_api_key: true })
    expect(JSON.stringify(created.body)).not.toContain('vllm-upstream-key')
    const [row] = await env.db.sql<{ api_key_encrypted: string }[]>`SELECT api_key_encrypted FROM providers WHERE name = 'vllm'`
    expect(row?.api_key_encrypted).toStartWith('v1:')
    expect(row?.api_key_encrypted).not.toContain('vllm-upstream-key')

    const models = await env.call('GET', '/api/v1/models', { apiKey: key })
    expect(models.body.data.map((m: { id: string }) => m.id)).toEqual(['vllm-chat', 'vllm-embed'])
    const chat = await env.call('POST', '/api/v1/chat/completions', {
      apiKey: key,
      body: { model: 'vllm-chat', messages: [{ role: 'user', content: 'through the admin provider' }] },
    })
    expect(chat.status).toBe(200)
    expect(up.requests.at(-1)?.headers.authorization).toBe('Bearer vllm-upstream-key')

    const listed = await env.call('GET', PROVIDERS, { token: admin })
    expect(listed.body.data.find((p: { name: string }) => p.name === 'vllm')).toMatchObject({ kind: 'openai-compatible', health: { circuit: 'closed' } })
    expect(JSON.stringify(listed.body)).not.toContain('vllm-upstream-key')
  })

  test("testing the connection lists the provider's models, or says why it cannot", async () => {
    const ok = await env.call('POST', `${PROVIDERS}/vllm/test`, { token: admin })
    expect(ok.body).toMatchObject({ ok: true, models: ['vllm-chat', 'vllm-embed'] })
    expect((await env.call('PATCH', `${PROVIDERS}/vllm`, { token: admin, body: { api_key: 'wrong-key' } })).status).toBe(200)
    const bad = await env.call('POST', `${PROVIDERS}/vllm/test`, { token: admin })
    expect(bad.body.ok).toBe(false)
    expect(bad.body.error).toContain('credentials')
    expect(bad.body.error).not.toContain('wrong-key')
    await env.call('PATCH', `${PROVIDERS}/vllm`, { token: admin, body: { api_key: 'vllm-upstream-key' } })
    expect((await env.call('POST', `${PROVIDERS}/vllm/test`, { token: admin })).body.ok).toBe(true)
  })

  test('model settings set prices that the accounting uses', async () => {
    const put = await env.call('PUT', '/api-internal/v1/llm/model-settings/vllm-chat', {
      token: admin,
      body: { input_price_per_million: 1000, output_price_per_million: 2000 },
    })
    expect(put.status).toBe(200)
    // Prices are numbers in every answer (PostgreSQL's numeric arrives as a string).
    expect(put.body).toMatchObject({ id: 'vllm-chat', input_price_per_million: 1000, output_price_per_million: 2000 })
    const listed = await env.call('GET', '/api-internal/v1/llm/model-settings', { token: admin })
    expect(listed.body.data.find((m: { id: string }) => m.id === 'vllm-chat')).toMatchObject({ input_price_per_million: 1000, output_price_per_million: 2000 })
    const res = await env.call('POST', '/api/v1/chat/completions', {
      apiKey: key,
      body: { model: 'vllm-chat', messages: [{ role: 'user', content: 'price me' }] },
    })
    expect(res.status).toBe(200)
    await env.s.ledger.flush()
    const [row] = await env.db.sql<{ prompt_tokens: number; completion_tokens: number; cost_micros: string }[]>`
      SELECT prompt_tokens, completion_tokens, cost_micros FROM usage_records ORDER BY created_at DESC, id DESC LIMIT 1`
    expect(Number(row?.cost_micros)).toBe((row?.prompt_tokens ?? 0) * 1000 + (row?.completion_tokens ?? 0) * 2000)
    expect(row?.prompt_tokens).toBe(res.body.usage.prompt_tokens)
  })

  test('the model catalog shows who serves each model, at what price, and switched-off models too', async () => {
    await env.call('PUT', '/api-internal/v1/llm/model-settings/vllm-embed', { token: admin, body: { is_active: false, input_price_per_million: 0.25 } })
    try {
      const catalog = await env.call('GET', '/api-internal/v1/llm/model-catalog', { token: admin })
      expect(catalog.status).toBe(200)
      const byId = Object.fromEntries(catalog.body.data.map((m: { id: string }) => [m.id, m]))
      expect(byId['vllm-chat']).toMatchObject({
        provider: 'vllm',
        confidential: false,
        available: true,
        input_price_per_million: 1000,
        output_price_per_million: 2000,
        settings: { input_price_per_million: 1000, output_price_per_million: 2000, is_active: true },
      })
      expect(byId['vllm-embed']).toMatchObject({ available: false, input_price_per_million: 0.25, settings: { is_active: false } })

      const u = await env.user('user')
      const models = await env.call('GET', '/api-internal/v1/llm/models', { token: u.token })
      expect(models.body.data).toEqual([
        { id: 'vllm-chat', object: 'model', created: expect.any(Number), owned_by: 'vllm', confidential: false, input_price_per_million: 1000, output_price_per_million: 2000 },
      ])
    } finally {
      await env.call('DELETE', '/api-internal/v1/llm/model-settings/vllm-embed', { token: admin })
    }
  })

  test('bad input, name clashes and missing providers are clear errors', async () => {
    const dup = await env.call('POST', PROVIDERS, { token: admin, body: { name: 'vllm', kind: 'openai-compatible', base_url: up.url } })
    expect(dup.status).toBe(409)
    const noUrl = await env.call('POST', PROVIDERS, { token: admin, body: { name: 'other', kind: 'openai-compatible' } })
    expect(noUrl.status).toBe(400)
    expect(noUrl.body.error.param).toBe('base_url')
    const badName = await env.call('POST', PROVIDERS, { token: admin, body: { name: 'Bad Name', kind: 'privatemode' } })
    expect(badName.status).toBe(400)
    expect(badName.body.error.param).toBe('name')
    const pm = await env.call('POST', PROVIDERS, { token: admin, body: { name: 'pm', kind: 'privatemode', is_active: false } })
    expect(pm.body).toMatchObject({ base_url: 'http://localhost:8080/v1', is_active: false })
    expect((await env.call('PUT', '/api-internal/v1/llm/model-settings/x', { token: admin, body: { provider_name: 'nope' } })).status).toBe(400)
    expect((await env.call('DELETE', `${PROVIDERS}/nope`, { token: admin })).status).toBe(404)
  })

  test('a plain user cannot manage providers', async () => {
    const u = await env.user('user')
    for (const [method, path] of [
      ['GET', PROVIDERS],
      ['POST', PROVIDERS],
      ['PATCH', `${PROVIDERS}/vllm`],
      ['DELETE', `${PROVIDERS}/vllm`],
      ['POST', `${PROVIDERS}/vllm/test`],
      ['PUT', '/api-internal/v1/llm/model-settings/vllm-chat'],
      ['GET', '/api-internal/v1/llm/model-catalog'],
    ] as const)
      expect({ path, method, status: (await env.call(method, path, { token: u.token, body: {} })).status }).toEqual({ path, method, status: 403 })
  })

  test('a change on one replica reaches the others', async () => {
    const replica = await createTestEnv({}, env)
    try {
      expect((await replica.call('GET', '/api/v1/models', { apiKey: key })).body.data.length).toBe(2)
      expect((await env.call('PATCH', `${PROVIDERS}/vllm`, { token: admin, body: { is_active: false } })).status).toBe(200)
      let ids: string[] = ['?']
      for (let i = 0; i < 40 && ids.length; i++) {
        ids = (await replica.call('GET', '/api/v1/models', { apiKey: key })).body.data.map((m: { id: string }) => m.id)
        if (ids.length) await Bun.sleep(50)
      }
      expect(ids).toEqual([])
    } finally {
      await replica.close()
      await env.call('PATCH', `${PROVIDERS}/vllm`, { token: admin, body: { is_active: true } })
    }
  })
})

describe('playground', () => {
  test('chat on the internal API is charged to the user, under their budget', async () => {
    const u = await env.user('user')
    const res = await env.call('POST', '/api-internal/v1/llm/chat/completions', {
      token: u.token,
      body: { model: 'vllm-chat', messages: [{ role: 'user', content: 'from the playground' }] },
    })
    expect(res.status).toBe(200)
    expect(res.body.choices[0].message.content).toBe('echo: from the playground')
    await env.s.ledger.flush()
    const [row] = await env.db.sql<{ source: string; user_id: string; api_key_id: string | null }[]>`
      SELECT source, user_id, api_key_id FROM usage_records ORDER BY created_at DESC, id DESC LIMIT 1`
    expect(row).toMatchObject({ source: 'playground', user_id: u.id, api_key_id: null })

    const budget = await env.call('POST', '/api-internal/v1/budgets', {
      token: admin,
      body: { name: 'tiny', scope: 'user', user_id: u.id, limit_usd: 0.000001, period: 'daily' },
    })
    expect(budget.status).toBe(201)
    const refused = await env.call('POST', '/api-internal/v1/llm/chat/completions', {
      token: u.token,
      body: { model: 'vllm-chat', messages: [{ role: 'user', content: 'again' }] },
    })
    expect(refused.status).toBe(402)
    expect(refused.body.error.code).toBe('budget_exceeded')
    const ro = await env.user('read_only')
    expect((await env.call('POST', '/api-internal/v1/llm/chat/completions', { token: ro.token, body: { model: 'vllm-chat', messages: [{ role: 'user', content: 'x' }] } })).status).toBe(403)
  })
})
