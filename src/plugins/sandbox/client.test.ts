import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { RouteResult } from '../../../sandbox/protocol.ts'
import { bundlePlugin, PluginBundleError } from './bundle.ts'
import { toResponse, toWireRequest } from './http.ts'
import { failure, GOOD_PLUGIN, pluginWith, type SandboxHarness, startHarness, TEST_LIMITS } from './testing.ts'

const PLUGINS = join(import.meta.dir, 'test-plugins')
let h: SandboxHarness

beforeAll(async () => {
  h = await startHarness()
  await h.client.load('hello', (await bundlePlugin(join(PLUGINS, 'hello.ts'))).code, TEST_LIMITS)
})
afterAll(() => h.stop())

async function route(method: string, path: string, init: RequestInit = {}): Promise<Response> {
  const request = await toWireRequest(new Request(`http://localhost/api/v1/plugins/hello${path}`, { method, ...init }))
  return toResponse((await h.client.invoke('hello', 'route', { request, path }, { wallMs: 2_000 })) as RouteResult)
}

describe('loading', () => {
  test('load reports what the plugin declares', async () => {
    const meta = await h.client.load('hello2', (await bundlePlugin(join(PLUGINS, 'hello.ts'))).code, TEST_LIMITS)
    expect(meta).toEqual({
      name: 'hello',
      version: '1.2.3',
      routes: ['GET /hello/:who', 'POST /echo', 'GET /bytes', 'GET /plain', 'GET /files/*', 'GET /files/readme', 'ALL /any'],
      cron: ['tick'],
      tools: [],
      hooks: { execute: true, onEnable: true, onDisable: false },
    })
    await h.client.unload('hello2')
    expect((await failure(h.client.invoke('hello2', 'execute', {}))).code).toBe('plugin_not_loaded')
  })

  test('a module that does not compile, imports something else or exports no class is invalid_plugin', async () => {
    for (const [code, fragment] of [
      ['export default class {', 'does not compile'],
      [`import fs from 'node:fs'\nexport default class { }`, 'is not allowed'],
      ['export const notDefault = 1', 'export default'],
      [`import { BasePlugin } from 'enclava:plugin'\nexport default class extends BasePlugin { routes = { 'GET nope': () => 1 } }`, 'invalid key'],
      [`import { BasePlugin } from 'enclava:plugin'\nthrow new Error('boom at load')\nexport default class extends BasePlugin {}`, 'boom at load'],
    ] as const) {
      const err = await failure(h.client.load('broken', code, TEST_LIMITS))
      expect(err.code).toBe('invalid_plugin')
      expect(err.message).toContain(fragment)
    }
    expect((await failure(h.client.invoke('broken', 'execute', {}))).code).toBe('plugin_not_loaded')
  })

  test('limits out of bounds are refused', async () => {
    const err = await failure(h.client.load('x', GOOD_PLUGIN, { ...TEST_LIMITS, memoryMb: 1 }))
    expect(err.code).toBe('bad_request')
    expect(err.message).toContain('memoryMb')
  })
})

