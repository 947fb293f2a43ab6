/**
 * The Responses, Conversations and Prompts APIs with the official `openai` SDK against a scripted chat-completions
 * upstream (what privatemode and vLLM speak): plain, streamed (the SDK's own stream helper checks every event) and
 * json_schema responses, previous_response_id chains, conversations, function tools round trips, file_search over
 * a collection, an MCP server's tool with approval, stored prompts with variables, input items, deletion, owner
 * scoping (404s), errors in the SDK's shape, usage records and items sealed at rest.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startMcpServer, type McpFixture } from '../../test/fixtures/mcp-server.ts'
import { startUpstream, type ScriptedTurn, type ScriptRequest, type Upstream } from '../../test/fixtures/upstream.ts'

let env: TestEnv
let up: Upstream
let mcp: McpFixture
let owner: { id: string; token: string }
let other: { id: string; token: string }
let client: OpenAI
let otherClient: OpenAI
let collection: string
/** Chat requests whose messages a chat upstream would refuse (a tool result without its call before it). */
let malformed: string[] = []

/** Checks what a strict chat upstream checks: every tool result answers a call of the assistant message before it. */
function checkSequence(req: ScriptRequest): void {
  const open = new Set<string>()
  for (const m of req.messages) {
    if (m.role === 'assistant') {
      open.clear()
      for (const c of (m.tool_calls ?? []) as { id: string }[]) open.add(c.id)
    } else if (m.role === 'tool') {
      if (!m.tool_call_id || !open.has(m.tool_call_id)) malformed.push(`tool result ${m.tool_call_id} without its call`)
    } else if (open.size && m.role !== 'tool') {
      // A user message while calls are unanswered.
      if ([...open].length) malformed.push(`${m.role} message after unanswered tool calls`)
      open.clear()
    }
  }
}
const script = (fn: (req: ScriptRequest) => ScriptedTurn | null) =>
  up.setScript((req) => {
    checkSequence(req)
    return fn(req)
  })
const lastChat = () => up.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)!.body as Record<string, unknown> & { messages: { role: string; content: unknown }[] }
const texts = (req: ScriptRequest) => req.messages.map((m) => `${m.role}:${typeof m.content === 'string' ? m.content : JSON.stringify(m.content)}`)

