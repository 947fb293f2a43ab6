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
export function spawnUpstream(env: { delayMs: number; chunkDelayMs: number }): Promise<Child> {
  return spawnPrintingUrl('upstream-proc.ts', { UPSTREAM_DELAY_MS: String(env.delayMs), UPSTREAM_CHUNK_DELAY_MS: String(env.chunkDelayMs) })
}

/** Starts bench/lib/null-proxy.ts in front of `upstreamUrl`. */
export function spawnNullProxy(upstreamUrl: string): Promise<Child> {
  return spawnPrintingUrl('null-proxy.ts', { UPSTREAM_URL: upstreamUrl })
}

/** Starts a script of bench/lib that prints `{"url": ...}` once listening, and resolves with that URL. */
async function spawnPrintingUrl(script: string, extraEnv: Record<string, string>): Promise<Child> {
  const proc = Bun.spawn(['bun', join(import.meta.dir, script)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...extraEnv },
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
      if (done) throw new Error(`${script} exited early (code ${await proc.exited}): ${text}`)
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
    throw new Error(`${script} did not start within 30 s`)
  } catch (err) {
    await stop(2000)
    throw err
  }
}

export interface ServerOptions {
  env: Record<string, string>
  /** Checkout whose src/index.ts runs (default: this one), e.g. an exported older commit to compare against. */
  root?: string | undefined
  /** The script to run instead of src/index.ts, e.g. a wrapper that adjusts a module before importing it. */
  entry?: string | undefined
  /** Server stdout (the JSON access log) goes here, as a log shipper would take it; the bench does not parse it. */
  logPath: string
  /** Run under `bun --cpu-prof`, writing `<dir>/<name>` when the server exits. */
  cpuProfile?: { dir: string; name: string; intervalUs: number }
  /**
   * Preload bench/lib/server-probe.ts, which appends the main thread's event-loop delay and the process's memory to
   * this file every second (read it with bench/lib/probe.ts).
   */
  probeFile?: string
}

/** A port that was free a moment ago (for a server that will not log its URL). */
function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = probe.port
  probe.stop(true)
  return port
}

/**
 * Starts `bun src/index.ts` (the real server) and resolves once it is up: with LOG_LEVEL info (or more verbose)
 * when it logged its URL; with a quieter level (no URL line) on a port chosen here, once /health answers.
 */
export async function spawnServer(opts: ServerOptions): Promise<Child> {
  const level = opts.env.LOG_LEVEL ?? 'info'
  const logsUrl = ['info', 'debug', 'trace'].includes(level)
  const port = logsUrl ? 0 : freePort()
  const cmd = ['bun']
  if (opts.cpuProfile)
    cmd.push(
      '--cpu-prof',
      `--cpu-prof-dir=${opts.cpuProfile.dir}`,
      `--cpu-prof-name=${opts.cpuProfile.name}`,
      `--cpu-prof-interval=${opts.cpuProfile.intervalUs}`,
    )
  if (opts.probeFile) cmd.push('--preload', join(import.meta.dir, 'server-probe.ts'))
  cmd.push(opts.entry ?? 'src/index.ts')
  const proc = Bun.spawn(cmd, {
    cwd: opts.root ?? ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: level,
      ...(opts.probeFile ? { BENCH_PROBE_FILE: opts.probeFile } : {}),
      // JavaScriptCore's own options, e.g. BUN_JSC_logGC=true: every collection with its pause, on stderr; and Bun's
      // collection timer's (BUN_GC_TIMER_DISABLE, BUN_GC_TIMER_INTERVAL).
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BUN_JSC_') || k.startsWith('BUN_GC_'))),
      ...opts.env,
      PORT: String(port),
    },
    stdin: 'ignore',
    stdout: Bun.file(opts.logPath),
    stderr: Bun.file(opts.entry === undefined && process.env.BENCH_SERVER_STDERR ? process.env.BENCH_SERVER_STDERR : `${opts.logPath}.stderr`),
  })
  const stop = stopper(proc)
  const deadline = Date.now() + 60_000
  try {
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`server exited early (code ${proc.exitCode})`)
      if (logsUrl) {
        const log = existsSync(opts.logPath) ? readFileSync(opts.logPath, 'utf8') : ''
        const url = /"url":"(http:\/\/[^"]+)"/.exec(log)?.[1]
        if (url) return { proc, url, stop }
      } else {
        const url = `http://127.0.0.1:${port}`
        const up = await fetch(`${url}/health`).then(
          (r) => r.ok,
          () => false,
        )
        if (up) return { proc, url, stop }
      }
      await Bun.sleep(50)
    }
    throw new Error('server did not log its URL within 60 s')
  } catch (err) {
    await stop(5000)
    throw new Error(`${(err as Error).message}\n--- server log tail ---\n${tail(opts.logPath)}\n${tail(`${opts.logPath}.stderr`)}`)
  }
}

/**
 * `<short sha>` of the checkout at `root`; with uncommitted changes under src/ also `+src:<hash>`, a hash of the
 * diff and of the untracked files, so two runs on different work-in-progress states are told apart. Null outside git.
 */
export function codeVersion(root: string): string | null {
  const git = (...args: string[]) => Bun.spawnSync(['git', ...args], { cwd: root, stdout: 'pipe', stderr: 'ignore' })
  const sha = git('rev-parse', '--short', 'HEAD')
  if (sha.exitCode !== 0) return null
  const status = git('status', '--porcelain', '--untracked-files=all', '--', 'src').stdout.toString()
  if (!status.trim()) return sha.stdout.toString().trim()
  const hash = new Bun.CryptoHasher('sha256')
  hash.update(git('diff', 'HEAD', '--', 'src').stdout)
  for (const line of status.split('\n'))
    if (line.startsWith('?? ')) {
      const file = line.slice(3)
      hash.update(file)
      if (existsSync(join(root, file))) hash.update(readFileSync(join(root, file)))
    }
  return `${sha.stdout.toString().trim()}+src:${hash.digest('hex').slice(0, 8)}`
}

export function tail(path: string, lines = 30): string {
  if (!existsSync(path)) return '(no file)'
  return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')
}