describe('execute, cron and hooks', () => {
  test('execute returns data; kv, fetch and console go through the host', async () => {
    h.calls.length = 0
    const identity = { userId: 7, role: 'user' }
    const out = await h.client.invoke('hello', 'execute', { input: { n: 1, s: 'ü' }, identity }, { wallMs: 2_000 })
    expect(out).toEqual({
      input: { n: 1, s: 'ü' },
      identity,
      last: { n: 1, s: 'ü' },
      status: 200,
      fetched: {
        echo: {
          method: 'POST',
          url: 'https://api.example.com/data?x=1',
          headers: [
            ['content-type', 'text/plain;charset=UTF-8'],
            ['x-test', 'yes'],
          ],
          body: btoa('{"q":1}'),
          bodyEncoding: 'base64',
          redirect: 'follow',
        },
      },
    })
    expect(h.calls.map((c) => c.name)).toEqual(['kv.set', 'fetch', 'kv.get'])
    expect(h.calls.every((c) => c.plugin === 'hello' && c.invocationId === h.calls[0]?.invocationId)).toBe(true)
    expect(h.kv.get('hello:last')).toEqual({ n: 1, s: 'ü' })
    const logs = h.logs.filter((l) => l.plugin === 'hello')
    expect(logs.map((l) => [l.level, l.message])).toContainEqual(['info', 'execute called with {"n":1,"s":"ü"}'])
    expect(logs.map((l) => [l.level, l.message])).toContainEqual(['warn', 'a warning'])
    expect(logs.every((l) => l.invocationId === h.calls[0]?.invocationId)).toBe(true)
  })

  test('cron handlers run by name; onEnable runs; a missing cron is method_not_found', async () => {
    expect(await h.client.invoke('hello', 'cron', { name: 'tick' })).toBe(1)
    expect(await h.client.invoke('hello', 'cron', { name: 'tick' })).toBe(2)
    expect(await h.client.invoke('hello', 'onEnable', {})).toBe('enabled')
    expect(h.kv.get('hello:enabled')).toBe(true)
    expect(await h.client.invoke('hello', 'onDisable', {})).toBeNull()
    expect((await failure(h.client.invoke('hello', 'cron', { name: 'nope' }))).code).toBe('method_not_found')
  })

  test('a host call that fails rejects inside the plugin with its code', async () => {
    await h.client.load('denied', pluginWith(`try { await ctx.llm.chat({ model: 'x' }) } catch (e) { return [e.name, e.code, e.message] }`), TEST_LIMITS)
    expect(await h.client.invoke('denied', 'execute', {})).toEqual(['HostCallError', 'permission_denied', 'llm.chat is not granted to denied'])
  })

  test('a plugin error is plugin_error with the plugin stack kept apart', async () => {
    await h.client.load('thrower', pluginWith(`throw new TypeError('nope ' + ctx.input)`), TEST_LIMITS)
    const err = await failure(h.client.invoke('thrower', 'execute', { input: 42 }))
    expect(err.code).toBe('plugin_error')
    expect(err.message).toBe('TypeError: nope 42')
    expect(err.pluginStack).toContain('plugin:thrower')
    const bad = await failure(h.client.invoke('thrower', 'route', { request: { method: 'GET', url: 'http://x/', headers: [] } }))
    expect(bad.code).toBe('route_not_found')
  })

  test('a result that is not JSON is invalid_result', async () => {
    await h.client.load('bigint', pluginWith('return 10n'), TEST_LIMITS)
    expect((await failure(h.client.invoke('bigint', 'execute', {}))).code).toBe('invalid_result')
  })

  test('aborting the signal cancels the invocation', async () => {
    await h.client.load('slow', pluginWith('await new Promise((r) => setTimeout(r, 1500)); return 1'), TEST_LIMITS)
    const controller = new AbortController()
    const pending = h.client.invoke('slow', 'execute', {}, { signal: controller.signal })
    setTimeout(() => controller.abort(), 50)
    expect((await failure(pending)).code).toBe('cancelled')
    expect(await h.client.invoke('slow', 'execute', {})).toBe(1)
  })
})

