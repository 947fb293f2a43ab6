import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startHarness, TEST_LIMITS, type SandboxHarness } from './testing.ts'

// One plugin that runs each case's code (an async function body) in the isolate and returns its value.
const EVALUATOR = `import { BasePlugin } from 'enclava:plugin'
export default class Evaluator extends BasePlugin {
  async execute(ctx) { return await (0, eval)('(async () => {' + ctx.input + '\\n})()') }
}`

let h: SandboxHarness

beforeAll(async () => {
  h = await startHarness()
  await h.client.load('eval', EVALUATOR, { ...TEST_LIMITS, maxHostCalls: 20 })
})
afterAll(() => h.stop())

const run = (code: string) => h.client.invoke('eval', 'execute', { input: code })

const CASES: [string, string, unknown][] = [
  [
    'URL parses and exposes searchParams',
    `const u = new URL('/a/b?x=1&y=two%20words&x=3#frag', 'https://user:pw@Example.COM:8443/base/')
     return [u.href, u.origin, u.host, u.hostname, u.port, u.pathname, u.search, u.hash, u.username, u.searchParams.get('y'), u.searchParams.getAll('x')]`,
    [
      'https://user:pw@example.com:8443/a/b?x=1&y=two%20words&x=3#frag',
      'https://example.com:8443',
      'example.com:8443',
      'example.com',
      '8443',
      '/a/b',
      '?x=1&y=two%20words&x=3',
      '#frag',
      'user',
      'two words',
      ['1', '3'],
    ],
  ],
  [
    'URL setters and searchParams write back; invalid URLs throw TypeError',
    `const u = new URL('http://h/p?a=1')
     u.searchParams.append('b', 'x y&z')
     u.pathname = '/q r'
     u.hash = 'h'
     const bad = (() => { try { new URL('not a url') } catch (e) { return e.name } })()
     return [u.href, bad, URL.canParse('nope'), String(new URL('HTTP://ÄÖ.de')), JSON.stringify({ u: new URL('http://x') })]`,
    ['http://h/q%20r?a=1&b=x+y%26z#h', 'TypeError', false, 'http://xn--4ca0b.de/', '{"u":"http://x/"}'],
  ],
  [
    'a URL parsed again (from the parse cache) is its own object: changing one leaves the other and the next parse alone',
    `const a = new URL('http://h/p?a=1')
     a.pathname = '/changed'
     a.searchParams.append('b', '2')
     const b = new URL('http://h/p?a=1')
     const before = b.href
     b.hash = 'x'
     return [a.href, before, b.href, new URL('http://h/p?a=1').href, Object.isFrozen(b), [...b.searchParams.keys()]]`,
    ['http://h/changed?a=1&b=2', 'http://h/p?a=1', 'http://h/p?a=1#x', 'http://h/p?a=1', false, ['a']],
  ],
  [
    'URLSearchParams from string, record and pairs; sort and size',
    `const p = new URLSearchParams('?b=2&a=1&a=0&c=%E2%9C%93+x')
     p.sort()
     const q = new URLSearchParams({ k: 'v', n: 1 })
     const r = new URLSearchParams([['x', '1'], ['x', '2']])
     r.delete('x', '1')
     return [p.toString(), p.get('c'), p.size, q.toString(), r.toString(), [...p.keys()]]`,
    ['a=1&a=0&b=2&c=%E2%9C%93+x', '✓ x', 4, 'k=v&n=1', 'x=2', ['a', 'a', 'b', 'c']],
  ],
  [
    'TextEncoder and TextDecoder round-trip non-ASCII text, including astral characters',
    `const s = 'héllo wörld — 日本語 🎉'
     const bytes = new TextEncoder().encode(s)
     const into = new Uint8Array(5)
     const r = new TextEncoder().encodeInto('aé🎉', into)
     return [bytes.length, new TextDecoder().decode(bytes) === s, Array.from(new TextEncoder().encode('é🎉')), r.read, r.written]`,
    [32, true, [0xc3, 0xa9, 0xf0, 0x9f, 0x8e, 0x89], 2, 3],
  ],
  [
    'TextDecoder replaces invalid UTF-8, streams split characters, strips the BOM, and fatal throws',
    `const d = new TextDecoder()
     const invalid = d.decode(new Uint8Array([0x61, 0xff, 0xe2, 0x82, 0x62]))
     const s = new TextDecoder()
     const split = s.decode(new Uint8Array([0xe2, 0x82]), { stream: true }) + s.decode(new Uint8Array([0xac]))
     const bom = new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41]))
     const fatal = (() => { try { new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xc0])) } catch (e) { return e.name } })()
     const latin = (() => { try { new TextDecoder('latin1') } catch (e) { return e.name } })()
     return [invalid, split, bom, fatal, latin, new TextDecoder('UTF8').encoding]`,
    ['a\uFFFD\uFFFDb', '€', 'A', 'TypeError', 'RangeError', 'utf-8'],
  ],
  [
    'atob and btoa',
    `const bad = (() => { try { btoa('€') } catch (e) { return e.name } })()
     const worse = (() => { try { atob('a') } catch (e) { return e.name } })()
     return [btoa('hello\\u00ff'), atob('aGVsbG//'), atob(' aGk = '), bad, worse]`,
    ['aGVsbG//', 'hello\u00ff', 'hi', 'InvalidCharacterError', 'InvalidCharacterError'],
  ],
  [
    'crypto.randomUUID is a v4 UUID and getRandomValues fills with fresh values',
    `const ids = new Set(Array.from({ length: 100 }, () => crypto.randomUUID()))
     const a = crypto.getRandomValues(new Uint32Array(8))
     const b = crypto.getRandomValues(new Uint8Array(4096))
     const big = (() => { try { crypto.getRandomValues(new Uint8Array(65537)) } catch (e) { return e.name } })()
     const float = (() => { try { crypto.getRandomValues(new Float64Array(1)) } catch (e) { return e.name } })()
     return [ids.size, [...ids].every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)),
       new Set(a).size > 6, new Set(b).size > 200, big, float]`,
    [100, true, true, true, 'QuotaExceededError', 'TypeMismatchError'],
  ],
  [
    'structuredClone copies deeply, keeps types and cycles, refuses functions',
    `const src = { d: new Date(5), m: new Map([[1, { x: 1 }]]), s: new Set([1]), u: new Uint8Array([1, 2]), r: /a/g, e: new RangeError('r'), n: null }
     src.self = src
     const c = structuredClone(src)
     const fn = (() => { try { structuredClone({ f() {} }) } catch (e) { return e.name } })()
     return [c !== src, c.self === c, c.d instanceof Date && c.d.getTime(), c.m.get(1).x, c.m.get(1) !== src.m.get(1), c.s.has(1),
       c.u instanceof Uint8Array && [...c.u], c.r.flags, c.e instanceof RangeError && c.e.message, fn]`,
    [true, true, 5, 1, true, true, [1, 2], 'g', 'r', 'DataCloneError'],
  ],
  [
    'Headers are case-insensitive, combine repeats, iterate sorted, keep set-cookie apart',
    `const h = new Headers({ 'Content-Type': 'text/plain' })
     h.append('X-Multi', 'a'); h.append('x-multi', 'b'); h.append('Set-Cookie', 'a=1'); h.append('set-cookie', 'b=2')
     const bad = (() => { try { h.set('bad name', 'x') } catch (e) { return e.name } })()
     return [h.get('content-type'), h.get('X-MULTI'), h.has('CONTENT-TYPE'), [...h], h.getSetCookie(), bad]`,
    [
      'text/plain',
      'a, b',
      true,
      [
        ['content-type', 'text/plain'],
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
        ['x-multi', 'a, b'],
      ],
      ['a=1', 'b=2'],
      'TypeError',
    ],
  ],
  [
    'Request and Response bodies read as json, text and bytes, once',
    `const req = new Request('https://x/y', { method: 'post', body: JSON.stringify({ a: 'ü' }), headers: { 'content-type': 'application/json' } })
     const body = await req.json()
     const again = await req.text().catch((e) => e.name)
     const res = Response.json({ ok: 1 }, { status: 202 })
     const txt = new Response('héllo')
     const clone = txt.clone()
     const get = (() => { try { new Request('https://x', { body: 'b' }) } catch (e) { return e.name } })()
     return [req.method, body, again, req.bodyUsed, res.status, res.ok, res.headers.get('content-type'), await res.json(),
       await txt.text(), [...(await clone.bytes())].length, get, new Response(null, { status: 204 }).status]`,
    ['POST', { a: 'ü' }, 'TypeError', true, 202, true, 'application/json', { ok: 1 }, 'héllo', 6, 'TypeError', 204],
  ],
  [
    'setTimeout runs callbacks with their arguments; clearTimeout cancels',
    `const order = []
     const t = setTimeout(() => order.push('cleared'), 5)
     clearTimeout(t)
     await new Promise((resolve) => setTimeout((a, b) => { order.push(a + b); resolve() }, 10, 'x', 'y'))
     queueMicrotask(() => order.push('micro'))
     await null
     return order`,
    ['xy', 'micro'],
  ],
  [
    'fetch hands a Request to the host and rebuilds the Response',
    `const res = await fetch(new Request('https://api.example.com/v1?q=1', { method: 'PUT', body: new Uint8Array([1, 2, 3]) }))
     const json = await res.json()
     return [res.status, res.ok, res.url, res.headers.get('content-type'), json.echo.method, json.echo.url, atob(json.echo.body).length]`,
    [200, true, 'https://api.example.com/v1?q=1', 'application/json', 'PUT', 'https://api.example.com/v1?q=1', 3],
  ],
]

