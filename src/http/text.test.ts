/**
 * U+0000 in anything a client sends: found wherever it sits (values, keys, arrays, forms, file names), and refused
 * with a 400 naming the field by the request-wide check in httpBasics (src/http/plugin.ts), on every route: the
 * stores outside the chatbots (collections, searches, API keys, budgets, audit filters) answered 500 before.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { ApiError } from './errors.ts'
import { assertNoNul, nulPath } from './text.ts'

const NUL = '\u0000'

describe('nulPath', () => {
  const file = (name: string) => new File(['binary \u0000 content is not text'], name)
  const form = new FormData()
  form.append('title', 'ok')
  form.append('files', file(`a${NUL}.txt`))
  const cases: [string, unknown, string | null][] = [
    ['plain text', 'hello', null],
    ['a string with NUL', `a${NUL}b`, ''],
    ['numbers, booleans, null', { a: 1, b: true, c: null, d: undefined }, null],
    ['a field', { name: `x${NUL}` }, 'name'],
    ['a nested array item', { messages: [{ content: 'a' }, { content: `b${NUL}` }] }, 'messages.1.content'],
    ['an object key', { metadata: { [`k${NUL}`]: 'v' } }, 'metadata.k\\u0000'],
    ['the first offending field in document order', { a: 'ok', b: NUL, c: NUL }, 'b'],
    ['a __proto__ key', JSON.parse(`{"__proto__": {"x": "\\u0000"}}`), '__proto__.x'],
    ["a file's contents", { upload: file('ok.txt') }, null],
    ["a file's name", { upload: file(`evil${NUL}.txt`) }, 'upload.name'],
    ['form data', form, 'files.name'],
    ['bytes', new Uint8Array([0, 0]), null],
  ]
  test.each(cases)('%s', (_, value, expected) => expect(nulPath(value)).toBe(expected))

  test('a body nested deeper than the stack allows recursion is still walked', () => {
    let deep: unknown = NUL
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(nulPath(deep)).toBe(Array(100_000).fill('0').join('.'))
  })
})

describe('assertNoNul', () => {
  test('throws validation_failed naming the field and the rule', () => {
    const error = (() => {
      try {
        assertNoNul({ prompt_variables: { tone: NUL } }, 'body')
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({
      status: 400,
      code: 'validation_failed',
      param: 'prompt_variables.tone',
      message: "Invalid body: 'prompt_variables.tone' must not contain the NUL character (U+0000)",
    })
    expect(() => assertNoNul(`x${NUL}`, 'body', 'message')).toThrow("Invalid body: 'message'")
    expect(() => assertNoNul(NUL, 'body')).toThrow("Invalid body: 'body'")
    expect(() => assertNoNul({ fine: 'text' }, 'body')).not.toThrow()
  })
})

describe('the app refuses NUL on every route', () => {
  let env: TestEnv
  let app: { handle(request: Request): Promise<Response> }
  let token: string
  let admin: string
  beforeAll(async () => {
    env = await createTestEnv({ RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
    app = env.app
    token = (await env.user('user')).token
    admin = await env.adminToken()
  })
  afterAll(async () => {
    await env?.close()
  })

  async function call(method: string, path: string, auth: string, body?: unknown) {
    const headers: Record<string, string> = { authorization: `Bearer ${auth}` }
    if (body !== undefined && !(body instanceof FormData)) headers['content-type'] = 'application/json'
    const init = { method, headers, ...(body === undefined ? {} : { body: body instanceof FormData ? body : JSON.stringify(body) }) }
    const res = await app.handle(new Request(`http://localhost${path}`, init))
    return { status: res.status, body: (await res.json().catch(() => null)) as any }
  }

  test('collections, searches, API keys, budgets and audit filters: a 400 naming the field, never a 500', async () => {
    const collection = (await call('POST', '/api-internal/v1/rag/collections', token, { name: 'kb' })).body.id as string
    const cases: [string, string, string, unknown, string][] = [
      ['POST', '/api-internal/v1/rag/collections', token, { name: `kb${NUL}` }, 'name'],
      ['PATCH', `/api-internal/v1/rag/collections/${collection}`, token, { description: NUL }, 'description'],
      ['POST', `/api-internal/v1/rag/collections/${collection}/search`, token, { query: `q${NUL}` }, 'query'],
      ['POST', `/api-internal/v1/rag/collections/${collection}/search`, token, { query: 'q', metadata: { [NUL]: 'x' } }, 'metadata.\\u0000'],
      ['POST', '/api-internal/v1/api-keys', token, { name: `k${NUL}` }, 'name'],
      ['POST', '/api-internal/v1/budgets', admin, { name: `b${NUL}`, scope: 'global', limit_usd: 1, period: 'daily' }, 'name'],
      ['GET', `/api-internal/v1/audit?resource_id=${encodeURIComponent(NUL)}`, admin, undefined, 'resource_id'],
    ]
    for (const [method, path, auth, body, param] of cases) {
      const res = await call(method, path, auth, body)
      expect({ path, param, status: res.status, code: res.body?.error?.code }).toEqual({ path, param, status: 400, code: 'validation_failed' })
      expect(res.body.error.param).toBe(param)
    }
  })

  test('authentication still comes first: an anonymous caller gets 401, not a description of the body', async () => {
    const res = await app.handle(
      new Request('http://localhost/api-internal/v1/rag/collections', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: NUL }) }),
    )
    expect(res.status).toBe(401)
  })
})
