/**
 * Enclava's own MCP endpoint, driven by the official SDK client over a real socket: the key's tools, document search,
 * a chatbot answering through a local OpenAI-compatible upstream (charged to the key), and the key's scopes and limits.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

let env: TestEnv
let up: Upstream
let base: string
let owner: Awaited<ReturnType<TestEnv['user']>>
let other: Awaited<ReturnType<TestEnv['user']>>
let collectionId: string
let botId: string
let foreignBotId: string

const createKey = async (token: string, body: Record<string, unknown>) => {
  const res = await env.call('POST', '/api-internal/v1/api-keys', { token, body: { name: `k${Math.random()}`, ...body } })
  expect({ status: res.status, body: res.status === 201 ? null : res.body }).toEqual({ status: 201, body: null })
  return res.body as { id: string; key: string }
}

async function connect(key: string): Promise<Client> {
  const client = new Client({ name: 'test-client', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/api/v1/mcp`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }))
  return client
}
const text = (r: Awaited<ReturnType<Client['callTool']>>) => (r.content as { type: string; text: string }[]).map((c) => c.text).join('')

beforeAll(async () => {
  up = await startUpstream({ models: ['bot-model'] })
  env = await createTestEnv({ OPENAI_COMPAT_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  base = env.listen()
  owner = await env.user('user')
  other = await env.user('user')
  collectionId = await env.collection(
    owner.token,
    { 'coffee.txt': 'The office coffee machine is descaled every Friday by the facilities team.', 'parking.txt': 'Parking permits are renewed each January at the front desk.' },
    { name: 'handbook' },
  )
  const bot = { model: 'bot-model', rag_collections: [collectionId], rag_mode: 'lexical', rag_top_k: 1 }
  // Through the service: the test is about the MCP endpoint, not the chatbot builder's API.
  botId = (await env.s.chatbots.create({ userId: owner.id, isAdmin: false }, { name: 'helpdesk', ...bot } as never)).id
  foreignBotId = (await env.s.chatbots.create({ userId: other.id, isAdmin: false }, { name: 'not yours', model: 'bot-model' })).id
})
afterAll(async () => {
  await env.close()
  await up.stop()
})

describe('an MCP client with an mcp key', () => {
  test("lists the key's tools and searches its documents", async () => {
    const { key } = await createKey(owner.token, { scopes: ['mcp', 'rag:read', 'chatbots'] })
    const client = await connect(key)
    try {
      expect(client.getServerVersion()?.name).toBe('enclava')
      const { tools } = await client.listTools()
      expect(tools.map((t) => t.name)).toEqual(['search_documents', 'ask_chatbot'])
      expect(tools[1]!.inputSchema).toMatchObject({ required: ['chatbot_id', 'message'], properties: { chatbot_id: { enum: [botId] } } })
      const found = await client.callTool({ name: 'search_documents', arguments: { query: 'when is the coffee machine descaled?' } })
      expect(found.isError).toBeFalsy()
      expect(text(found)).toContain('coffee.txt (handbook)')
      expect(text(found)).toContain('descaled every Friday')
      const empty = await client.callTool({ name: 'search_documents', arguments: { query: '' } })
      expect(empty.isError).toBe(true)
    } finally {
      await client.close()
    }
  })

  test('asks a chatbot through the upstream, charged to the key, and continues the conversation', async () => {
    const { id: keyId, key } = await createKey(owner.token, { scopes: ['mcp', 'chatbots'] })
    const client = await connect(key)
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['ask_chatbot'])
      const first = await client.callTool({ name: 'ask_chatbot', arguments: { chatbot_id: botId, message: 'coffee machine descaled?' } })
      expect(first.isError).toBeFalsy()
      // The local upstream answers "echo: <the question>"; the chatbot's retrieval names its source.
      expect(text(first)).toContain('echo: coffee machine descaled?')
      expect(text(first)).toContain('[1] coffee.txt')
      const conversation = /conversation_id: ([0-9a-f-]{36})/.exec(text(first))?.[1]
      expect(conversation).toBeDefined()
      const second = await client.callTool({ name: 'ask_chatbot', arguments: { chatbot_id: botId, message: 'and parking?', conversation_id: conversation } })
      expect(text(second)).toContain(`conversation_id: ${conversation}`)
      const foreign = await client.callTool({ name: 'ask_chatbot', arguments: { chatbot_id: foreignBotId, message: 'hi' } })
      expect(foreign.isError).toBe(true)
      expect(text(foreign)).toContain('No chatbot')
    } finally {
      await client.close()
    }
    let usage: { source: string; user_id: string; model: string; status: number }[] = []
    for (let i = 0; i < 100 && usage.length < 2; i++) {
      usage = await env.db.sql`SELECT source, user_id, model, status FROM usage_records WHERE api_key_id = ${keyId}`
      if (usage.length < 2) await Bun.sleep(50)
    }
    expect(usage).toHaveLength(2)
    expect(usage.every((u) => u.source === 'chatbot' && u.user_id === owner.id && u.model === 'bot-model' && u.status === 200)).toBe(true)
    const audited = await env.db.sql<{ resource_id: string }[]>`SELECT resource_id FROM audit_log WHERE action = 'tool.call' AND actor_api_key_id = ${keyId}`
    expect(audited.map((a) => a.resource_id)).toEqual(['ask_chatbot', 'ask_chatbot', 'ask_chatbot'])
  })

  test("a key narrowed to some chatbots and collections sees only those; a key with only mcp sees no tools", async () => {
    const narrowed = await createKey(owner.token, { scopes: ['mcp', 'rag:read', 'chatbots'], allowed_chatbots: [foreignBotId], allowed_collections: [crypto.randomUUID()] })
    const client = await connect(narrowed.key)
    try {
      expect((await client.listTools()).tools).toEqual([])
    } finally {
      await client.close()
    }
    const bare = await createKey(owner.token, { scopes: ['mcp'] })
    const bareClient = await connect(bare.key)
    try {
      expect((await bareClient.listTools()).tools).toEqual([])
    } finally {
      await bareClient.close()
    }
  })
})

describe('what the endpoint refuses', () => {
  test('a key without the mcp scope is refused (403), and so is a request with no key (401)', async () => {
    const { key } = await createKey(owner.token, { scopes: ['rag:read', 'chatbots'] })
    const refused = await connect(key).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(StreamableHTTPError)
    expect((refused as StreamableHTTPError).code).toBe(403)
    expect((refused as Error).message).toContain('lacks the scope')
    const anonymous = await fetch(`${base}/api/v1/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    expect(anonymous.status).toBe(401)
  })

  test("the key's hard budget holds: a chatbot answer it cannot pay for is an error result, and nothing is charged", async () => {
    const admin = await env.adminToken()
    expect((await env.call('PUT', '/api-internal/v1/llm/model-settings/bot-model', { token: admin, body: { input_price_per_million: 5, output_price_per_million: 5 } })).status).toBe(200)
    try {
      const { id: keyId, key } = await createKey(owner.token, { scopes: ['mcp', 'chatbots'] })
      const budget = await env.call('POST', '/api-internal/v1/budgets', {
        token: owner.token,
        body: { name: 'nothing', scope: 'api_key', api_key_id: keyId, limit_usd: 0, period: 'monthly', is_hard: true },
      })
      expect(budget.status).toBe(201)
      const client = await connect(key)
      try {
        const refused = await client.callTool({ name: 'ask_chatbot', arguments: { chatbot_id: botId, message: 'coffee?' } })
        expect(refused.isError).toBe(true)
        expect(text(refused).toLowerCase()).toContain('budget')
      } finally {
        await client.close()
      }
      expect(await env.db.sql`SELECT 1 FROM usage_records WHERE api_key_id = ${keyId} AND status = 200`).toHaveLength(0)
    } finally {
      await env.call('DELETE', '/api-internal/v1/llm/model-settings/bot-model', { token: admin })
    }
  })

  test("the key's rate limit counts every MCP request", async () => {
    const { key } = await createKey(owner.token, { scopes: ['mcp', 'rag:read'], rate_limit_per_minute: 2 })
    // initialize and the initialized notification are the two requests the minute allows.
    const client = await connect(key)
    try {
      const limited = await client.listTools().catch((e: unknown) => e)
      expect(limited).toBeInstanceOf(StreamableHTTPError)
      expect((limited as StreamableHTTPError).code).toBe(429)
    } finally {
      await client.close()
    }
  })

  test('GET and DELETE answer 405: the endpoint is stateless', async () => {
    const { key } = await createKey(owner.token, { scopes: ['mcp'] })
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(`${base}/api/v1/mcp`, { method, headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' } })
      expect({ method, status: res.status, allow: res.headers.get('allow') }).toEqual({ method, status: 405, allow: 'POST' })
    }
  })
})
