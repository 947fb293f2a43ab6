/**
 * The real server process, started the way the README starts it (`bun src/index.ts`), on the embedded defaults
 * or on DATABASE_URL/REDIS_URL when they are set: the newcomer's first minute, request ids, readiness,
 * graceful shutdown and start-up errors.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { schemaName } from './harness.ts'
import { killLeftovers, ROOT, startServer, storeEnv, track, type Server } from './server-process.ts'

const schema = schemaName('srv')

afterAll(killLeftovers)

const json = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
})

describe('a fresh start on its own data directory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'enclava-server-'))
  let server: Server
  let env: Record<string, string>

  beforeAll(async () => {
    env = { DATA_DIR: dataDir, ...(await storeEnv(schema)) }
    server = await startServer(env)
  })
  afterAll(async () => {
    await killLeftovers()
    if (process.env.DATABASE_URL) {
      const admin = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} })
      await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await admin.end()
    }
  })

  test('the newcomer signs in with the printed password, changes it, creates a key and calls the public API', async () => {
    const printed = server.lines.find((l) => l.includes('generated password'))
    const password = printed ? /generated password: (\S+)/.exec(printed)?.[1] : undefined
    expect(password).toBeString()
    // Printed once, and only there: no other log line carries it.
    expect(server.lines.filter((l) => password && l.includes(password))).toHaveLength(1)

    const login = await fetch(`${server.url}/api-internal/v1/auth/login`, json({ email: 'admin@enclava.local', password }))
    expect(login.status).toBe(200)
    const first = (await login.json()) as { access_token: string; user: { force_password_change: boolean } }
    expect(first.user.force_password_change).toBe(true)
    const auth = { authorization: `Bearer ${first.access_token}`, 'content-type': 'application/json' }

    const change = await fetch(`${server.url}/api-internal/v1/auth/change-password`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ current_password: password, new_password: 'newcomer-chosen-password' }),
    })
    expect(change.status).toBe(204)

    const created = await fetch(`${server.url}/api-internal/v1/api-keys`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'first key' }),
    })
    expect(created.status).toBe(201)
    const { key } = (await created.json()) as { key: string }
    expect(key).toMatch(/^en_[0-9A-Za-z]{40}$/)

    const me = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } })
    expect(me.status).toBe(200)
    expect(await me.json()).toMatchObject({ name: 'first key', owner: { email: 'admin@enclava.local' } })
    // The key never appears in the logs.
    expect(server.lines.some((l) => l.includes(key))).toBe(false)
  })

  test('health, readiness and the API docs answer', async () => {
    expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ status: 'ok' })
    const ready = await fetch(`${server.url}/health/ready`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { database: 'ok', migrations: 'ok', cache: 'ok' } })
    const docs = await fetch(`${server.url}/api/v1/docs`)
    expect(docs.status).toBe(200)
    expect(await docs.text()).toContain('swagger')
    const spec = (await (await fetch(`${server.url}/api/v1/docs/json`)).json()) as { paths: Record<string, unknown> }
    for (const path of ['/api/v1/me', '/api-internal/v1/auth/login', '/api-internal/v1/api-keys/{id}', '/api-internal/v1/users/'])
      expect(Object.keys(spec.paths)).toContain(path)
  })

  test('request ids: a sane one is echoed, otherwise one is generated, and it is in the access log', async () => {
    const given = await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'trace-abc.123' } })
    expect(given.headers.get('x-request-id')).toBe('trace-abc.123')
    const made = await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'bad id with spaces' } })
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const error = await fetch(`${server.url}/api/v1/me`)
    expect(error.status).toBe(401)
    const body = (await error.json()) as { error: { request_id: string; type: string } }
    expect(body.error.request_id).toBe(error.headers.get('x-request-id') ?? '')
    expect(body.error.type).toBe('authentication_error')
    await Bun.sleep(50)
    const logged = server.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.request_id === 'trace-abc.123')
    expect(logged).toMatchObject({ level: 'info', method: 'GET', status: 200 })
  })

  test('a second embedded server on the same data directory refuses to start, naming the reason', async () => {
    if (process.env.DATABASE_URL) {
      // With a server database the lock does not apply: two replicas share it on purpose.
      const second = await startServer({ ...env, DATA_DIR: mkdtempSync(join(tmpdir(), 'enclava-replica-')) })
      expect((await fetch(`${second.url}/health/ready`)).status).toBe(200)
      second.proc.kill('SIGTERM')
      expect(await second.exited).toBe(0)
      return
    }
    await expect(startServer({ DATA_DIR: dataDir })).rejects.toThrow(/is in use by process/)
  })

  test('SIGTERM: stops accepting, finishes the request in flight, closes the stores, exits 0', async () => {
    let sendRest: () => void = () => {}
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"email":"admin@enclava.local",'))
        sendRest = () => {
          controller.enqueue(new TextEncoder().encode('"password":"newcomer-chosen-password"}'))
          controller.close()
        }
      },
    })
    const inFlight = fetch(`${server.url}/api-internal/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    })
    await Bun.sleep(300)
    server.proc.kill('SIGTERM')
    await Bun.sleep(300)
    sendRest()
    const res = await inFlight
    expect(res.status).toBe(200)
    expect(((await res.json()) as { token_type: string }).token_type).toBe('bearer')
    expect(await server.exited).toBe(0)
    expect(server.lines.slice(-3).join('\n')).toContain('shutdown complete')
    await expect(fetch(`${server.url}/health`)).rejects.toThrow()
  })
})

describe('start-up errors', () => {
  test.each([
    ['PORT', 'eighty', 'PORT: expected an integer'],
    ['DATABASE_URL', 'mysql://nope', 'DATABASE_URL: expected a value matching'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL: expected one of'],
  ])('%s=%s exits with code 2 and names the variable', async (name, value, message) => {
    const env = { [name]: value }
    const proc = track(
      Bun.spawn(['bun', 'src/index.ts'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', DATA_DIR: mkdtempSync(join(tmpdir(), 'enclava-bad-')), ...env },
        stdout: 'pipe',
        stderr: 'pipe',
      }),
    )
    expect(await proc.exited).toBe(2)
    const stderr = await new Response(proc.stderr).text()
    expect(stderr).toContain(message)
    expect(stderr).not.toContain('    at ')
  })
})
