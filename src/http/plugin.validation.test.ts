/**
 * Validation messages name the field and the rule it broke, over the gateway's and RAG's real schemas: one row per
 * request, with the status, code, param and message a client gets.
 */
import { describe, expect, test } from 'bun:test'
import { Elysia, t } from 'elysia'
import { ChatCompletionBody, EmbeddingBody } from '../gateway/model.ts'
import { createLogger } from '../log.ts'
import { SearchBody, UpdateCollectionBody } from '../rag/model.ts'
import { ListAuditQuery } from '../audit/model.ts'
import { CreateUserBody, ListUsersQuery } from '../users/model.ts'
import { ApiError } from './errors.ts'
import { httpBasics } from './plugin.ts'

const ok = () => ({ ok: true })
const app = new Elysia({ normalize: false })
  .use(httpBasics(createLogger('silent')))
  .post('/chat', ok, { body: ChatCompletionBody })
  .post('/embeddings', ok, { body: EmbeddingBody })
  .post('/search', ok, { body: SearchBody })
  .patch('/collections', ok, { body: UpdateCollectionBody })
  .post('/users', ok, { body: CreateUserBody })
  .get('/users', ok, { query: ListUsersQuery })
  .get('/audit', ok, { query: ListAuditQuery })
  .get('/users/:id', ok, { params: t.Object({ id: t.String({ format: 'uuid' }) }) })
  .post('/keys', ok, { body: t.Object({ api_key: t.String({ pattern: '^en_' }), password: t.String({ minLength: 12 }) }) })

interface Sent {
  method?: string
  path: string
  /** An object goes as JSON; a string as it is. */
  body?: unknown
  contentType?: string
}

async function send({ method = 'POST', path, body, contentType }: Sent) {
  const headers: Record<string, string> = {}
  if (body !== undefined) headers['content-type'] = contentType ?? 'application/json'
  const payload = typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body)
  const res = await app.handle(new Request(`http://localhost${path}`, { method, headers, ...(payload === undefined ? {} : { body: payload }) }))
  const json = (await res.json()) as { ok?: true; error?: { code: string; message: string; param: string | null } }
  return { status: res.status, ...json.error }
}

const messages = [{ role: 'user', content: 'hi' }]
const chat = (fields: Record<string, unknown>): Sent => ({ path: '/chat', body: { model: 'm', messages, ...fields } })
const embed = (fields: Record<string, unknown>): Sent => ({ path: '/embeddings', body: { model: 'm', input: 'x', ...fields } })
const search = (fields: Record<string, unknown>): Sent => ({ path: '/search', body: { query: 'q', ...fields } })
const user = (fields: Record<string, unknown>): Sent => ({ path: '/users', body: { email: 'a@b.example', username: 'ada', ...fields } })
const searchFields = Object.keys(SearchBody.properties).join(', ')

