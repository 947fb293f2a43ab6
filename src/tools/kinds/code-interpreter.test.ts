/**
 * The code interpreter through the platform's tools engine (services wired as in production): ordinary snippets
 * (the last expression's value, console.log, JSON), and a table of hostile ones (endless loops, memory bombs, a
 * V8 abort, escapes, output floods), each of which must come back to the model as an error result naming what
 * stopped it, leave the interpreter answering the next call and the server's /health answering. Then what a crash
 * costs others (nothing: one snippet per process), the queue and per-user limits, and the processes' lifetime.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../../test/harness.ts'
import { createLogger } from '../../log.ts'
import type { Caller } from '../../gateway/service.ts'
import { CODE_LIMITS, CodeSandbox } from '../code-sandbox.ts'
import type { ToolEngine } from '../engine.ts'
import type { Tool, ToolResult } from '../types.ts'
import { codeInterpreterTools, MAX_CODE_CHARS } from './code-interpreter.ts'

let env: TestEnv
let engine: ToolEngine
let tools: Tool[]
let alice: Caller
let bob: Caller

const caller = (userId: string): Caller => ({ source: 'api', userId, apiKey: null, requestId: crypto.randomUUID(), startedAt: performance.now() })

beforeAll(async () => {
  env = await createTestEnv()
  engine = env.s.tools
  alice = caller((await env.user('user')).id)
  bob = caller((await env.user('user')).id)
  tools = await engine.resolve([{ type: 'code_interpreter' }], alice)
})
afterAll(async () => {
  await env?.close()
})

// A signal that never aborts (the engine adds its own timeout).
const never = () => new AbortController().signal
const run = async (code: string, who: Caller = alice): Promise<ToolResult> =>
  (await engine.call(tools, 'run_javascript', JSON.stringify({ code }), { caller: who, signal: never() })).result

describe('ordinary snippets', () => {
  test('the tool is offered with its limits in its description', () => {
    expect(tools.map((t) => [t.kind, t.name])).toEqual([['code_interpreter', 'run_javascript']])
    expect(tools[0]?.description).toContain('64 MB memory, 2 s CPU, 5 s wall time, 30 KB output')
  })

  const cases: [string, string, string][] = [
    ['the last expression is the result, as JSON', '1 + 2', 'Result (JSON): 3'],
    ['declarations before it do not matter', 'const xs = [3, 1, 2]; xs.sort((a, b) => a - b)', 'Result (JSON): [1,2,3]'],
    ['objects come back as JSON', "({ total: [1, 2, 3].reduce((a, b) => a + b), label: 'sum' })", 'Result (JSON): {"total":6,"label":"sum"}'],
    ['console.log comes first, then the value', "console.log('step', { n: 1 }); console.error('warned'); 42", 'console output:\nstep {"n":1}\nwarned\n\nResult (JSON): 42'],
    ['no value says so', 'let x = 1', 'Result: undefined (the last expression has no value)'],
    ['what JSON cannot hold is described', '2n ** 70n', 'Result (not representable as JSON, described): 1180591620717411303424n'],
    ['a cycle is described, not an error', 'const o = { a: 1 }; o.self = o; o', 'Result (not representable as JSON, described): {"a":1,"self":"[Circular]"}'],
    ['a settled promise is awaited', '(async () => { const a = await Promise.resolve(20); return a + 1 })()', 'Result (JSON): 21'],
    ['the builtins are there', "[Math.max(1, 5), JSON.parse('[1]').length, new Date(0).toISOString(), /b+/.test('abbc'), new Map([[1, 2]]).size]", 'Result (JSON): [5,1,"1970-01-01T00:00:00.000Z",true,1]'],
  ]
  for (const [name, code, content] of cases)
    test(name, async () => {
      expect(await run(code)).toEqual({ content })
    })

  test('globals of one run are gone in the next: every call has a fresh isolate', async () => {
    expect((await run('globalThis.leftover = 1; Object.prototype.polluted = true; 1')).isError).toBeUndefined()
    expect(await run('[typeof leftover, ({}).polluted ?? null]')).toEqual({ content: 'Result (JSON): ["undefined",null]' })
  })
})

describe('hostile snippets', () => {
  // Each: what the model must read (every fragment), then the interpreter must answer the next call and the
  // server's /health must answer at once.
  const table: [string, string, string[]][] = [
    ['an endless loop', 'while (true) {}', ['cpu_time_exceeded', 'cpuMs limit of 2000 ms', '2 s CPU']],
    ['an endless microtask chain', 'const spin = () => Promise.resolve().then(spin); spin(); 1', ['The code was stopped (']],
    ['a memory bomb', 'const keep = []; for (;;) keep.push(new Array(10000).fill(1.5))', ['memory_limit_exceeded', 'memoryMb limit of 64 MB']],
    ['a memory bomb of ArrayBuffers', 'const keep = []; for (;;) keep.push(new ArrayBuffer(1 << 20))', ['memory_limit_exceeded', 'memoryMb limit of 64 MB']],
    ['a string V8 aborts on', "'xy'.repeat(2 ** 27).split('')", ["crashed the interpreter's process", 'the interpreter restarted']],
    ['a result over the output limit', "'x'.repeat(100 * 1024)", ['response_too_large', 'maxOutputBytes limit of 30720 bytes', '30 KB output']],
    ['a promise that never settles', 'new Promise(() => {})', ['never settled']],
    ['deep recursion', 'const f = () => f() + 1; f()', ['RangeError: Maximum call stack size exceeded']],
    ['Function to reach the host', "Function('return this')().process.exit(1)", ["TypeError: Cannot read properties of undefined (reading 'exit')"]],
    ['constructor.constructor to reach the host', "({}).constructor.constructor('return process')()", ['ReferenceError: process is not defined']],
    ['require', "require('fs').readFileSync('/etc/passwd', 'utf8')", ['ReferenceError: require is not defined']],
    ['dynamic import', "import('node:fs')", ['import() is not available']],
    ['top-level await', 'await 1', ['Top-level await is not available']],
    ['WebAssembly', 'new WebAssembly.Memory({ initial: 1 })', ['ReferenceError: WebAssembly is not defined']],
    ['SharedArrayBuffer', 'new SharedArrayBuffer(8)', ['ReferenceError: SharedArrayBuffer is not defined']],
    ['a resizable ArrayBuffer', 'new ArrayBuffer(0, { maxByteLength: 512 * 1024 * 1024 })', ['RangeError: resizable ArrayBuffers (maxByteLength) are not available here']],
    ['a resizable ArrayBuffer via the prototype', 'new (Object.getPrototypeOf(new Uint8Array(1).buffer).constructor)(0, { maxByteLength: 2 ** 29 })', ['resizable ArrayBuffers']],
    ['a thrown non-Error', "throw { secret: 'x' }", ['the code threw a non-Error value: {"secret":"x"}']],
  ]
  for (const [name, code, fragments] of table)
    test(`${name}: a clear error for the model; the next call and /health are fine`, async () => {
      const result = await run(code)
      expect(result.isError).toBe(true)
      for (const fragment of fragments) expect(result.content).toContain(fragment)
      expect(await run('6 * 7')).toEqual({ content: 'Result (JSON): 42' })
      const started = performance.now()
      const health = await env.app.handle(new Request('http://localhost/health'))
      expect(health.status).toBe(200)
      expect(performance.now() - started).toBeLessThan(1_000)
    })

  test('console output a failing snippet wrote comes with its error, with the line it failed on', async () => {
    const result = await run("console.log('before')\nconst o = null\no.x")
    expect(result).toEqual({
      content: "The code failed: TypeError: Cannot read properties of null (reading 'x') (line 3, column 3)\n\nconsole output before it failed:\nbefore",
      isError: true,
    })
  })

  test('a console flood keeps what fits the output limit after the result, says how much it dropped, and is never cut by the engine', async () => {
    const result = await run("for (let i = 0; i < 100000; i++) console.log('line ' + i + ' ' + 'x'.repeat(100)); 'y'.repeat(10000)")
    expect(result.isError).toBeUndefined()
    // Not expect(…).toMatch on the whole text: a failure would print 30 KB.
    const note = /\n\[(\d+) more console lines were dropped: the output limit is 30720 bytes \(maxOutputBytes\)\]\n\nResult \(JSON\): "(y+)"$/.exec(result.content)
    expect(note?.[2]?.length).toBe(10_000)
    expect(Number(note?.[1])).toBeGreaterThan(99_000)
    expect(result.content.includes('[cut:')).toBe(false)
    expect(result.content.startsWith('console output:\nline 0 x')).toBe(true)
    expect(Buffer.byteLength(result.content)).toBeLessThanOrEqual(CODE_LIMITS.maxOutputBytes + 200)
  })

  test('code longer than the tool takes is refused, naming the limit', async () => {
    const result = await run(`// ${'x'.repeat(MAX_CODE_CHARS)}\n1`)
    expect(result).toEqual({ content: `The code is ${MAX_CODE_CHARS + 5} characters; run_javascript takes at most ${MAX_CODE_CHARS}. Split the work.`, isError: true })
  })

  test("a snippet that crashes its process costs no other user's call in flight", async () => {
    const [crash, other] = await Promise.all([
      run("'xy'.repeat(2 ** 27).split('')", alice),
      // Starts while the crash is on its way, in the other process, and runs past it.
      run('let n = 0; const end = Date.now() + 400; while (Date.now() < end) n++; n > 0', bob),
    ])
    expect(crash.content).toContain("crashed the interpreter's process")
    expect(other).toEqual({ content: 'Result (JSON): true' })
  })

  test('one user may run two snippets at once; a third is refused, naming the limit, and others are not', async () => {
    const busy = 'const end = Date.now() + 500; while (Date.now() < end) {} 1'
    const results = await Promise.all([run(busy, alice), run(busy, alice), run('2', alice)])
    expect(results.slice(0, 2)).toEqual([{ content: 'Result (JSON): 1' }, { content: 'Result (JSON): 1' }])
    expect(results[2]?.isError).toBe(true)
    expect(results[2]?.content).toContain("the code interpreter's limit per user of 2")
    expect(await run('3', bob)).toEqual({ content: 'Result (JSON): 3' })
  })
})

describe('limits of a CodeSandbox of its own', () => {
  const logger = createLogger('silent')
  const limits = (code: CodeSandbox) => codeInterpreterTools(code).tools({ type: 'code_interpreter' }, alice)

  test('the wall-clock limit stops a run the CPU limit has not (here: more CPU than wall time)', async () => {
    const code = new CodeSandbox({ logger, limits: { ...CODE_LIMITS, cpuMs: 10_000, wallMs: 300 } })
    try {
      const [tool] = await limits(code)
      const started = performance.now()
      const result = await tool!.execute({ code: 'while (true) {}' }, { caller: alice, signal: never() })
      expect(result.isError).toBe(true)
      expect(result.content).toContain('wall_time_exceeded')
      expect(result.content).toContain('wallMs limit of 300 ms')
      expect(performance.now() - started).toBeLessThan(2_000)
      expect(await tool!.execute({ code: '1' }, { caller: alice, signal: never() })).toEqual({ content: 'Result (JSON): 1' })
    } finally {
      await code.stop()
    }
  })

  test('a snippet stuck in a builtin past the wall limit: its process is replaced, so the snippets after it do not die with it', async () => {
    // Measured: the sort answers at the wall limit and goes on; its process died 1.5 to 2.5 s later, under whichever
    // snippet ran there next.
    const code = new CodeSandbox({ logger, processes: 1 })
    try {
      const [tool] = await limits(code)
      const stuck = await tool!.execute({ code: 'const a = []; a[2 ** 30] = 1; a.sort()' }, { caller: alice, signal: never() })
      expect(stuck.content).toContain('wall_time_exceeded')
      const after: ToolResult[] = []
      for (let i = 0; i < 6; i++)
        after.push(await tool!.execute({ code: "const end = Date.now() + 500; while (Date.now() < end) {} 'ok'" }, { caller: alice, signal: never() }))
      expect(after).toEqual(Array.from({ length: 6 }, () => ({ content: 'Result (JSON): "ok"' })))
    } finally {
      await code.stop()
    }
  })

  test('past its processes and its queue, a call is refused as busy, naming both', async () => {
    const code = new CodeSandbox({ logger, processes: 1, maxWaiting: 1, maxPerCaller: 10 })
    try {
      const [tool] = await limits(code)
      const busy = { code: 'const end = Date.now() + 300; while (Date.now() < end) {} 1' }
      const results = await Promise.all([0, 1, 2].map(() => tool!.execute(busy, { caller: alice, signal: never() })))
      expect(results.filter((r) => r.isError === undefined)).toHaveLength(2)
      expect(results[2]).toEqual({
        content: 'The code did not run to its end (concurrency_limit_exceeded): the code interpreter is busy: 1 snippets are running and 1 waiting, its limit; try again shortly.',
        isError: true,
      })
    } finally {
      await code.stop()
    }
  })

  test('a cancelled run stops at once', async () => {
    const code = new CodeSandbox({ logger, limits: { ...CODE_LIMITS, cpuMs: 10_000, wallMs: 10_000 } })
    try {
      const [tool] = await limits(code)
      // Started first: a cancel during start is another path (the run never starts).
      expect(await tool!.execute({ code: '1' }, { caller: alice, signal: never() })).toEqual({ content: 'Result (JSON): 1' })
      const stop = new AbortController()
      setTimeout(() => stop.abort(), 200)
      const started = performance.now()
      const result = await tool!.execute({ code: 'while (true) {}' }, { caller: alice, signal: stop.signal })
      expect(result).toEqual({ content: 'The code did not run to its end (cancelled): the evaluation was cancelled.', isError: true })
      expect(performance.now() - started).toBeLessThan(1_500)
      expect(await tool!.execute({ code: '1' }, { caller: alice, signal: never() })).toEqual({ content: 'Result (JSON): 1' })
    } finally {
      await code.stop()
    }
  })

  test('processes start on first use and end with stop()', async () => {
    const code = new CodeSandbox({ logger })
    const [tool] = await limits(code)
    expect(code.pids).toEqual([null, null])
    await tool!.execute({ code: '1' }, { caller: alice, signal: never() })
    const [pid] = code.pids
    expect(typeof pid).toBe('number')
    await code.stop()
    expect(() => process.kill(pid!, 0)).toThrow()
    const after = await tool!.execute({ code: '1' }, { caller: alice, signal: never() })
    expect(after).toEqual({ content: 'The code did not run to its end (sandbox_unavailable): the code interpreter is stopped: the platform is shutting down.', isError: true })
  })
})
