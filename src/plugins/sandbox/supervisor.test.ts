import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SandboxClient } from './client.ts'
import { failure, GOOD_PLUGIN, pluginWith, type SandboxHarness, startHarness, TEST_LIMITS } from './testing.ts'

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await Bun.sleep(10)
  }
}

describe('a crashed sandbox process', () => {
  let h: SandboxHarness
  let reloads = 0
  const enabled = new Map<string, string>([
    ['good', GOOD_PLUGIN],
    ['waiter', pluginWith(`return await ctx.kv.get('k')`)],
  ])

  beforeAll(async () => {
    h = await startHarness({
      backoff: { initialMs: 100 },
      onRestart: async () => {
        reloads++
        for (const [name, code] of enabled) await h.client.load(name, code, TEST_LIMITS)
      },
    })
    for (const [name, code] of enabled) await h.client.load(name, code, TEST_LIMITS)
  })
  afterAll(() => h.stop())

  test('fails in-flight invocations with sandbox_unavailable, comes back, reloads plugins, answers again', async () => {
    const pid = h.client.pid
    if (pid === null) throw new Error('no sandbox pid')
    let calledHost: () => void = () => {}
    const hostReached = new Promise<void>((r) => (calledHost = r))
    h.beforeCall = async () => {
      calledHost()
      await new Promise(() => {}) // never answers: the invocation is in flight when the process dies
    }
    const inFlight = failure(h.client.invoke('waiter', 'execute', {}))
    await hostReached
    process.kill(pid, 'SIGKILL')
    const error = await inFlight
    expect(error.code).toBe('sandbox_unavailable')
    // While it is down (the first backoff is 100 ms), invocations fail at once instead of hanging.
    expect((await failure(h.client.invoke('good', 'execute', {}))).code).toBe('sandbox_unavailable')
    expect((await h.client.health()).up).toBe(false)

    h.beforeCall = async () => {}
    await until(async () => (await h.client.health()).up)
    expect(h.client.pid).not.toBe(pid)
    expect(reloads).toBe(1)
    expect(await h.client.invoke('good', 'execute', { input: 1 })).toEqual({ ok: true, input: 1 })
    h.kv.set('waiter:k', 'back')
    expect(await h.client.invoke('waiter', 'execute', {})).toBe('back')
    const health = await h.client.health()
    expect(health).toMatchObject({ up: true, restarts: 1, plugins: 2 })
  })

  test('a sandbox that stops answering is killed after the host wall-clock timer and restarted', async () => {
    const pid = h.client.pid
    if (pid === null) throw new Error('no sandbox pid')
    process.kill(pid, 'SIGSTOP')
    const started = performance.now()
    const error = await failure(h.client.invoke('good', 'execute', {}, { wallMs: 200 }))
    expect(error.code).toBe('wall_time_exceeded')
    // wallMs + hostGraceMs (1 s default), not much more
    expect(performance.now() - started).toBeLessThan(2_000)
    await until(() => h.client.pid !== pid && h.client.pid !== null)
    await until(async () => (await h.client.health()).up)
    expect(await h.client.invoke('good', 'execute', { input: 2 })).toEqual({ ok: true, input: 2 })
    expect(reloads).toBe(2)
  })
})

describe('start and stop', () => {
  test('a missing Node.js fails start clearly', async () => {
    const client = new SandboxClient({ nodePath: '/nonexistent/node', onHostCall: async () => null, onLog: () => {} })
    const error = await failure(client.start())
    expect(error.code).toBe('sandbox_unavailable')
    expect(error.message).toContain('Node.js not found at /nonexistent/node')
    expect((await client.health()).up).toBe(false)
  })

  test('stop fails in-flight work and does not restart', async () => {
    const h = await startHarness()
    await h.client.load('sleepy', pluginWith('await new Promise((r) => setTimeout(r, 1000)); return 1'), TEST_LIMITS)
    const pending = failure(h.client.invoke('sleepy', 'execute', {}))
    await Bun.sleep(20)
    await h.client.stop()
    expect((await pending).code).toBe('sandbox_unavailable')
    await Bun.sleep(300)
    expect(h.client.pid).toBeNull()
    expect((await failure(h.client.invoke('sleepy', 'execute', {}))).code).toBe('sandbox_unavailable')
  })
})

