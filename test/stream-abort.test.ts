/**
 * A client that goes away before the first token (the playground's or the test chat's Stop while the upstream is
 * still thinking) is not a server fault: the request ends as 499, logged at info, with no error and no exception
 * dump. Before the fix, the upstream fetch's AbortError reached the global error handler and was logged at `error`
 * as an "unhandled error" with the whole DOMException.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startUpstream, type Upstream } from './fixtures/upstream.ts'
import { schemaName } from './harness.ts'
import { killLeftovers, startServer, storeEnv, type Server } from './server-process.ts'

const PASSWORD = 'stream-abort-admin-password'
let up: Upstream
let server: Server
let token: string

afterAll(killLeftovers)
beforeAll(async () => {
  up = await startUpstream({ models: ['mock-chat'] })
  server = await startServer({
    DATA_DIR: mkdtempSync(join(tmpdir(), 'enclava-abort-')),
    ADMIN_PASSWORD: PASSWORD,
    PRIVATEMODE_URL: up.url,
    PLUGINS_DIRS: '',
    LOG_LEVEL: 'info',
    ...(await storeEnv(schemaName('abort'))),
  })
  const login = await fetch(`${server.url}/api-internal/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'admin@enclava.local', password: PASSWORD }),
  })
  token = ((await login.json()) as { access_token: string }).access_token
})
afterAll(async () => {
  server?.proc.kill('SIGTERM')
  await server?.exited
  await up?.stop()
})

const post = (path: string, body: unknown, signal?: AbortSignal) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    ...(signal ? { signal } : {}),
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify(body),
  })

/** Sends, waits until the upstream has the request (it holds the first byte for 2 s), then hangs up. */
async function stopBeforeFirstToken(path: string, body: unknown): Promise<string> {
  const before = up.requests.length
  const controller = new AbortController()
  const pending = post(path, body, controller.signal).catch(() => null)
  while (up.requests.length === before) await Bun.sleep(10)
  controller.abort()
  await pending
  const id = up.requests.at(-1)?.headers['x-request-id']
  return id ?? ''
}

/**
 * The server's log lines about requests to `path` written since line `from` (so an earlier test's request to the same
 * path does not count), once the request has been logged as ended.
 */
async function linesFor(path: string, from: number): Promise<Record<string, unknown>[]> {
  const parsed = () => server.lines.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.path === path)
  const deadline = Date.now() + 10_000
  while (!parsed().some((l) => l.status !== undefined) && Date.now() < deadline) await Bun.sleep(50)
  return parsed()
}

describe('Stop before the first token', () => {
  test('the playground path: 499 at info, no error and no dump', async () => {
    up.setBehavior('slow-first-byte')
    const path = '/api-internal/v1/llm/chat/completions'
    const from = server.lines.length
    await stopBeforeFirstToken(path, { model: 'mock-chat', stream: true, messages: [{ role: 'user', content: 'hi' }] })
    const lines = await linesFor(path, from)
    expect(lines.filter((l) => l.level === 'error')).toEqual([])
    expect(lines.some((l) => 'err' in l)).toBe(false)
    expect(lines.find((l) => l.status !== undefined)).toMatchObject({ level: 'info', status: 499, msg: 'client closed the request' })
  }, 30_000)

  test("a chatbot's test chat: the same", async () => {
    up.setBehavior('ok')
    const created = await fetch(`${server.url}/api-internal/v1/chatbots`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'abort bot', model: 'mock-chat' }),
    })
    const bot = (await created.json()) as { id: string }
    up.setBehavior('slow-first-byte')
    const path = `/api-internal/v1/chatbot/${bot.id}/chat`
    const from = server.lines.length
    await stopBeforeFirstToken(path, { message: 'hi', stream: true })
    const lines = await linesFor(path, from)
    expect(lines.filter((l) => l.level === 'error')).toEqual([])
    expect(lines.find((l) => l.status !== undefined)).toMatchObject({ level: 'info', status: 499 })
  }, 30_000)

  test('a request that fails for real is still an error with its details', async () => {
    up.setBehavior('ok')
    // Not aborted: an ordinary refusal keeps its warn line.
    const from = server.lines.length
    const res = await post('/api-internal/v1/llm/chat/completions', { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] })
    expect(res.status).toBe(404)
    const lines = await linesFor('/api-internal/v1/llm/chat/completions', from)
    expect(lines.some((l) => l.level === 'warn' && l.status === 404)).toBe(true)
  }, 30_000)
})