describe('routes', () => {
  test('a route returns status, headers and body; params come from the key', async () => {
    const res = await route('GET', '/hello/wörld')
    expect(res.status).toBe(201)
    expect(res.headers.get('x-plugin')).toBe('hello')
    expect(res.headers.get('content-type')).toBe('text/plain;charset=UTF-8')
    expect(await res.text()).toBe('hello, wörld')
  })

  test('request bodies and binary responses survive the trip', async () => {
    const echo = await route('POST', '/echo', { body: JSON.stringify({ a: [1, 'ü'] }), headers: { 'content-type': 'application/json' } })
    expect(await echo.json()).toEqual({ got: { a: [1, 'ü'] }, type: 'application/json' })
    const bytes = await route('GET', '/bytes')
    expect([...new Uint8Array(await bytes.arrayBuffer())]).toEqual([0, 1, 2, 254, 255])
  })

  test('plain values become JSON; exact paths beat patterns; * and ALL match', async () => {
    expect(await (await route('GET', '/plain')).json()).toEqual({ plain: 'object' })
    expect(await (await route('GET', '/files/readme')).text()).toBe('exact wins')
    expect(await (await route('GET', '/files/a/b%20c')).json()).toEqual({ rest: 'a/b c' })
    expect(await (await route('DELETE', '/any')).text()).toBe('DELETE')
  })

  test('routeKey picks a handler directly; an unknown path is route_not_found', async () => {
    const request = await toWireRequest(new Request('http://localhost/whatever'))
    const result = (await h.client.invoke('hello', 'route', { request, routeKey: 'GET /plain' })) as RouteResult
    expect(await toResponse(result).json()).toEqual({ plain: 'object' })
    const err = await failure(h.client.invoke('hello', 'route', { request, path: '/nowhere' }))
    expect(err.code).toBe('route_not_found')
  })

  test('the handler sees the request URL as the WHATWG parser gives it, however often it parses it', async () => {
    // The sandbox parses a route's URL before the isolate does (runtime/url.js keeps the parse): it must be the same.
    const code = `import { BasePlugin } from 'enclava:plugin'
export default class U extends BasePlugin {
  routes = { 'GET /u/*': (req) => { const a = new URL(req.url); const b = new URL(req.url); b.search = ''; return { url: req.url, href: a.href, q: a.searchParams.getAll('q'), path: a.pathname, b: b.href, again: new URL(req.url).search } } }
}`
    await h.client.load('urls', code, TEST_LIMITS)
    const cases: [string, string][] = [
      ['http://plugin/u/a/./b/../c?q=x%20y&q=2#frag', 'http://plugin/u/a/c?q=x%20y&q=2#frag'],
      ['HTTP://Plugin/u/%7Efine?q=ü', 'http://plugin/u/%7Efine?q=%C3%BC'],
    ]
    for (const [given, url] of cases) {
      const request = await toWireRequest(new Request('http://localhost/x'), given)
      const result = (await h.client.invoke('urls', 'route', { request, routeKey: 'GET /u/*', path: '/u/x' })) as RouteResult
      const got = (await toResponse(result).json()) as { url: string; href: string; q: string[]; path: string; b: string; again: string }
      const expected = new URL(given)
      expect(got).toEqual({
        url,
        href: url,
        q: expected.searchParams.getAll('q'),
        path: expected.pathname,
        b: `${expected.origin}${expected.pathname}${expected.hash}`,
        again: expected.search,
      })
    }
  })
})

describe('isolation between plugins', () => {
  test('globals of one plugin are invisible to another', async () => {
    await h.client.load('writer', pluginWith(`globalThis.secret = 'mine'; Object.prototype.leak = 1; return typeof secret`), TEST_LIMITS)
    await h.client.load('reader', pluginWith(`return [typeof globalThis.secret, ({}).leak ?? null]`), TEST_LIMITS)
    expect(await h.client.invoke('writer', 'execute', {})).toBe('string')
    expect(await h.client.invoke('reader', 'execute', {})).toEqual(['undefined', null])
  })

  test('state persists across invocations of one plugin (one isolate, one context)', async () => {
    await h.client.load('counter', pluginWith('globalThis.n = (globalThis.n ?? 0) + 1; return n'), TEST_LIMITS)
    expect(await h.client.invoke('counter', 'execute', {})).toBe(1)
    expect(await h.client.invoke('counter', 'execute', {})).toBe(2)
  })
})

describe('bundlePlugin', () => {
  test('inlines local imports and keeps enclava:plugin external', async () => {
    const { code, inputs } = await bundlePlugin(join(PLUGINS, 'hello.ts'))
    expect(code).toContain('from "enclava:plugin"')
    expect(code).toContain('function greet')
    expect(code).not.toContain('./lib/greet')
    expect(inputs).toEqual(['hello.ts', 'lib/greet.ts'])
  })

  test('refuses Node builtins and unresolvable imports, naming the file and line', async () => {
    const builtin = await bundlePlugin(join(PLUGINS, 'uses-node.ts')).catch((e: unknown) => e)
    expect(builtin).toBeInstanceOf(PluginBundleError)
    expect((builtin as PluginBundleError).problems).toEqual([
      'uses-node.ts:1: imports "node:fs", which is a Node/Bun builtin: plugins run in a web-standard isolate without Node or Bun APIs',
    ])
    const missing = await bundlePlugin(join(PLUGINS, 'unresolved.ts')).catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(PluginBundleError)
    expect((missing as PluginBundleError).problems[0]).toStartWith('unresolved.ts:3: imports "./does-not-exist.ts", which cannot be resolved')
  })
})

test('health reports the process', async () => {
  const health = await h.client.health()
  expect(health.up).toBe(true)
  expect(health.pid).toBe(h.client.pid)
  expect(health.plugins).toBeGreaterThan(0)
  expect(health.rss).toBeGreaterThan(10_000_000)
})
