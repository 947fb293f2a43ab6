/**
 * No server process outlives its test run, nor the plugin sandbox it started: a run of the browser tests without
 * Chromium used to leave nine servers of about 380 MB each behind, their beforeAll having failed after the server
 * had started. Each case runs test/fixtures/leaky-server.ts in a `bun test` of its own and, once that has ended,
 * looks for the server and its descendants by pid and start time.
 */
import { afterAll, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killLeftovers, ROOT, track } from './server-process.ts'
import { processInfo, stillRunning, type ProcessInfo } from './fixtures/processes.ts'

afterAll(killLeftovers)

/** How long the processes may take to go once the run has ended (the sandbox notices its closed channel). */
const GONE_WITHIN_MS = 5_000

/** Those of `watched` still running once they all ended or `ms` passed. */
async function stillRunningAfter(watched: ProcessInfo[], ms: number): Promise<ProcessInfo[]> {
  const end = Date.now() + ms
  while (watched.some(stillRunning) && Date.now() < end) await Bun.sleep(50)
  return watched.filter(stillRunning)
}

test.each([
  { when: 'its beforeAll fails', mode: 'fail', signal: undefined, exitCode: 1 },
  { when: 'the run is interrupted (SIGINT)', mode: 'wait', signal: 'SIGINT', exitCode: 130 },
  { when: 'the run is terminated (SIGTERM)', mode: 'wait', signal: 'SIGTERM', exitCode: 143 },
] as const)(
  'a server and its plugin sandbox end with the test file when $when',
  async ({ mode, signal, exitCode }) => {
    const dir = mkdtempSync(join(tmpdir(), 'enclava-orphans-'))
    const report = join(dir, 'report.json')
    const run = track(
      Bun.spawn([process.execPath, 'test', '--timeout', '60000', './test/fixtures/leaky-server.ts'], {
        cwd: ROOT,
        env: { ...process.env, LEAKY_MODE: mode, LEAKY_DIR: dir },
        stdout: 'pipe',
        stderr: 'pipe',
      }),
    )
    const output = Promise.all([new Response(run.stdout).text(), new Response(run.stderr).text()]).then((parts) => parts.join('\n'))
    while (!existsSync(report) && run.exitCode === null) await Bun.sleep(50)
    if (signal) run.kill(signal)
    const code = await run.exited
    if (!existsSync(report)) throw new Error(`the fixture wrote no report (exit ${code}):\n${await output}`)
    const { server, descendants } = JSON.parse(readFileSync(report, 'utf8')) as { server: ProcessInfo; descendants: ProcessInfo[] }
    rmSync(dir, { recursive: true, force: true })
    expect(code, await output).toBe(exitCode)
    // The server had started the plugin sandbox (a Node process), so its end is checked too.
    expect(descendants.map((d) => d.command).join('\n')).toContain('node')

    expect(await stillRunningAfter([server, ...descendants], GONE_WITHIN_MS)).toEqual([])
  },
  60_000,
)

test('a plugin sandbox ends with its server while its isolates run code (process.exit waits for them)', async () => {
  const standIn = track(Bun.spawn([process.execPath, './test/fixtures/busy-sandbox.ts'], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' }))
  const reader = standIn.stdout.getReader()
  let printed = ''
  while (!printed.includes('\n')) {
    const chunk = await reader.read()
    if (chunk.done) throw new Error(`the stand-in ended first (${await standIn.exited}): ${await new Response(standIn.stderr).text()}`)
    printed += new TextDecoder().decode(chunk.value)
  }
  const sandbox = processInfo((JSON.parse(printed) as { sandbox: number }).sandbox)
  if (sandbox === undefined) throw new Error('the sandbox was gone before its server')
  standIn.kill('SIGKILL')
  await standIn.exited

  const left = await stillRunningAfter([sandbox], GONE_WITHIN_MS)
  // A failing run leaves nothing either: the sandbox is no child of this process, so nothing else would end it.
  for (const p of left) process.kill(p.pid, 'SIGKILL')
  expect(left).toEqual([])
}, 30_000)
