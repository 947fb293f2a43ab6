import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import type { Limits } from '../../../sandbox/protocol.ts'
import { SandboxError } from './errors.ts'
import { failure, GOOD_PLUGIN, pluginWith, type SandboxHarness, startHarness, TEST_LIMITS } from './testing.ts'

// Every hostile plugin must fail with its own clear code, and must leave the sandbox serving other plugins:
// each test ends by asking a well-behaved plugin for an answer.

let h: SandboxHarness
let startPid: number | null

beforeAll(async () => {
  h = await startHarness()
  startPid = h.client.pid
  await h.client.load('good', GOOD_PLUGIN, TEST_LIMITS)
})
afterAll(() => h.stop())
afterEach(async () => {
  expect(await h.client.invoke('good', 'execute', { input: 'still here' })).toEqual({ ok: true, input: 'still here' })
  h.beforeCall = async () => {}
})

async function hostile(body: string, limits: Partial<Limits> = {}, extra = ''): Promise<{ error: SandboxError; ms: number }> {
  const name = `hostile-${Math.random().toString(36).slice(2, 8)}`
  await h.client.load(name, pluginWith(body, extra), { ...TEST_LIMITS, ...limits })
  const started = performance.now()
  const error = await failure(h.client.invoke(name, 'execute', {}))
  return { error, ms: performance.now() - started }
}

describe('CPU', () => {
  test('a synchronous infinite loop stops at cpuMs', async () => {
    const { error, ms } = await hostile('while (true) {}')
    expect(error.code).toBe('cpu_time_exceeded')
    expect(error.limit).toEqual({ name: 'cpuMs', value: TEST_LIMITS.cpuMs })
    expect(error.message).toContain('cpuMs limit of 250 ms')
    expect(ms).toBeLessThan(TEST_LIMITS.wallMs)
  })

  test('an infinite loop after an await (host call, or a plain microtask) stops at cpuMs', async () => {
    for (const body of [`await ctx.kv.get('x'); while (true) {}`, 'await null; while (true) {}', `await new Promise((r) => setTimeout(r, 5)); for (;;) {}`]) {
      const { error, ms } = await hostile(body)
      expect(error.code).toBe('cpu_time_exceeded')
      expect(ms).toBeLessThan(TEST_LIMITS.wallMs)
    }
  })

  test('CPU is summed across slices: many short bursts between awaits hit the limit too', async () => {
    const { error } = await hostile(`for (;;) { const end = Date.now() + 20; while (Date.now() < end) {} await ctx.kv.get('x') }`, { maxHostCalls: 1000 })
    expect(error.code).toBe('cpu_time_exceeded')
  })

  test('a promise flood (an endless microtask chain) is stopped by its CPU or memory limit, within the wall time', async () => {
    const { error, ms } = await hostile('const spin = () => Promise.resolve().then(spin); spin(); return new Promise(() => {})')
    // The flood allocates as it spins: on a loaded machine V8's GC threads fall behind and the memory cap can
    // come first. Either limit ends it; what must not happen is running on to the wall-clock limit or beyond.
    expect(['cpu_time_exceeded', 'memory_limit_exceeded']).toContain(error.code)
    expect(ms).toBeLessThan(TEST_LIMITS.wallMs)
  })

  test('deep recursion is a plugin error, and the plugin keeps working', async () => {
    await h.client.load('recursive', pluginWith('if (ctx.input === "deep") { const f = () => f() + 1; return f() } return "fine"'), TEST_LIMITS)
    const error = await failure(h.client.invoke('recursive', 'execute', { input: 'deep' }))
    expect(error.code).toBe('plugin_error')
    expect(error.message).toContain('Maximum call stack size exceeded')
    expect(await h.client.invoke('recursive', 'execute', { input: 'shallow' })).toBe('fine')
  })
})

describe('wall clock', () => {
  test('an invocation that never settles fails at wallMs, and the plugin gets a fresh isolate', async () => {
    await h.client.load('hang', pluginWith('globalThis.runs = (globalThis.runs ?? 0) + 1; if (ctx.input === "hang") await new Promise(() => {}); return runs'), {
      ...TEST_LIMITS,
      wallMs: 300,
    })
    expect(await h.client.invoke('hang', 'execute', {})).toBe(1)
    const started = performance.now()
    const error = await failure(h.client.invoke('hang', 'execute', { input: 'hang' }))
    expect(error.code).toBe('wall_time_exceeded')
    expect(error.limit).toEqual({ name: 'wallMs', value: 300 })
    expect(performance.now() - started).toBeLessThan(1_500)
    // Fresh isolate: the module state starts over.
    expect(await h.client.invoke('hang', 'execute', {})).toBe(1)
  })

  test('the other invocations in flight on the discarded isolate fail fast with isolate_recycled', async () => {
    await h.client.load('pair', pluginWith('if (ctx.input === "spin") { await null; while (true) {} } await new Promise((r) => setTimeout(r, 1000)); return 1'), TEST_LIMITS)
    const waiting = failure(h.client.invoke('pair', 'execute', {}))
    await Bun.sleep(20)
    expect((await failure(h.client.invoke('pair', 'execute', { input: 'spin' }))).code).toBe('cpu_time_exceeded')
    expect((await waiting).code).toBe('isolate_recycled')
  })
})