// Filling one huge array: V8 cannot get under the isolate's heap limit, and isolated-vm declares the isolate lost (a
// catastrophic out-of-memory error).
const CRASHER = pluginWith('const a = new Array(2 ** 26); for (let i = 0; i < a.length; i++) a[i] = i + 0.5')

describe('a plugin that crashes the whole process', () => {
  // With several plugins in the process, plugin code runs on isolated-vm's threads: the catastrophic error takes
  // the process down, and the sandbox names the plugin first.
  let h: SandboxHarness
  const crashes: { suspects: string[]; quarantined: string[] }[] = []

  beforeAll(async () => {
    h = await startHarness({
      quarantineAfter: 2,
      onRestart: async (crash) => {
        crashes.push({ suspects: crash.suspects, quarantined: crash.quarantined })
        await h.client.load('good', GOOD_PLUGIN, TEST_LIMITS)
        await h.client.load('crasher', CRASHER, { ...TEST_LIMITS, cpuMs: 10_000 }).catch(() => {})
      },
    })
    await h.client.load('good', GOOD_PLUGIN, TEST_LIMITS)
    await h.client.load('crasher', CRASHER, { ...TEST_LIMITS, cpuMs: 10_000 })
  })
  afterAll(() => h.stop())

  test('in-flight calls fail with sandbox_unavailable, the culprit is named, and others answer after the restart', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    h.beforeCall = () => gate
    await h.client.load('bystander', pluginWith(`return await ctx.kv.get('k')`), { ...TEST_LIMITS, wallMs: 20_000 })
    const bystander = failure(h.client.invoke('bystander', 'execute', {}, { wallMs: 20_000 }))
    await until(() => h.calls.some((c) => c.plugin === 'bystander'))
    expect((await failure(h.client.invoke('crasher', 'execute', {}, { wallMs: 20_000 }))).code).toBe('sandbox_unavailable')
    expect((await bystander).code).toBe('sandbox_unavailable')
    release()
    h.beforeCall = async () => {}
    await until(async () => (await h.client.health()).up)
    expect(crashes).toEqual([{ suspects: ['crasher'], quarantined: [] }])
    expect(await h.client.invoke('good', 'execute', { input: 3 })).toEqual({ ok: true, input: 3 })
  })

  test('a repeat offender is quarantined until released', async () => {
    expect((await failure(h.client.invoke('crasher', 'execute', {}, { wallMs: 20_000 }))).code).toBe('sandbox_unavailable')
    await until(async () => (await h.client.health()).up)
    expect(crashes[1]).toEqual({ suspects: ['crasher'], quarantined: ['crasher'] })
    const refused = await failure(h.client.invoke('crasher', 'execute', {}))
    expect(refused.code).toBe('plugin_quarantined')
    expect((await h.client.health()).quarantined).toEqual(['crasher'])
    expect(await h.client.invoke('good', 'execute', { input: 4 })).toEqual({ ok: true, input: 4 })
    h.client.release('crasher')
    await h.client.load('crasher', GOOD_PLUGIN, TEST_LIMITS)
    expect(await h.client.invoke('crasher', 'execute', {})).toEqual({ ok: true, input: null })
  })
})

test('a plugin stuck allocating past the sandbox memory ceiling takes only a restart, and is named', async () => {
  // Disposing the isolate cannot stop Array.prototype.fill on a huge array; the process ceiling (maxRssMb) can.
  const crashes: string[][] = []
  const h = await startHarness({ maxRssMb: 400, onRestart: async (crash) => void crashes.push(crash.suspects) })
  try {
    await h.client.load('filler', pluginWith('new Array(2 ** 27).fill(0)'), { ...TEST_LIMITS, cpuMs: 10_000 })
    const started = performance.now()
    expect((await failure(h.client.invoke('filler', 'execute', {}, { wallMs: 20_000 }))).code).toBe('sandbox_unavailable')
    expect(performance.now() - started).toBeLessThan(10_000)
    await until(async () => (await h.client.health()).up)
    expect(crashes).toEqual([['filler']])
    await h.client.load('good', GOOD_PLUGIN, TEST_LIMITS)
    expect(await h.client.invoke('good', 'execute', {})).toEqual({ ok: true, input: null })
  } finally {
    await h.stop()
  }
})

