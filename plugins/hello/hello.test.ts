import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { parseManifest, sandboxLimits } from '../../src/plugins/manifest.ts'
import { bundlePlugin, SandboxClient, toResponse, toWireRequest, type HostCallName, type RouteResult } from '../../src/plugins/sandbox/index.ts'

const manifest = parseManifest(await Bun.file(join(import.meta.dir, 'plugin.json')).json())

/** The platform's host API as far as this plugin uses it: kv in a Map, settings in an object. */
const kv = new Map<string, unknown>()
let settings: Record<string, unknown> = {}
const denied: HostCallName[] = []

async function onHostCall(_plugin: string, _id: string, name: HostCallName, args: unknown[]): Promise<unknown> {
  switch (name) {
    case 'kv.get':
      return kv.get(String(args[0])) ?? null
    case 'kv.set':
      kv.set(String(args[0]), args[1])
      return null
    case 'config.get':
      return args[0] === undefined ? settings : (settings[String(args[0])] ?? null)
    default:
      denied.push(name)
      throw Object.assign(new Error(`${name} is not granted to hello`), { code: 'permission_denied' })
  }
}

const sandbox = new SandboxClient({ onHostCall, onLog: () => {} })

beforeAll(async () => {
  await sandbox.start()
  await sandbox.load('hello', (await bundlePlugin(join(import.meta.dir, manifest.entry), import.meta.dir)).code, sandboxLimits(manifest))
})
afterAll(() => sandbox.stop())
beforeEach(() => {
  kv.clear()
  settings = {}
  denied.length = 0
})

async function get(path: string, identity: unknown = null): Promise<Response> {
  const request = await toWireRequest(new Request(`http://plugin${path}`))
  const pathname = new URL(path, 'http://x').pathname
  return toResponse((await sandbox.invoke('hello', 'route', { request, path: pathname, identity })) as RouteResult)
}

describe('hello plugin', () => {
  test('declares in code exactly the routes and tools of its manifest', async () => {
    const meta = await sandbox.load('hello', (await bundlePlugin(join(import.meta.dir, manifest.entry), import.meta.dir)).code, sandboxLimits(manifest))
    expect(meta.routes.toSorted()).toEqual(manifest.routes.map((r) => `${r.method} ${r.path}`).toSorted())
    expect(meta.tools).toEqual(manifest.tools.map((t) => t.name))
    expect(meta).toMatchObject({ name: manifest.name, version: manifest.version })
  })

  test('GET /hello greets with the default greeting and counts calls in kv', async () => {
    expect(await (await get('/hello')).json()).toEqual({ message: 'Hello, world!', calls: 1 })
    expect(await (await get('/hello?name=Ada')).json()).toEqual({ message: 'Hello, Ada!', calls: 2 })
    expect(kv.get('calls')).toBe(2)
  })

  test('the configured greeting is used', async () => {
    settings = { greeting: 'Grüezi' }
    expect(await (await get('/hello?name=Ada')).json()).toMatchObject({ message: 'Grüezi, Ada!' })
  })

  test('a name that is too long is a 400 with a JSON error', async () => {
    const res = await get(`/hello?name=${'x'.repeat(51)}`)
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: { code: 'bad_request', message: 'name is longer than 50 characters' } })
  })

  test('GET /me greets the caller the platform identified', async () => {
    const res = await get('/me', { user_id: 42, api_key_id: 7, source: 'api' })
    expect(await res.json()).toEqual({ message: 'Hello, user 42!', user_id: 42, api_key_id: 7, source: 'api', calls: 1 })
  })

  test('GET /me without a user is a 401', async () => {
    for (const identity of [null, { user_id: null, source: 'public' }]) {
      const res = await get('/me', identity)
      expect(res.status).toBe(401)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized')
    }
  })

  test('the greet tool greets with the configured greeting, counting the call', async () => {
    settings = { greeting: 'Hoi' }
    const identity = { source: 'tool', user_id: 'u1', api_key_id: null, tool: 'greet' }
    expect(await sandbox.invoke('hello', 'tool', { name: 'greet', input: { name: ' Ada ' }, identity })).toEqual({ message: 'Hoi, Ada!', calls: 1 })
    expect(kv.get('calls')).toBe(1)
  })

  test('the greet tool refuses a missing or too long name, saying why', async () => {
    for (const input of [{}, { name: 'x'.repeat(51) }]) {
      const err = (await sandbox.invoke('hello', 'tool', { name: 'greet', input }).catch((e: unknown) => e)) as { code: string; message: string }
      expect(err).toMatchObject({ code: 'plugin_error', message: 'Error: "name" must be 1 to 50 characters' })
    }
  })

  test('uses nothing beyond its kv grant and its settings', async () => {
    await get('/hello')
    await get('/me', { user_id: 1, source: 'api' })
    await sandbox.invoke('hello', 'tool', { name: 'greet', input: { name: 'Ada' } })
    expect(denied).toEqual([])
  })
})
