/** Child processes of the benchmark: the mock upstream and the real Enclava server, started and stopped cleanly. */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Subprocess } from 'bun'

export const ROOT = join(import.meta.dir, '..', '..')

export interface Child {
  proc: Subprocess
  url: string
  /** SIGTERM, wait up to `graceMs`, then SIGKILL. Resolves with the exit code. Safe to call twice. */
  stop(graceMs?: number): Promise<number>
}

function stopper(proc: Subprocess): (graceMs?: number) => Promise<number> {
  return async (graceMs = 20_000) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
    const timedOut = Symbol('timeout')
    let timer: ReturnType<typeof setTimeout> | undefined
    const code = await Promise.race([
      proc.exited,
      new Promise<typeof timedOut>((resolve) => (timer = setTimeout(() => resolve(timedOut), graceMs))),
    ])
    clearTimeout(timer)
    if (code !== timedOut) return code
    proc.kill('SIGKILL')
    return proc.exited
  }
}

/** Starts bench/lib/upstream-proc.ts and resolves once it printed its URL. */
export async function spawnUpstream(env: { delayMs: number; chunkDelayMs: number }): Promise<Child> {
  const proc = Bun.spawn(['bun', join(import.meta.dir, 'upstream-proc.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      UPSTREAM_DELAY_MS: String(env.delayMs),
      UPSTREAM_CHUNK_DELAY_MS: String(env.chunkDelayMs),
    },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const stop = stopper(proc)
  const reader = proc.stdout.getReader()
  const decoder = new TextDecoder()
  let text = ''
  const deadline = Date.now() + 30_000
  try {
    while (Date.now() < deadline) {
      const { done, value } = await reader.read()
      if (done) throw new Error(`upstream exited early (code ${await proc.exited}): ${text}`)
      text += decoder.decode(value, { stream: true })
      const url = /"url":"([^"]+)"/.exec(text)?.[1]
      if (url) {
        // keep draining so a chatty child never blocks on a full pipe
        void (async () => {
          while (!(await reader.read()).done);
        })().catch(() => {})
        return { proc, url, stop }
      }
    }
    throw new Error('upstream did not start within 30 s')
  } catch (err) {
    await stop(2000)
    throw err
  }
}

export interface ServerOptions {
  env: Record<string, string>
  /** Server stdout (the JSON access log) goes here, as a log shipper would take it; the bench does not parse it. */
  logPath: string
  /** Run under `bun --cpu-prof`, writing `<dir>/<name>` when the server exits. */
  cpuProfile?: { dir: string; name: string; intervalUs: number }
}

/** Starts `bun src/index.ts` (the real server) and resolves once it logged its URL. */
export async function spawnServer(opts: ServerOptions): Promise<Child> {
  const cmd = ['bun']
  if (opts.cpuProfile)
    cmd.push(
      '--cpu-prof',
      `--cpu-prof-dir=${opts.cpuProfile.dir}`,
      `--cpu-prof-name=${opts.cpuProfile.name}`,
      `--cpu-prof-interval=${opts.cpuProfile.intervalUs}`,
    )
  cmd.push('src/index.ts')
  const proc = Bun.spawn(cmd, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: '0', LOG_LEVEL: 'info', ...opts.env },
    stdin: 'ignore',
    stdout: Bun.file(opts.logPath),
    stderr: Bun.file(`${opts.logPath}.stderr`),
  })
  const stop = stopper(proc)
  const deadline = Date.now() + 60_000
  try {
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`server exited early (code ${proc.exitCode})`)
      const log = existsSync(opts.logPath) ? readFileSync(opts.logPath, 'utf8') : ''
      const url = /"url":"(http:\/\/[^"]+)"/.exec(log)?.[1]
      if (url) return { proc, url, stop }
      await Bun.sleep(50)
    }
    throw new Error('server did not log its URL within 60 s')
  } catch (err) {
    await stop(5000)
    throw new Error(`${(err as Error).message}\n--- server log tail ---\n${tail(opts.logPath)}\n${tail(`${opts.logPath}.stderr`)}`)
  }
}

export function tail(path: string, lines = 30): string {
  if (!existsSync(path)) return '(no file)'
  return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')
}
