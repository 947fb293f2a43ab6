/**
 * The per-plugin sandbox processes with a warm spare (PLUGIN_SPARE_SANDBOX): the next plugin adopts a process that
 * was started for nobody and has run nothing, a new spare starts behind it, and a crash of the adopted process is
 * still charged to that plugin alone and brings it back. Real Node sandbox processes.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { createLogger } from '../log.ts'
import { processCeilingMb, SandboxPool } from './sandboxes.ts'
import type { SandboxCrash } from './sandbox/index.ts'
import { GOOD_PLUGIN, TEST_LIMITS } from './sandbox/testing.ts'

async function until(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await Bun.sleep(10)
  }
}

/** The pids of the pool's processes that serve no plugin: the spare, when there is one. */
function sandboxChildren(): number[] {
  const out = Bun.spawnSync(['ps', '--ppid', String(process.pid), '-o', 'pid=,args=']).stdout.toString()
  return out
    .split('\n')
    .filter((l) => l.includes('main.ts') && l.includes('--max-rss-mb'))
    .map((l) => Number(l.trim().split(/\s+/)[0]))
}

const pools: SandboxPool[] = []
afterAll(async () => {
  await Promise.all(pools.map((p) => p.stop()))
})

function pool(spare: boolean, crashes: { plugin: string; crash: SandboxCrash }[] = [], spareDelayMs?: number) {
  const p = new SandboxPool({
    spare,
    ...(spareDelayMs === undefined ? {} : { spareDelayMs }),
    onHostCall: async () => null,
    onLog: () => {},
    onRestart: async (plugin, crash) => {
      crashes.push({ plugin, crash })
      await p.load(plugin, GOOD_PLUGIN, TEST_LIMITS)
    },
    logger: createLogger('silent'),
  })
  pools.push(p)
  return p
}

describe('a warm spare sandbox process', () => {
  test('the next plugin adopts the spare (no new process for it), and another spare starts behind it', async () => {
    const crashes: { plugin: string; crash: SandboxCrash }[] = []
    const p = pool(true, crashes)
    const before = new Set(sandboxChildren())
    await p.load('first', GOOD_PLUGIN, TEST_LIMITS)
    const first = p.pid('first')!
    // The spare: a process of this pool that serves nobody, adoptable once it is up (its process exists earlier).
    const spares = () => sandboxChildren().filter((pid) => !before.has(pid) && pid !== first && pid !== p.pid('second'))
    await until(() => p.sparePid() !== null)
    const spare = p.sparePid()!
    expect(spares()).toEqual([spare])
    await p.load('second', GOOD_PLUGIN, TEST_LIMITS)
    expect(p.pid('second')).toBe(spare)
    expect(await p.invoke('second', 'execute', { input: { n: 2 } } as never, { wallMs: 2_000 })).toEqual({ ok: true, input: { n: 2 } })
    // A new spare, not one of the two plugins' processes.
    await until(() => p.sparePid() !== null && p.sparePid() !== spare)
    expect(spares()).toEqual([p.sparePid()!])

    // The adopted process crashes: charged to its plugin alone, which comes back; the other never noticed.
    process.kill(spare, 'SIGKILL')
    await until(() => crashes.length === 1)
    expect(crashes[0]).toMatchObject({ plugin: 'second', crash: { suspects: ['second'] } })
    await until(() => p.has('second') && p.pid('second') !== null && p.pid('second') !== spare)
    expect(p.pid('first')).toBe(first)
    expect(await p.invoke('first', 'execute', { input: null } as never, { wallMs: 2_000 })).toEqual({ ok: true, input: null })
    // Stopping ends the spare too.
    await p.stop()
    await until(() => sandboxChildren().every((pid) => before.has(pid)))
  }, 60_000)

  test('a plugin granted another memory ceiling gets a process of its own; the spare waits for one that fits', async () => {
    const p = pool(true)
    const before = new Set(sandboxChildren())
    await p.load('small', GOOD_PLUGIN, TEST_LIMITS)
    const spares = () => sandboxChildren().filter((pid) => !before.has(pid) && pid !== p.pid('small') && pid !== p.pid('large'))
    await until(() => p.sparePid() !== null)
    const spare = p.sparePid()!
    const large = { ...TEST_LIMITS, memoryMb: 200 }
    expect(processCeilingMb(large)).not.toBe(processCeilingMb(TEST_LIMITS))
    await p.load('large', GOOD_PLUGIN, large)
    expect(p.pid('large')).not.toBe(spare)
    expect(spares()).toEqual([spare])
    await p.stop()
  }, 60_000)

  test('the next spare starts only after the delay, not beside the plugin that just took one while it loads and answers', async () => {
    const p = pool(true, [], 1_500)
    const before = new Set(sandboxChildren())
    const others = () => sandboxChildren().filter((pid) => !before.has(pid) && pid !== p.pid('first') && pid !== p.pid('second'))
    await p.load('first', GOOD_PLUGIN, TEST_LIMITS)
    expect(others()).toEqual([])
    await until(() => p.sparePid() !== null)
    const spare = p.sparePid()!
    await p.load('second', GOOD_PLUGIN, TEST_LIMITS)
    expect(p.pid('second')).toBe(spare)
    expect(await p.invoke('second', 'execute', { input: 1 } as never, { wallMs: 2_000 })).toEqual({ ok: true, input: 1 })
    expect(others()).toEqual([])
    await until(() => p.sparePid() !== null)
    expect(others()).toEqual([p.sparePid()!])
    await p.stop()
    await until(() => sandboxChildren().every((pid) => before.has(pid)))
  }, 60_000)

  test('without spares, no process runs beyond the plugins', async () => {
    const p = pool(false)
    const before = new Set(sandboxChildren())
    await p.load('only', GOOD_PLUGIN, TEST_LIMITS)
    await Bun.sleep(1_000)
    expect(p.sparePid()).toBeNull()
    expect(sandboxChildren().filter((pid) => !before.has(pid))).toEqual([p.pid('only')!])
    await p.stop()
    await until(() => sandboxChildren().every((pid) => before.has(pid)))
  }, 60_000)
})