describe('memory', () => {
  const bombs: [string, string][] = [
    ['arrays', 'const keep = []; for (;;) keep.push(new Array(10000).fill(1.5))'],
    ['strings', `const keep = []; for (let i = 0; ; i++) keep.push('x'.repeat(1000) + i)`],
    ['ArrayBuffers', 'const keep = []; for (;;) keep.push(new ArrayBuffer(1 << 20))'],
    ['typed arrays filled with data', 'const keep = []; for (;;) keep.push(new Float64Array(1 << 16).fill(Math.random()))'],
    ['promises', 'const keep = []; for (;;) keep.push(new Promise(() => {}))'],
  ]
  for (const [kind, body] of bombs)
    test(`a memory bomb with ${kind} fails with memory_limit_exceeded`, async () => {
      const { error } = await hostile(body, { cpuMs: 5_000, wallMs: 10_000 })
      expect(error.code).toBe('memory_limit_exceeded')
      expect(error.limit).toEqual({ name: 'memoryMb', value: TEST_LIMITS.memoryMb })
    })

  test('WebAssembly (whose memory the limit does not count) is not available', async () => {
    await h.client.load('wasm', pluginWith('return [typeof WebAssembly, typeof SharedArrayBuffer]'), TEST_LIMITS)
    expect(await h.client.invoke('wasm', 'execute', {})).toEqual(['undefined', 'undefined'])
  })

  test('a plugin whose top level blows the memory limit fails its load', async () => {
    const error = await failure(
      h.client.load('fat', `const keep = []; for (;;) keep.push(new Array(10000).fill(1.5))\nexport default class {}`, { ...TEST_LIMITS, cpuMs: 5_000 }),
    )
    expect(error.code).toBe('memory_limit_exceeded')
  })
})

describe('output and host calls', () => {
  test('a huge result or route body is response_too_large', async () => {
    const { error } = await hostile(`return 'x'.repeat(100 * 1024)`)
    expect(error.code).toBe('response_too_large')
    expect(error.limit).toEqual({ name: 'maxResponseBytes', value: TEST_LIMITS.maxResponseBytes })
    await h.client.load('bigroute', pluginWith('', `routes = { 'GET /big': () => new Response(new Uint8Array(200 * 1024)) }`), TEST_LIMITS)
    const routeError = await failure(h.client.invoke('bigroute', 'route', { request: { method: 'GET', url: 'http://x/big', headers: [] } }))
    expect(routeError.code).toBe('response_too_large')
  })

  test('host calls past maxHostCalls fail the invocation', async () => {
    h.calls.length = 0
    const { error } = await hostile(`for (let i = 0; i < 100; i++) { try { await ctx.kv.get('k' + i) } catch {} } return 'done'`)
    expect(error.code).toBe('host_call_limit_exceeded')
    expect(error.limit).toEqual({ name: 'maxHostCalls', value: TEST_LIMITS.maxHostCalls })
    expect(h.calls.length).toBe(TEST_LIMITS.maxHostCalls)
  })

  test('oversized host call arguments never reach the host', async () => {
    h.calls.length = 0
    const { error } = await hostile(`await ctx.kv.set('k', 'x'.repeat(100 * 1024))`)
    expect(error.code).toBe('host_call_too_large')
    expect(h.calls.length).toBe(0)
  })

  test('a timer flood fails with timer_limit_exceeded', async () => {
    const flood = await hostile('for (let i = 0; i < 100000; i++) setTimeout(() => {}, 1000); await new Promise(() => {})')
    expect(flood.error.code).toBe('timer_limit_exceeded')
    expect(flood.error.limit).toEqual({ name: 'maxTimers', value: TEST_LIMITS.maxTimers })
    const chain = await hostile('const again = () => setTimeout(again, 0); again(); await new Promise(() => {})')
    expect(chain.error.code).toBe('timer_limit_exceeded')
  })

  test('concurrent invocations past maxConcurrent are refused, not queued', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    h.beforeCall = () => gate
    await h.client.load('busy', pluginWith(`return await ctx.kv.get('k')`), TEST_LIMITS)
    const first = h.client.invoke('busy', 'execute', {})
    const second = h.client.invoke('busy', 'execute', {})
    const third = await failure(h.client.invoke('busy', 'execute', {}))
    expect(third.code).toBe('concurrency_limit_exceeded')
    expect(third.limit).toEqual({ name: 'maxConcurrent', value: TEST_LIMITS.maxConcurrent })
    release()
    expect(await Promise.all([first, second])).toEqual([null, null])
  })
})

