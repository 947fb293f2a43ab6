/**
 * WorkerCalls keeps the process alive while a call waits, and only then: awaiting an unref'd worker with nothing
 * else ref'd made Bun's loop spin, so the waiting thread burned a core for as long as the worker worked.
 */
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const dir = mkdtempSync(join(tmpdir(), 'enclava-worker-calls-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const calls = join(import.meta.dir, 'calls.ts')

test("a process with nothing else to do waits for a call without spinning, and exits once it is answered", async () => {
  // The worker is busy for 600 ms of its own CPU; the caller has no timer, server or socket of its own.
  writeFileSync(
    join(dir, 'busy-worker.ts'),
    `import { answerCalls } from ${JSON.stringify(calls)}
declare const self: Worker
answerCalls<{ ms: number }, number>(self, ({ ms }) => { const until = performance.now() + ms; let n = 0; while (performance.now() < until) n++; return n })
`,
  )
  writeFileSync(
    join(dir, 'caller.ts'),
    `import { WorkerCalls } from ${JSON.stringify(calls)}
const worker = new WorkerCalls<{ ms: number }, number>(() => new Worker(new URL('./busy-worker.ts', import.meta.url)), 'busy')
await worker.call({ ms: 50 }) // started, so the measure below is the wait alone
const cpu = () => { const u = process.threadCpuUsage(); return (u.user + u.system) / 1000 }
const [c0, t0] = [cpu(), performance.now()]
const n = await worker.call({ ms: 600 })
console.log(JSON.stringify({ waitedMs: performance.now() - t0, cpuMs: cpu() - c0, n }))
`,
  )
  const child = Bun.spawn([process.execPath, join(dir, 'caller.ts')], { stdout: 'pipe', stderr: 'pipe' })
  const exited = await Promise.race([child.exited, Bun.sleep(30_000).then(() => 'hung' as const)])
  if (exited === 'hung') child.kill('SIGKILL')
  expect(exited).toBe(0)
  const out = JSON.parse((await new Response(child.stdout).text()).trim()) as { waitedMs: number; cpuMs: number; n: number }
  expect(out.n).toBeGreaterThan(0)
  expect(out.waitedMs).toBeGreaterThan(500)
  // A ratio within one run: the waiting thread used a small part of the wait (it spun through all of it before).
  expect(out.cpuMs).toBeLessThan(out.waitedMs / 4)
}, 60_000)