// [what, request, param, message]: every row is a 400 validation_failed.
const invalid: [string, Sent, string, string][] = [
  // The gateway's chat body.
  ['a number over its maximum', chat({ temperature: 5 }), 'temperature', "Invalid body: 'temperature' must be at most 2 (got 5)"],
  ['a number under its minimum', chat({ presence_penalty: -3 }), 'presence_penalty', "Invalid body: 'presence_penalty' must be at least -2 (got -3)"],
  ['a string for a nullable number', chat({ temperature: 'hot' }), 'temperature', 'Invalid body: \'temperature\' must be a number or null (got "hot")'],
  ['an integer under its minimum', chat({ max_tokens: -3 }), 'max_tokens', "Invalid body: 'max_tokens' must be at least 1 (got -3)"],
  ['a fraction for an integer', chat({ max_tokens: 1.5 }), 'max_tokens', "Invalid body: 'max_tokens' must be an integer (got 1.5)"],
  ['a string for a nullable integer', chat({ n: 'two' }), 'n', 'Invalid body: \'n\' must be an integer or null (got "two")'],
  ['an integer over its maximum', chat({ n: 17 }), 'n', "Invalid body: 'n' must be at most 16 (got 17)"],
  ['a string for a nullable boolean', chat({ stream: 'yes' }), 'stream', 'Invalid body: \'stream\' must be a boolean or null (got "yes")'],
  ['a missing field', { path: '/chat', body: { messages } }, 'model', "Invalid body: 'model' is required"],
  ['an empty string', chat({ model: '' }), 'model', "Invalid body: 'model' must not be empty"],
  ['a string over its maxLength', chat({ user: 'u'.repeat(300) }), 'user', "Invalid body: 'user' must be at most 256 characters long (got 300 characters)"],
  ['an empty array', chat({ messages: [] }), 'messages', "Invalid body: 'messages' must not be empty"],
  ['an array over its maxItems', chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop', "Invalid body: 'stop' must have at most 4 items (got 5 items)"],
  ['a bad item in a union branch', chat({ stop: ['a', 5] }), 'stop.1', "Invalid body: 'stop.1' must be a string (got 5)"],
  ['a type no union branch has', chat({ stop: 5 }), 'stop', "Invalid body: 'stop' must be a string, an array of strings or null (got 5)"],
  [
    'a literal outside the union',
    chat({ messages: [{ role: 'bot', content: 'hi' }] }),
    'messages.0.role',
    'Invalid body: \'messages.0.role\' must be one of system, developer, user, assistant, tool, function (got "bot")',
  ],
  ['a missing nested field', chat({ messages: [{ content: 'hi' }] }), 'messages.0.role', "Invalid body: 'messages.0.role' is required"],
  // The gateway's embeddings body: a four-branch union.
  [
    'a type no embeddings input has',
    embed({ input: 5 }),
    'input',
    "Invalid body: 'input' must be a string, an array of strings, an array of integers or an array of arrays of integers (got 5)",
  ],
  ['a bad item in an array of strings', embed({ input: ['a', 5] }), 'input.1', "Invalid body: 'input.1' must be a string (got 5)"],
  ['a bad token in an array of integers', embed({ input: [1, -2] }), 'input.1', "Invalid body: 'input.1' must be at least 0 (got -2)"],
  ['a literal outside a two-value union', embed({ encoding_format: 'hex' }), 'encoding_format', 'Invalid body: \'encoding_format\' must be one of float, base64 (got "hex")'],
  ['an optional integer under its minimum', embed({ dimensions: 0 }), 'dimensions', "Invalid body: 'dimensions' must be at least 1 (got 0)"],
  // RAG search.
  ['an integer over its maximum (coercible)', search({ top_k: 150 }), 'top_k', "Invalid body: 'top_k' must be at most 100 (got 150)"],
  ['a fraction for a coercible integer', search({ top_k: 2.5 }), 'top_k', "Invalid body: 'top_k' must be an integer (got 2.5)"],
  ['an enum miss', search({ mode: 'fuzzy' }), 'mode', 'Invalid body: \'mode\' must be one of lexical, vector, hybrid (got "fuzzy")'],
  ['a string that is not a UUID', search({ document_ids: ['x'] }), 'document_ids.0', 'Invalid body: \'document_ids.0\' must be a UUID (got "x")'],
  ['a nested number over its maximum', search({ weights: { lexical: 11, vector: 1 } }), 'weights.lexical', "Invalid body: 'weights.lexical' must be at most 10 (got 11)"],
  ['an unknown field', search({ bogus: 1 }), 'bogus', `Invalid body: 'bogus' is not a known field (known fields: ${searchFields})`],
  [
    'an unknown nested field',
    search({ weights: { lexical: 1, vector: 1, x: 2 } }),
    'weights.x',
    "Invalid body: 'weights.x' is not a known field (known fields: lexical, vector)",
  ],
  ['an empty object where one field is needed', { method: 'PATCH', path: '/collections', body: {} }, 'body', 'Invalid body: the body must have at least 1 field (got 0 fields)'],
  // Users: patterns, formats, query and path parameters.
  ['a pattern miss', user({ username: 'has space' }), 'username', 'Invalid body: \'username\' must match ^[A-Za-z0-9_.-]+$ (got "has space")'],
  ['a string under its minLength', user({ username: 'ab' }), 'username', 'Invalid body: \'username\' must be at least 3 characters long (got 2 characters)'],
  ['a bad email', user({ email: 'nope' }), 'email', 'Invalid body: \'email\' must be an email address (got "nope")'],
  ['a string for a boolean', user({ force_password_change: 'yes' }), 'force_password_change', 'Invalid body: \'force_password_change\' must be a boolean (got "yes")'],
  ['a secret is not echoed', { path: '/keys', body: { api_key: 'sk-live-123', password: 'long-enough-pw' } }, 'api_key', "Invalid body: 'api_key' must match ^en_ (got a string)"],
  ['a query integer under its minimum', { method: 'GET', path: '/users?limit=0' }, 'limit', "Invalid query: 'limit' must be at least 1 (got 0)"],
  ['a query value that is no integer', { method: 'GET', path: '/users?limit=abc' }, 'limit', 'Invalid query: \'limit\' must be an integer (got "abc")'],
  ['a query enum miss', { method: 'GET', path: '/audit?outcome=maybe' }, 'outcome', 'Invalid query: \'outcome\' must be one of '],
  // Roles are named by the administrator (custom roles): a name that cannot be one is refused by its pattern.
  ['a role name that cannot be one', { method: 'GET', path: '/users?role=Root!' }, 'role', 'Invalid query: \'role\' '],
  ['a path parameter that is not a UUID', { method: 'GET', path: '/users/123' }, 'id', 'Invalid params: \'id\' must be a UUID (got "123")'],
]

describe('validation messages name the field and the rule', () => {
  test.each(invalid)('%s', async (_what, sent, param, message) => {
    const res = await send(sent)
    expect(res).toMatchObject({ status: 400, code: 'validation_failed', param })
    if (message.endsWith(' ')) expect(res.message).toStartWith(message)
    else expect(res.message).toBe(message)
  })

  test('valid requests still pass, null included where the schema allows it', async () => {
    for (const sent of [chat({ temperature: null, max_tokens: null, stop: ['a'] }), embed({ input: [[1, 2]] }), search({ top_k: 7 })]) {
      expect(await send(sent)).toEqual({ status: 200 })
    }
  })
})

describe('bodies that are not JSON', () => {
  test.each([
    ['text/plain', 'Content-Type: text/plain'],
    ['text/plain; charset=utf-8', 'Content-Type: text/plain'],
    ['application/octet-stream', 'Content-Type: application/octet-stream'],
  ])('%s on a JSON route is a 415 saying what to send', async (contentType, sent) => {
    const res = await send({ path: '/chat', body: JSON.stringify({ model: 'm', messages }), contentType })
    expect(res).toMatchObject({ status: 415, code: 'unsupported_media_type', param: null })
    expect(res.message).toBe(`Send a JSON body with Content-Type: application/json (got ${sent})`)
  })

  test('no body at all is a 415 too', async () => {
    const res = await send({ path: '/chat' })
    expect(res).toMatchObject({ status: 415, code: 'unsupported_media_type' })
    expect(res.message).toBe('Send a JSON body with Content-Type: application/json (got no Content-Type)')
  })

  test('a refusal thrown by a parse hook keeps its own status, code and message', async () => {
    const capped = new Elysia({ normalize: false })
      .use(httpBasics(createLogger('silent')))
      .onParse(() => {
        throw new ApiError('payload_too_large', 'The request body may be at most 10 bytes')
      })
      .post('/chat', ok, { body: ChatCompletionBody })
    const res = await capped.handle(
      new Request('http://localhost/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages }) }),
    )
    expect(res.status).toBe(413)
    expect(((await res.json()) as { error: unknown }).error).toMatchObject({
      code: 'payload_too_large',
      message: 'The request body may be at most 10 bytes',
    })
  })

  test('malformed JSON is a 400 invalid_json that says why', async () => {
    const res = await send({ path: '/chat', body: '{"model":' })
    expect(res).toMatchObject({ status: 400, code: 'invalid_json' })
    expect(res.message).toStartWith('The request body is not valid JSON: ')
  })
})
