/**
 * Starts the real server process (`bun src/index.ts`) for tests that need one or several, and sees that no process a
 * test spawned outlives its test file. A test file whose beforeAll failed after its server had started (no Chromium,
 * say) never reached the code that stopped it: one run of the browser tests without Chromium left nine servers of
 * about 380 MB each behind. So every spawned process is `track`ed here, and
 * - each test file that spawns one registers `afterAll(killLeftovers)` as its first afterAll hook (or calls it first
 *   in that hook): Bun runs a file's afterAll hooks even when beforeAll failed, but skips the later ones of a scope
 *   once one throws;
 * - an interrupted run (SIGINT, SIGTERM, SIGHUP) or a `process.exit()` kills them before the test process goes.
 * (Bun emits no 'exit' event when `bun test` ends normally; the afterAll hooks cover that case.) A SIGKILLed test
 * process cannot clean up. The server's own children, the plugin sandboxes, exit when their IPC channel to the
 * server closes, so killing the server is enough (test/no-orphans.test.ts checks both).
 */
import { join } from 'node:path'
import postgres from 'postgres'
import type { Subprocess } from 'bun'

export const ROOT = join(import.meta.dir, '..')

/** Spawned by tests and not yet seen to exit. */
const live = new Set<Subprocess>()
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const
type Signal = keyof typeof EXIT_CODES

function killLiveNow(): void {
  for (const proc of live) proc.kill('SIGKILL')
}

function onSignal(signal: Signal): void {
  killLiveNow()
  process.exit(EXIT_CODES[signal])
}

/** Installed while something is tracked, so test files that spawn nothing keep the default signal behaviour. */
function watchExit(on: boolean): void {
  const method = on ? 'on' : 'off'
  process[method]('exit', killLiveNow)
  for (const signal of Object.keys(EXIT_CODES) as Signal[]) process[method](signal, onSignal)
}

/**
 * Registers a process a test spawned, so that `killLeftovers` and an interrupted run kill it.
 * @example
 * const proc = track(Bun.spawn(['bun', 'src/index.ts'], { cwd: ROOT, stdout: 'pipe' }))
 */
export function track<P extends Subprocess>(proc: P): P {
  if (live.size === 0) watchExit(true)
  live.add(proc)
  void proc.exited.then(() => {
    live.delete(proc)
    if (live.size === 0) watchExit(false)
  })
  return proc
}

/**
 * SIGKILLs every tracked process still running and waits until they have exited. Register it first among a test
 * file's afterAll hooks (see the top of this file).
 * @example
 * afterAll(killLeftovers)
 * beforeAll(async () => { server = await startServer(env) })
 */
export async function killLeftovers(): Promise<void> {
  const procs = [...live]
  for (const proc of procs) proc.kill('SIGKILL')
  await Promise.all(procs.map((proc) => proc.exited))
}

export interface Server {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  url: string
  lines: string[]
  /** Resolves with the exit code once the process ended and all its output was read. */
  exited: Promise<number>
}

/** Extra environment so the server uses a fresh schema and cache namespace of its own. */
export async function storeEnv(schema: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {}
  const url = process.env.DATABASE_URL
  if (url) {
    const admin = postgres(url, { max: 1, onnotice: () => {} })
    await admin.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    await admin.end()
    const u = new URL(url)
    u.searchParams.set('search_path', schema)
    env.DATABASE_URL = u.toString()
  }
  if (process.env.REDIS_URL) {
    env.REDIS_URL = process.env.REDIS_URL
    env.REDIS_PREFIX = `test:${schema}:`
  }
  return env
}

/**
 * Starts `bun src/index.ts` (or `command`, e.g. the built binary, in `cwd`) on a free port (tracked, see above) and
 * resolves once it listens. `env` is laid over PATH, HOME, PORT=0 and LOG_LEVEL=info.
 */
export async function startServer(env: Record<string, string>, options: { command?: string[]; cwd?: string } = {}): Promise<Server> {
  const proc = track(
    Bun.spawn(options.command ?? ['bun', 'src/index.ts'], {
      cwd: options.cwd ?? ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: '0', LOG_LEVEL: 'info', ...env },
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
    }),
  )
  const lines: string[] = []
  let resolveUrl: (url: string) => void = () => {}
  const urlPromise = new Promise<string>((resolve) => (resolveUrl = resolve))
  const reading = (async () => {
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of proc.stdout) {
      buffered += decoder.decode(chunk, { stream: true })
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        lines.push(line)
        const url = /"url":"(http:\/\/[^"]+)"/.exec(line)?.[1]
        if (url) resolveUrl(url)
      }
    }
  })()
  const exited = Promise.all([proc.exited, reading]).then(([code]) => code)
  const url = await Promise.race([
    urlPromise,
    exited.then(async (code) => {
      throw new Error(`${options.command?.join(' ') ?? 'the server'} exited with ${code}: ${await new Response(proc.stderr).text()}\n${lines.join('\n')}`)
    }),
  ])
  return { proc, url, lines, exited }
}