describe('reaching the host', () => {
  test('no process, require, Bun, isolated-vm or runtime internals are reachable from the global object', async () => {
    await h.client.load(
      'snoop',
      pluginWith(`
        const names = ['process', 'require', 'module', 'Bun', 'Deno', 'global', 'ivm', 'native', 'isolatedVm', '_ivm', 'Reference', 'ExternalCopy', 'Callback', '__enclavaBasePlugin']
        const seen = names.filter((n) => n in globalThis || (() => { try { return eval('typeof ' + n) !== 'undefined' } catch { return true } })())
        const dynamic = await import('node:fs').then(() => 'imported', (e) => 'refused')
        const symbols = Object.getOwnPropertySymbols(globalThis).map(String)
        return { seen, dynamic, symbols }`),
      TEST_LIMITS,
    )
    expect(await h.client.invoke('snoop', 'execute', {})).toEqual({ seen: [], dynamic: 'refused', symbols: [] })
  })

  test('the Function constructor and constructor.constructor yield only the isolate global', async () => {
    await h.client.load(
      'escape',
      pluginWith(`
        const viaFunction = Function('return this')()
        const viaCtor = ({}).constructor.constructor('return this')()
        const viaFetch = fetch.constructor.constructor('return this')()
        const viaCtx = ctx.kv.get.constructor('return this')()
        const viaError = (() => { try { null.x } catch (e) { return e.constructor.constructor('return this')() } })()
        const all = [viaFunction, viaCtor, viaFetch, viaCtx, viaError]
        return { same: all.every((g) => g === globalThis), process: all.map((g) => typeof g.process), require: all.map((g) => typeof g.require) }`),
      TEST_LIMITS,
    )
    const u = ['undefined', 'undefined', 'undefined', 'undefined', 'undefined']
    expect(await h.client.invoke('escape', 'execute', {})).toEqual({ same: true, process: u, require: u })
  })

  test('prototype pollution through host results stays inside the isolate', async () => {
    h.kv.set('polluter:obj', { a: 1 })
    h.calls.length = 0
    await h.client.load(
      'polluter',
      pluginWith(`
        const first = await ctx.kv.get('obj')
        Object.getPrototypeOf(first).polluted = 'yes'
        first.__proto__.constructor.prototype.alsoPolluted = 'yes'
        await ctx.kv.set('out', JSON.parse('{"__proto__": {"polluted2": true}, "constructor": {"prototype": {"polluted3": true}}}'))
        const next = await ctx.kv.get('obj')
        return {
          ownKeys: Object.keys(next),
          sameRealm: Object.getPrototypeOf(next) === Object.prototype,
          hostProcess: next.constructor.constructor('return typeof process')(),
          result: { plain: 1 },
        }`),
      TEST_LIMITS,
    )
    const out = (await h.client.invoke('polluter', 'execute', {})) as Record<string, unknown>
    expect(out).toEqual({ ownKeys: ['a'], sameRealm: true, hostProcess: 'undefined', result: { plain: 1 } })
    const probe = {} as Record<string, unknown>
    for (const key of ['polluted', 'alsoPolluted', 'polluted2', 'polluted3']) {
      expect(probe[key]).toBeUndefined()
      expect(Object.prototype).not.toHaveProperty(key)
    }
    // What the host received is plain data: the "__proto__" key is an own property, not a prototype.
    const stored = h.kv.get('polluter:out') as Record<string, unknown>
    expect(Object.getPrototypeOf(stored)).toBe(Object.prototype)
    expect(Object.keys(stored).sort()).toEqual(['__proto__', 'constructor'])
    expect(h.kv.get('polluter:obj')).toEqual({ a: 1 })
    // The sandbox process is untouched too: a fresh plugin sees clean prototypes.
    await h.client.load('clean', pluginWith(`const v = await ctx.kv.get('x'); return [({}).polluted ?? null, ({}).alsoPolluted ?? null, v]`), TEST_LIMITS)
    expect(await h.client.invoke('clean', 'execute', {})).toEqual([null, null, null])
  })

  test('the sandbox process survived every test above', () => {
    expect(h.client.pid).toBe(startPid)
  })
})