async function key(token: string, scopes = ['llm']) {
  const res = await env.call('POST', '/api-internal/v1/api-keys', { token, body: { name: `k${crypto.randomUUID().slice(0, 6)}`, scopes } })
  if (res.status !== 201) throw new Error(`key: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.key as string
}

beforeAll(async () => {
  up = await startUpstream({ models: ['tee-chat'] })
  mcp = await startMcpServer()
  env = await createTestEnv({ PRIVATEMODE_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '10000' })
  const base = env.listen()
  owner = await env.user('user')
  other = await env.user('user')
  client = new OpenAI({ apiKey: await key(owner.token), baseURL: `${base}/api/v1`, maxRetries: 0 })
  otherClient = new OpenAI({ apiKey: await key(other.token), baseURL: `${base}/api/v1`, maxRetries: 0 })
  collection = await env.collection(owner.token, { 'office.txt': 'The office opens at nine. Holidays are announced by the works council.' })
})
afterAll(async () => {
  await env.close()
  await up.stop()
  await mcp.stop()
})
beforeEach(() => {
  up.setScript(null)
  malformed = []
})

describe('responses', () => {
  test('plain: instructions and input reach the model; output_text, usage, stored and retrievable; usage recorded under /responses', async () => {
    script((req) => ({ content: `seen ${req.messages.length} messages` }))
    const r = await client.responses.create({ model: 'tee-chat', instructions: 'Be brief.', input: 'What opens at nine?', metadata: { team: 'ops' } })
    expect(r.object).toBe('response')
    expect(r.status).toBe('completed')
    expect(r.output_text).toBe('seen 2 messages')
    expect(r.id).toMatch(/^resp_/)
    expect(r.usage!.input_tokens).toBeGreaterThan(0)
    expect(r.usage!.total_tokens).toBe(r.usage!.input_tokens + r.usage!.output_tokens)
    expect(r.metadata).toEqual({ team: 'ops' })
    expect(lastChat().messages.map((m) => m.role)).toEqual(['system', 'user'])
    const again = await client.responses.retrieve(r.id)
    expect(again.output_text).toBe('seen 2 messages')
    expect(again.instructions).toBe('Be brief.')
    expect(again.output).toEqual(r.output)
    // Usage records wait briefly to share a transaction (gateway/usage.ts): written once flushed.
    await env.s.ledger.flush()
    const [rec] = await env.db.sql<{ endpoint: string; n: string }[]>`
      SELECT endpoint, count(*)::text AS n FROM usage_records WHERE user_id = ${owner.id} AND endpoint = '/responses' GROUP BY endpoint`
    expect(Number(rec?.n)).toBeGreaterThanOrEqual(1)
  })

  test("streamed: the SDK's stream helper accepts every event; text arrives as deltas; the final response has usage", async () => {
    script(() => ({ content: 'one two three four five' }))
    const stream = client.responses.stream({ model: 'tee-chat', input: 'count' })
    const types: string[] = []
    let deltas = ''
    stream.on('event', (e) => types.push(e.type))
    stream.on('response.output_text.delta', (e) => (deltas += e.delta))
    const final = await stream.finalResponse()
    expect(final.output_text).toBe('one two three four five')
    expect(deltas).toBe('one two three four five')
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added'])
    expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed'])
    expect(final.usage!.output_tokens).toBeGreaterThan(0)
    expect((await client.responses.retrieve(final.id)).output_text).toBe(final.output_text)
  })

  test('create with stream: true yields numbered events; a refusal before the first event is an HTTP error the SDK throws', async () => {
    script(() => ({ content: 'hi' }))
    const events = await client.responses.create({ model: 'tee-chat', input: 'x', stream: true })
    const seen: { type: string; sequence_number: number }[] = []
    for await (const e of events) seen.push(e)
    expect(seen.map((e) => e.sequence_number)).toEqual(seen.map((_, i) => i))
    expect(seen.at(-1)!.type).toBe('response.completed')
    const refused = await client.responses.create({ model: 'no-such-model', input: 'x', stream: true }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(OpenAI.NotFoundError)
  })

  test('text.format json_schema becomes response_format; the JSON comes back as output_text', async () => {
    script(() => ({ content: '{"city":"Berlin"}' }))
    const r = await client.responses.create({
      model: 'tee-chat',
      input: 'Where?',
      text: { format: { type: 'json_schema', name: 'place', schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true } },
    })
    expect(JSON.parse(r.output_text)).toEqual({ city: 'Berlin' })
    expect(lastChat().response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'place', schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true },
    })
    expect(r.text?.format).toMatchObject({ type: 'json_schema', name: 'place' })
    const bad = await client.responses.create({ model: 'tee-chat', input: 'x', text: { format: { type: 'json_schema', name: 'bad name!', schema: {} } } }).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError)
    expect((bad as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('text.format.name')
  })

  test('previous_response_id: the chain is the history (inputs and outputs, oldest first); instructions are not carried over', async () => {
    script((req) => ({ content: `reply ${req.messages.filter((m) => m.role === 'user').length}` }))
    const a = await client.responses.create({ model: 'tee-chat', instructions: 'first only', input: 'My name is Ada.' })
    const b = await client.responses.create({ model: 'tee-chat', input: 'What did I say?', previous_response_id: a.id })
    const c = await client.responses.create({ model: 'tee-chat', input: 'And then?', previous_response_id: b.id })
    expect(c.output_text).toBe('reply 3')
    expect(texts({ messages: lastChat().messages } as ScriptRequest)).toEqual([
      'user:My name is Ada.',
      'assistant:reply 1',
      'user:What did I say?',
      'assistant:reply 2',
      'user:And then?',
    ])
    expect(c.previous_response_id).toBe(b.id)
    // Another user cannot continue it, and cannot tell it exists.
    const foreign = await otherClient.responses.create({ model: 'tee-chat', input: 'x', previous_response_id: b.id }).catch((e: unknown) => e)
    expect(foreign).toBeInstanceOf(OpenAI.NotFoundError)
  })

  test('conversations: responses append to one; its items list, add, get and delete; the history reaches the model', async () => {
    script((req) => ({ content: `turn ${req.messages.filter((m) => m.role === 'user').length}` }))
    const conv = await client.conversations.create({ metadata: { topic: 'demo' }, items: [{ type: 'message', role: 'user', content: 'Hello there' }] })
    expect(conv.id).toMatch(/^conv_/)
    const r1 = await client.responses.create({ model: 'tee-chat', input: 'First question', conversation: conv.id })
    const r2 = await client.responses.create({ model: 'tee-chat', input: 'Second question', conversation: { id: conv.id } })
    expect(r1.output_text).toBe('turn 2')
    expect(r2.output_text).toBe('turn 3')
    expect(r2.conversation?.id).toBe(conv.id)
    const asc = await client.conversations.items.list(conv.id, { order: 'asc' })
    const listed = asc.data.map((i) => (i.type === 'message' ? `${i.role}:${(i.content[0] as { text: string }).text}` : i.type))
    expect(listed).toEqual(['user:Hello there', 'user:First question', 'assistant:turn 2', 'user:Second question', 'assistant:turn 3'])
    const page = await client.conversations.items.list(conv.id, { limit: 2 })
    expect(page.data.length).toBe(2)
    expect(page.has_more).toBe(true)
    const added = await client.conversations.items.create(conv.id, { items: [{ type: 'message', role: 'user', content: 'A note' }] })
    const noteId = added.data[0]!.id!
    expect((await client.conversations.items.retrieve(noteId, { conversation_id: conv.id })).id).toBe(noteId)
    await client.conversations.items.delete(noteId, { conversation_id: conv.id })
    expect((await client.conversations.items.list(conv.id)).data.some((i) => i.id === noteId)).toBe(false)
    expect((await client.conversations.update(conv.id, { metadata: { topic: 'changed' } })).metadata).toEqual({ topic: 'changed' })
    expect(await otherClient.conversations.retrieve(conv.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError)
    expect(await otherClient.responses.create({ model: 'tee-chat', input: 'x', conversation: conv.id }).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError)
    const both = await client.responses.create({ model: 'tee-chat', input: 'x', conversation: conv.id, previous_response_id: r2.id }).catch((e: unknown) => e)
    expect(both).toBeInstanceOf(OpenAI.BadRequestError)
    expect((await client.conversations.delete(conv.id)).deleted).toBe(true)
    expect(await client.conversations.retrieve(conv.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError)
  })

  test('function tools: the call is returned to the client; its output on the next turn reaches the model as a tool result', async () => {
    script((req) => (req.messages.at(-1)?.role === 'tool' ? { content: `It is ${String(req.messages.at(-1)!.content)}` } : { toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}' }] }))
    const tools = [{ type: 'function' as const, name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true }]
    const first = await client.responses.create({ model: 'tee-chat', input: 'Weather in Paris?', tools })
    const call = first.output.find((o) => o.type === 'function_call')
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: '{"city":"Paris"}' })
    expect(first.status).toBe('completed')
    const second = await client.responses.create({
      model: 'tee-chat',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call!.type === 'function_call' ? call!.call_id : '', output: 'sunny, 21 °C' }],
      tools,
    })
    expect(second.output_text).toBe('It is sunny, 21 °C')
    expect(malformed).toEqual([])
    // Streamed, the call's arguments come as function-call events the SDK accumulates.
    const stream = client.responses.stream({ model: 'tee-chat', input: 'Weather in Paris?', tools })
    const argEvents: string[] = []
    stream.on('response.function_call_arguments.done', (e) => argEvents.push(e.arguments))
    const final = await stream.finalResponse()
    expect(argEvents).toEqual(['{"city":"Paris"}'])
    expect(final.output.some((o) => o.type === 'function_call' && o.name === 'get_weather')).toBe(true)
  })

  test('file_search over a collection (vector_store_ids are collection ids) runs in Enclava; results on request; others are 404', async () => {
    script((req) => (req.messages.at(-1)?.role === 'tool' ? { content: `Found: ${String(req.messages.at(-1)!.content).slice(0, 80)}` } : { toolCalls: [{ name: 'file_search', arguments: '{"query":"when does the office open"}' }] }))
    const r = await client.responses.create({
      model: 'tee-chat',
      input: 'When does the office open?',
      tools: [{ type: 'file_search', vector_store_ids: [collection] }],
      include: ['file_search_call.results'],
    })
    const search = r.output.find((o) => o.type === 'file_search_call')
    expect(search).toMatchObject({ type: 'file_search_call', status: 'completed', queries: ["when does the office open"] })
    expect(search!.type === 'file_search_call' && search!.results?.[0]?.filename).toBe('office.txt')
    expect(r.output_text).toContain('The office opens at nine')
    const theirs = await otherClient.responses.create({ model: 'tee-chat', input: 'x', tools: [{ type: 'file_search', vector_store_ids: [collection] }] }).catch((e: unknown) => e)
    expect(theirs).toBeInstanceOf(OpenAI.NotFoundError)
    // The next turn's history carries the search as a call and its result, in a shape chat upstreams accept.
    script((req) => ({ content: `history ${req.messages.length}` }))
    await client.responses.create({ model: 'tee-chat', input: 'thanks', previous_response_id: r.id })
    expect(malformed).toEqual([])
  })

  test('mcp: a registered server by label; calls need approval by default, run once approved; a private server_url is refused', async () => {
    const admin = await env.adminToken()
    const reg = await env.call('POST', '/api-internal/v1/mcp-servers', { token: admin, body: { name: 'tools', url: mcp.url, shared: true } })
    expect(reg.status).toBe(201)
    script((req) => (req.messages.at(-1)?.role === 'tool' ? { content: `MCP said ${String(req.messages.at(-1)!.content)}` } : { toolCalls: [{ name: 'tools__add', arguments: '{"a":2,"b":3}' }] }))
    const tool = { type: 'mcp' as const, server_label: 'tools', allowed_tools: ['add', 'echo'] }
    const asked = await client.responses.create({ model: 'tee-chat', input: 'Add 2 and 3', tools: [tool] })
    const list = asked.output.find((o) => o.type === 'mcp_list_tools')
    expect(list?.type === 'mcp_list_tools' && list.tools.map((t) => t.name).sort()).toEqual(['add', 'echo'])
    const request = asked.output.find((o) => o.type === 'mcp_approval_request')
    expect(request).toMatchObject({ server_label: 'tools', name: 'add', arguments: '{"a":2,"b":3}' })
    const approved = await client.responses.create({
      model: 'tee-chat',
      previous_response_id: asked.id,
      tools: [tool],
      input: [{ type: 'mcp_approval_response', approval_request_id: request!.id!, approve: true }],
    })
    const call = approved.output.find((o) => o.type === 'mcp_call')
    expect(call).toMatchObject({ server_label: 'tools', name: 'add', output: '5', approval_request_id: request!.id })
    expect(approved.output_text).toBe('MCP said 5')
    expect(malformed).toEqual([])
    // Without approval, streamed: the SDK accepts the mcp events.
    const stream = client.responses.stream({ model: 'tee-chat', input: 'Add 2 and 3', tools: [{ ...tool, require_approval: 'never' }] })
    const final = await stream.finalResponse()
    expect(final.output.find((o) => o.type === 'mcp_call')).toMatchObject({ output: '5', status: 'completed' })
    expect(final.output_text).toBe('MCP said 5')
    // A URL on the loopback, given by a caller, is refused by the network guard.
    const local = await client.responses.create({ model: 'tee-chat', input: 'x', tools: [{ type: 'mcp', server_label: 'local', server_url: mcp.url, require_approval: 'never' }] }).catch((e: unknown) => e)
    expect(local).toBeInstanceOf(OpenAI.APIError)
    expect((local as InstanceType<typeof OpenAI.APIError>).status).toBeGreaterThanOrEqual(400)
    expect(await client.responses.create({ model: 'tee-chat', input: 'x', tools: [{ type: 'mcp', server_label: 'nope', require_approval: 'never' }] }).catch((e: unknown) => e)).toBeInstanceOf(
      OpenAI.NotFoundError,
    )
  })

  test('stored prompts: versions, variables filled in, a missing or unknown variable named in the 400', async () => {
    const P = '/api-internal/v1/prompts'
    const created = await env.call('POST', P, {
      token: owner.token,
      body: { name: 'support', instructions: 'You help customers of {{company}}.', messages: [{ role: 'user', content: 'Tone: {{tone}}' }], variables: [{ name: 'company' }, { name: 'tone', default: 'friendly' }] },
    })
    expect(created.status).toBe(201)
    const id = created.body.id as string
    const undeclared = await env.call('POST', P, { token: owner.token, body: { name: 'typo', instructions: 'Hi {{nmae}}', variables: [{ name: 'name' }] } })
    expect(undeclared.status).toBe(400)
    expect(undeclared.body.error.message).toContain('{{nmae}}')
    const v2 = await env.call('PATCH', `${P}/${id}`, { token: owner.token, body: { instructions: 'You support customers of {{company}}.' } })
    expect(v2.body.version).toBe(2)
    script((req) => ({ content: texts(req).join(' | ') }))
    const r = await client.responses.create({ model: 'tee-chat', prompt: { id, variables: { company: 'Acme' } }, input: 'Hi' })
    expect(r.output_text).toBe('system:You support customers of Acme. | user:Tone: friendly | user:Hi')
    expect(r.prompt).toMatchObject({ id, version: '2' })
    const old = await client.responses.create({ model: 'tee-chat', prompt: { id, version: '1', variables: { company: 'Acme', tone: 'formal' } }, input: 'Hi' })
    expect(old.output_text).toBe('system:You help customers of Acme. | user:Tone: formal | user:Hi')
    const missing = await client.responses.create({ model: 'tee-chat', prompt: { id }, input: 'Hi' }).catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(OpenAI.BadRequestError)
    expect((missing as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('company')
    const unknown = await client.responses.create({ model: 'tee-chat', prompt: { id, variables: { company: 'A', colour: 'red' } }, input: 'Hi' }).catch((e: unknown) => e)
    expect((unknown as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('colour')
    expect(await otherClient.responses.create({ model: 'tee-chat', prompt: { id, variables: { company: 'A' } }, input: 'x' }).catch((e: unknown) => e)).toBeInstanceOf(
      OpenAI.NotFoundError,
    )
    expect((await env.call('GET', `${P}/${id}/versions`, { token: owner.token })).body.data.map((v: { version: number }) => v.version)).toEqual([2, 1])
    expect((await env.call('GET', `${P}/${id}`, { token: other.token })).status).toBe(404)
  })

  test('input_items, delete, store: false; items are sealed at rest; unsupported tools and items are 400s naming them', async () => {
    script(() => ({ content: 'secret answer text' }))
    const r = await client.responses.create({
      model: 'tee-chat',
      input: [
        { role: 'developer', content: 'a developer note' },
        { role: 'user', content: [{ type: 'input_text', text: 'the confidential question' }] },
      ],
    })
    const inputs = await client.responses.inputItems.list(r.id, { order: 'asc' })
    expect(inputs.data.map((i) => i.type === 'message' && i.role)).toEqual(['developer', 'user'])
    const [row] = await env.db.sql<{ body: string }[]>`SELECT string_agg(body, '') AS body FROM response_items WHERE response_id = ${r.id}`
    expect(row!.body).not.toContain('confidential question')
    expect(row!.body).not.toContain('secret answer')
    expect(await otherClient.responses.retrieve(r.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError)
    expect(await otherClient.responses.delete(r.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError)
    await client.responses.delete(r.id)
    expect(await client.responses.retrieve(r.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError)
    const unstored = await client.responses.create({ model: 'tee-chat', input: 'x', store: false })
    expect(unstored.output_text).toBe('secret answer text')
    expect(await client.responses.retrieve(unstored.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError)
    const web = await client.responses.create({ model: 'tee-chat', input: 'x', tools: [{ type: 'web_search' }] }).catch((e: unknown) => e)
    expect(web).toBeInstanceOf(OpenAI.BadRequestError)
    expect((web as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('tools[0].type')
    const file = await client.responses.create({ model: 'tee-chat', input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-1' }] }] }).catch((e: unknown) => e)
    expect((file as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('input[0].content[0].type')
    const bg = await client.responses.create({ model: 'tee-chat', input: 'x', background: true }).catch((e: unknown) => e)
    expect((bg as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('background')
  })

  test('a key without the llm scope is refused; a deleted owner takes their responses, conversations and prompts along', async () => {
    const rag = new OpenAI({ apiKey: await key(owner.token, ['rag:read']), baseURL: client.baseURL, maxRetries: 0 })
    expect(await rag.responses.create({ model: 'tee-chat', input: 'x' }).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.PermissionDeniedError)
    const leaving = await env.user('user')
    const theirs = new OpenAI({ apiKey: await key(leaving.token), baseURL: client.baseURL, maxRetries: 0 })
    script(() => ({ content: 'bye' }))
    const conv = await theirs.conversations.create({})
    await theirs.responses.create({ model: 'tee-chat', input: 'x', conversation: conv.id })
    await env.call('POST', '/api-internal/v1/prompts', { token: leaving.token, body: { name: 'p', instructions: 'x' } })
    const admin = await env.adminToken()
    expect((await env.call('DELETE', `/api-internal/v1/users/${leaving.id}`, { token: admin })).status).toBeLessThan(300)
    const [left] = await env.db.sql<{ n: number }[]>`
      SELECT ((SELECT count(*) FROM responses WHERE user_id = ${leaving.id}) + (SELECT count(*) FROM conversations WHERE user_id = ${leaving.id})
        + (SELECT count(*) FROM prompts WHERE user_id = ${leaving.id}))::int AS n`
    expect(left!.n).toBe(0)
  })
  test('a stream that breaks after it started ends with response.failed (kept as failed); max_output_tokens ends incomplete; a made-up tool is an error the model reads', async () => {
    // The model list is read before the upstream starts cutting streams.
    await client.models.list()
    up.setBehavior('cut-stream')
    try {
      const res = await fetch(`${client.baseURL}/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tee-chat', input: 'one two three four five six seven eight nine ten', stream: true }),
      })
      if (res.status !== 200) throw new Error(`${res.status} ${res.url} ${await res.text()}`)
      const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('event:')).map((e) => JSON.parse(e.slice(e.indexOf('data:') + 5)) as { type: string; response?: { id: string; status: string; error: { code: string } } })
      const last = events.at(-1)!
      expect(last.type).toBe('response.failed')
      expect(last.response!.error.code).toBe('upstream_error')
      expect((await client.responses.retrieve(last.response!.id)).status).toBe('failed')
    } finally {
      up.setBehavior('ok')
    }
    const cut = await client.responses.create({ model: 'tee-chat', input: 'one two three four five six', max_output_tokens: 3 })
    expect(cut.status).toBe('incomplete')
    expect(cut.incomplete_details).toEqual({ reason: 'max_output_tokens' })
    expect(cut.usage!.output_tokens).toBeLessThanOrEqual(3)
    let sawError = ''
    script((req) => {
      const tool = req.messages.find((m) => m.role === 'tool')
      if (tool) {
        sawError = String(tool.content)
        return { content: 'recovered' }
      }
      return { toolCalls: [{ name: 'launch_rockets', arguments: '{}' }] }
    })
    const r = await client.responses.create({ model: 'tee-chat', input: 'go', tools: [{ type: 'function', name: 'get_time', parameters: { type: 'object', properties: {} }, strict: false }] })
    expect(sawError).toContain('There is no tool named "launch_rockets"')
    expect(r.output.map((o) => o.type)).toEqual(['message'])
    expect(r.output_text).toBe('recovered')
    expect(malformed).toEqual([])
  })
  test('code_interpreter runs JavaScript in the code sandbox; its output is the call item\'s logs, and the model reads it', async () => {
    script((req) => (req.messages.at(-1)?.role === 'tool' ? { content: `Computed: ${String(req.messages.at(-1)!.content)}` } : { toolCalls: [{ name: 'code_interpreter', arguments: JSON.stringify({ code: 'console.log("hi"); [1,2,3].reduce((a, b) => a + b, 0)' }) }] }))
    const r = await client.responses.create({ model: 'tee-chat', input: 'Sum 1..3', tools: [{ type: 'code_interpreter', container: { type: 'auto' } }] })
    const call = r.output.find((o) => o.type === 'code_interpreter_call')
    expect(call).toMatchObject({ status: 'completed', code: 'console.log("hi"); [1,2,3].reduce((a, b) => a + b, 0)' })
    const logs = call?.type === 'code_interpreter_call' ? (call.outputs?.[0] as { logs: string }).logs : ''
    expect(logs).toContain('Result (JSON): 6')
    expect(logs).toContain('hi')
    expect(r.output_text).toContain('Result (JSON): 6')
    // A hostile snippet is the model's problem, not the platform's: the call fails, the response completes.
    script((req) => (req.messages.at(-1)?.role === 'tool' ? { content: 'ok' } : { toolCalls: [{ name: 'code_interpreter', arguments: JSON.stringify({ code: 'while (true) {}' }) }] }))
    const loop = await client.responses.create({ model: 'tee-chat', input: 'loop', tools: [{ type: 'code_interpreter', container: { type: 'auto' } }] })
    expect(loop.status).toBe('completed')
    expect(loop.output.find((o) => o.type === 'code_interpreter_call')).toMatchObject({ status: 'failed' })
  })
})