describe('a process serving one plugin, which runs plugin code on its main thread', () => {
  test('a catastrophic out-of-memory error there (the process deadlocks) is noticed from outside: the plugin is named and restarted', async () => {
    const crashes: string[][] = []
    const h = await startHarness({ backoff: { initialMs: 50 }, onRestart: async (crash) => void crashes.push(crash.suspects) })
    try {
      await h.client.load('crasher', CRASHER, { ...TEST_LIMITS, cpuMs: 10_000 })
      const pid = h.client.pid
      const started = performance.now()
      // Without the server's watch this waits for the host's wall-clock timer (20 s) and fails with wall_time_exceeded.
      expect((await failure(h.client.invoke('crasher', 'execute', {}, { wallMs: 20_000 }))).code).toBe('sandbox_unavailable')
      expect(performance.now() - started).toBeLessThan(10_000)
      await until(async () => (await h.client.health()).up)
      expect(h.client.pid).not.toBe(pid)
      expect(crashes).toEqual([['crasher']])
      await h.client.load('good', GOOD_PLUGIN, TEST_LIMITS)
      expect(await h.client.invoke('good', 'execute', { input: 5 })).toEqual({ ok: true, input: 5 })
    } finally {
      await h.stop()
    }
  })

  test("a slice that runs past its invocation's wall-clock limit is stopped at that limit, not at the CPU budget", async () => {
    const h = await startHarness()
    try {
      await h.client.load('spinner', pluginWith('if (ctx.input === "spin") while (true) {} return "fresh"'), { ...TEST_LIMITS, cpuMs: 5_000, wallMs: 300 })
      const started = performance.now()
      const error = await failure(h.client.invoke('spinner', 'execute', { input: 'spin' }))
      expect(error.code).toBe('wall_time_exceeded')
      expect(error.limit).toEqual({ name: 'wallMs', value: 300 })
      expect(performance.now() - started).toBeLessThan(2_000)
      expect(await h.client.invoke('spinner', 'execute', {})).toBe('fresh')
    } finally {
      await h.stop()
    }
  })

  test("plugin code on the main thread has a stack for 20,000 calls and JSON 10,000 levels deep (Node's default: 12,000 and 4,500)", async () => {
    const h = await startHarness()
    try {
      const body = 'const f = (n) => (n === 0 ? 0 : 1 + f(n - 1)); let v = 1; for (let i = 0; i < 10000; i++) v = [v]; return [f(20000), JSON.stringify(v).length]'
      await h.client.load('deep', pluginWith(body), TEST_LIMITS)
      expect(await h.client.invoke('deep', 'execute', {})).toEqual([20000, 20001])
    } finally {
      await h.stop()
    }
  })

  // Pings time out after 400 ms here: a watch that took either case for a deadlock would kill the process.
  test.each([
    ['waits 1.5 s for a slow host call, using no CPU', `return await ctx.kv.get('k')`, 1_500],
    ['computes for 1.5 s in one slice', 'const end = Date.now() + 1500; while (Date.now() < end) {} return "done"', 0],
  ])('a plugin that %s is not taken for a deadlock', async (_name, body, hostDelayMs) => {
    const h = await startHarness({ pingTimeoutMs: 400 })
    try {
      h.beforeCall = () => Bun.sleep(hostDelayMs)
      h.kv.set('slow:k', 'value')
      await h.client.load('slow', pluginWith(body), { ...TEST_LIMITS, cpuMs: 5_000, wallMs: 10_000 })
      const pid = h.client.pid
      expect(await h.client.invoke('slow', 'execute', {}, { wallMs: 10_000 })).toBe(hostDelayMs > 0 ? 'value' : 'done')
      expect(h.client.pid).toBe(pid)
    } finally {
      await h.stop()
    }
  })
})