for (const [name, code, expected] of CASES) test(name, async () => expect(await run(code)).toEqual(expected as never))

test('console formats values and reaches onLog with the level', async () => {
  h.logs.length = 0
  await run(`console.log('a', 1, { b: [2] }, null, undefined); console.error(new Error('bad')); console.debug(10n, () => 1)`)
  expect(h.logs.map((l) => [l.level, l.message.split('\n')[0]])).toEqual([
    ['info', 'a 1 {"b":[2]} null undefined'],
    ['error', 'Error: bad'],
    ['debug', '10 () => 1'],
  ])
})

test('the global object holds the JS builtins and the web globals, nothing else', async () => {
  const names = (await run('return Object.getOwnPropertyNames(globalThis).sort()')) as string[]
  const web = ['DOMException', 'Headers', 'Request', 'Response', 'TextDecoder', 'TextEncoder', 'URL', 'URLSearchParams', 'atob', 'btoa']
  const webFns = ['clearTimeout', 'console', 'crypto', 'fetch', 'queueMicrotask', 'setTimeout', 'structuredClone']
  for (const name of [...web, ...webFns]) expect(names).toContain(name)
  for (const name of ['WebAssembly', 'SharedArrayBuffer', '__enclavaBasePlugin', 'process', 'require', 'Bun', 'global', 'module', 'navigator'])
    expect(names).not.toContain(name)
  const unexpected = names.filter((n) => !/^[A-Z]/.test(n) && ![...webFns, 'atob', 'btoa', 'globalThis', 'eval', 'undefined'].includes(n))
  expect(unexpected.sort()).toEqual(
    ['decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'isFinite', 'isNaN', 'parseFloat', 'parseInt', 'unescape'].sort(),
  )
})
