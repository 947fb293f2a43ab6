import type { Subprocess } from 'bun'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import {
  DEFAULT_LIMITS,
  type CodeLimits,
  type CodeResult,
  type HostCallName,
  type HostMessage,
  type InvokeArgs,
  type InvokeMethod,
  type Limits,
  type LogLevel,
  type PluginMeta,
  type SandboxMessage,
  type SandboxStats,
  type WireError,
} from '../../../sandbox/protocol.ts'
import type { Logger } from '../../log.ts'
import { SandboxError } from './errors.ts'

const REPO_ROOT = resolve(import.meta.dir, '../../..')

export interface SandboxClientOptions {
  /**
   * Runs a plugin's host call (kv.get, fetch, …) and resolves to its JSON result. Throw to fail the call; an
   * error's `code` (default host_error) and `message` reach the plugin, so keep internals out of them. `ended`
   * aborts when the invocation settles (answered, failed, cancelled, timed out): stop the work then.
   */
  onHostCall: (plugin: string, invocationId: string, name: HostCallName, args: unknown[], ended: AbortSignal) => Promise<unknown>
  /** A plugin's console output. */
  onLog: (plugin: string, level: LogLevel, message: string, invocationId?: string) => void
  /**
   * After a crashed sandbox came back: load the enabled plugins again (loads of quarantined plugins are refused
   * with plugin_quarantined). Invocations wait for it.
   */
  onRestart?: (crash: SandboxCrash) => Promise<void>
  /** Node.js >= 24; default `node_modules/.bin/node` of the repository. */
  nodePath?: string
  /** Default: the repository's `sandbox/`. */
  sandboxDir?: string
  /** Heap of the sandbox process itself (isolates have their own limits). Default 512. */
  maxOldSpaceMb?: number
  /**
   * Memory ceiling of the whole sandbox process: past it, it is killed and restarted (isolated-vm's per-isolate
   * limits are soft and can be overrun by far). Default 2048; 0 turns the watchdog off.
   */
  maxRssMb?: number
  /** The host's own timer fires this long after an invocation's wallMs, in case the sandbox is wedged. */
  hostGraceMs?: number
  pingTimeoutMs?: number
  startTimeoutMs?: number
  /** Restart delays: initialMs doubling up to maxMs; back to initialMs after the process stayed up resetAfterMs. */
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number }
  /**
   * A plugin suspected in this many sandbox crashes within quarantineWindowMs is quarantined: its loads and
   * invocations are refused (plugin_quarantined) until release(). 0 turns quarantine off. Default 3 in 10 min.
   */
  quarantineAfter?: number
  quarantineWindowMs?: number
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>
  /**
   * The one plugin this process serves, when each plugin has a process of its own: every crash is then charged to
   * it alone, even one that came between invocations.
   */
  owner?: string
}

/**
 * Why the sandbox went down. A plugin can crash the whole process (isolated-vm's memory limit is soft, and some
 * V8 size errors are fatal), so each crash names its suspects: the plugin whose isolate failed catastrophically
 * when the sandbox could say so, otherwise every plugin that had a load or invocation in flight.
 */
export interface SandboxCrash {
  reason: string
  suspects: string[]
  /** Plugins quarantined so far (including by this crash). */
  quarantined: string[]
}

export interface InvokeOptions {
  /** Wall-clock limit of this invocation; the plugin's limits.wallMs when omitted. */
  wallMs?: number
  signal?: AbortSignal
}

export interface SandboxHealth {
  up: boolean
  restarts: number
  pid: number | null
  /** Plugins loaded in the sandbox; null when it did not answer. */
  plugins: number | null
  /** Resident memory of the sandbox process in bytes; null when it did not answer. */
  rss: number | null
  quarantined: string[]
}

type State = 'stopped' | 'starting' | 'up' | 'down' | 'recovering'

interface Pending {
  kind: 'invoke' | 'request'
  plugin: string | null
  resolve: (value: unknown) => void
  reject: (error: SandboxError) => void
  cleanup: () => void
  /**
   * Invocations only: aborted when it settles, so host calls it started do not outlive it. Made at its first host
   * call: a route that makes none (most requests) then costs no controller and no abort, which took 2% of the
   * server's time in bench/plugins.ts (`abort` in its CPU profile).
   */
  ended?: AbortController | null
}

/** How often the server looks at a sandbox process (#watch), and how long one with work in flight may use no CPU before it is pinged. */
const WATCH_MS = 100
const HANG_CHECK_MS = 300
/** Looks left out for a process with nothing in flight that used no CPU since the last: it is looked at every second. */
const IDLE_LOOKS_SKIPPED = 9

let pageBytes = 0
/** The kernel's page size (/proc counts RSS in pages): this process's RSS in kB over the same in pages, once. */
function pageSize(): number {
  if (pageBytes === 0) {
    const kb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'latin1'))?.[1])
    const pages = Number(readFileSync('/proc/self/statm', 'latin1').split(' ')[1])
    // The two reads are a moment apart and RSS moves: the nearest power of two (4, 16 or 64 KB in practice).
    pageBytes = 2 ** Math.round(Math.log2((kb * 1024) / pages))
  }
  return pageBytes
}

/**
 * Plugin code runs on the sandbox's main thread (sandbox/plugin-slot.ts, #enter), within V8's stack limit there:
 * Node's default of 984 KB let a plugin recurse 12,000 calls deep and JSON.stringify 4,500 levels (isolated-vm's
 * pool threads allowed 104,000 and 37,500). 4,000 KB allows 51,000 and 18,500. V8 trusts the number: past the
 * thread's real stack a deep recursion would crash the process instead of throwing, and the main thread's real stack
 * is the RLIMIT_STACK the sandbox inherits from this process, so half of it, at most 4,000 KB; nothing where it
 * cannot be read. The sandbox sets it for the isolates it creates (main.ts), not for Node's own.
 */
function pluginStackArgs(): string[] {
  let softKb: number
  try {
    const limit = /^Max stack size\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'latin1'))?.[1]
    if (limit === undefined) return []
    softKb = limit === 'unlimited' ? Infinity : Number(limit) / 1024
  } catch {
    return []
  }
  const kb = Math.min(4_000, Math.floor(softKb / 2))
  return Number.isFinite(kb) && kb > 984 ? [`--plugin-stack-kb=${kb}`] : []
}

const unavailable = (message: string) => new SandboxError('sandbox_unavailable', message)

/**
 * Starts and supervises the plugin sandbox (a Node.js process running isolated-vm, see sandbox/README.md) and
 * talks to it over IPC. If the process dies, everything in flight fails with sandbox_unavailable, and it is
 * restarted with exponential backoff; `onRestart` then reloads the plugins. An invocation the sandbox does not
 * answer within its wall-clock limit (plus a grace) fails here too, and a sandbox that no longer answers a ping
 * is killed and restarted.
 *
 * @example
 * const sandbox = new SandboxClient({ onHostCall: (plugin, id, name, args) => hostApi.call(plugin, id, name, args), onLog })
 * await sandbox.start()
 * await sandbox.load('hello', (await bundlePlugin('plugins/hello/src/index.ts', 'plugins/hello')).code, limits)
 * const out = await sandbox.invoke('hello', 'execute', { input: { q: 1 }, identity }, { wallMs: 5_000 })
 */
export class SandboxClient {
  #options: SandboxClientOptions
  readonly #nodePath: string
  readonly #sandboxDir: string
  readonly #limits = new Map<string, Limits>()
  #state: State = 'stopped'
  #proc: Subprocess<'ignore', 'ignore', 'pipe'> | null = null
  #pending = new Map<string, Pending>()
  #seq = 0
  #restarts = 0
  #failures = 0
  #upSince = 0
  #restartTimer: ReturnType<typeof setTimeout> | null = null
  #recovered: Promise<void> | null = null
  #pinging: Promise<boolean> | null = null
  #culprits: string[] | null = null
  #crash: SandboxCrash = { reason: '', suspects: [], quarantined: [] }
  readonly #strikes = new Map<string, number[]>()
  readonly #quarantined = new Set<string>()
  readonly #upWaiters = new Set<(up: boolean) => void>()

  constructor(options: SandboxClientOptions) {
    this.#options = options
    this.#nodePath = options.nodePath ?? join(REPO_ROOT, 'node_modules/.bin/node')
    this.#sandboxDir = options.sandboxDir ?? join(REPO_ROOT, 'sandbox')
  }

  get pid(): number | null {
    return this.#proc?.pid ?? null
  }

  /**
   * Hands a process that has served nobody yet (a warm spare, started without an owner) to `owner`: from now on its
   * crashes are charged to that plugin alone, a restart reloads it through `onRestart`, and its log names it.
   * Refused once the process has an owner or has loaded anything, so no code of one plugin ever shares it.
   */
  adopt(owner: string, hooks: { onRestart: NonNullable<SandboxClientOptions['onRestart']>; logger?: SandboxClientOptions['logger'] }): void {
    if (this.#options.owner !== undefined || this.#limits.size > 0) throw new Error('this sandbox process already serves a plugin')
    this.#options = { ...this.#options, owner, onRestart: hooks.onRestart, ...(hooks.logger ? { logger: hooks.logger } : {}) }
  }

  /** Starts the sandbox; rejects with sandbox_unavailable when Node.js or the sandbox cannot start. */
  async start(): Promise<void> {
    if (this.#state !== 'stopped') return
    this.#state = 'starting'
    try {
      await this.#spawn()
    } catch (err) {
      this.#state = 'stopped'
      this.#notifyUp(false)
      throw err
    }
    this.#state = 'up'
    this.#notifyUp(true)
  }

  /**
   * Resolves true once the process is up, waiting through a start or a restart after a crash; false when it is
   * stopped or still not up after `timeoutMs`.
   */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.#state === 'up') return Promise.resolve(true)
    if (this.#state === 'stopped') return Promise.resolve(false)
    return new Promise((resolvePromise) => {
      const done = (up: boolean) => {
        clearTimeout(timer)
        this.#upWaiters.delete(done)
        resolvePromise(up)
      }
      const timer = setTimeout(() => done(false), timeoutMs)
      this.#upWaiters.add(done)
    })
  }

  #notifyUp(up: boolean): void {
    for (const waiter of [...this.#upWaiters]) waiter(up)
  }

  /** Stops the sandbox for good; in-flight work fails with sandbox_unavailable. */
  async stop(): Promise<void> {
    this.#state = 'stopped'
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer)
    this.#restartTimer = null
    const proc = this.#proc
    this.#proc = null
    this.#failAll(unavailable('the plugin sandbox was stopped'))
    this.#notifyUp(false)
    if (proc === null) return
    proc.kill('SIGTERM')
    const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(2_000).then(() => false)])
    if (!exited) {
      proc.kill('SIGKILL')
      await proc.exited
    }
  }

  /** Loads (or replaces) a plugin: one bundled ES module (see bundlePlugin). Resolves to what the plugin declares. */
  async load(plugin: string, code: string, limits: Limits = DEFAULT_LIMITS): Promise<PluginMeta> {
    this.#checkQuarantine(plugin)
    const meta = (await this.#request({ type: 'load', id: this.#id(), plugin, code, limits }, limits.wallMs + this.#grace(), plugin)) as PluginMeta
    this.#limits.set(plugin, limits)
    return meta
  }

  async unload(plugin: string): Promise<void> {
    this.#limits.delete(plugin)
    await this.#request({ type: 'unload', id: this.#id(), plugin }, this.#pingTimeout())
  }

  /**
   * Runs a plugin method; resolves to its result (a RouteResult for `route`) or rejects with a SandboxError.
   * Aborting `signal` cancels it (code `cancelled`).
   */
  async invoke(plugin: string, method: InvokeMethod, args: InvokeArgs, options: InvokeOptions = {}): Promise<unknown> {
    this.#checkQuarantine(plugin)
    const wallMs = options.wallMs ?? this.#limits.get(plugin)?.wallMs ?? DEFAULT_LIMITS.wallMs
    if (this.#state === 'recovering' && this.#recovered !== null) await Promise.race([this.#recovered, Bun.sleep(wallMs)])
    if (this.#state !== 'up' && this.#state !== 'recovering') throw unavailable('the plugin sandbox is not running; retry shortly')
    if (options.signal?.aborted) throw new SandboxError('cancelled', 'the invocation was cancelled before it started')
    const id = this.#id()
    return new Promise<unknown>((resolvePromise, rejectPromise) => {
      const onAbort = () => {
        this.#send({ type: 'cancel', id })
        this.#settle(id, new SandboxError('cancelled', 'the invocation was cancelled'))
      }
      const timer = setTimeout(() => this.#hostTimeout(id, plugin, wallMs), wallMs + this.#grace())
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(id, {
        kind: 'invoke',
        plugin,
        resolve: resolvePromise,
        reject: rejectPromise,
        cleanup: () => {
          clearTimeout(timer)
          options.signal?.removeEventListener('abort', onAbort)
        },
        ended: null,
      })
      if (!this.#send({ type: 'invoke', id, plugin, method, args, wallMs })) this.#settle(id, unavailable('the plugin sandbox is not running; retry shortly'))
    })
  }

  /**
   * The code interpreter: runs `code` in a fresh isolate of its own (sandbox/code-runner.ts), answered with its
   * result or a SandboxError (`code_error` when the snippet threw, a limit, `cancelled`, `sandbox_unavailable` when
   * the process went down under it). Aborting `signal` cancels it.
   */
  async evalCode(code: string, limits: CodeLimits, options: { signal?: AbortSignal } = {}): Promise<CodeResult> {
    if (this.#state !== 'up') throw unavailable('the sandbox is not running; retry shortly')
    if (options.signal?.aborted) throw new SandboxError('cancelled', 'the evaluation was cancelled before it started')
    const id = this.#id()
    return new Promise<CodeResult>((resolvePromise, rejectPromise) => {
      const onAbort = () => {
        this.#send({ type: 'cancel', id })
        this.#settle(id, new SandboxError('cancelled', 'the evaluation was cancelled'))
      }
      // The sandbox answers at wallMs itself; this is for a process that no longer does.
      const timer = setTimeout(() => {
        this.#send({ type: 'cancel', id })
        const error = new SandboxError('wall_time_exceeded', `the code did not finish within its wallMs limit of ${limits.wallMs} ms`, { name: 'wallMs', value: limits.wallMs })
        this.#settle(id, error)
        void this.#checkAlive()
      }, limits.wallMs + this.#grace())
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(id, {
        kind: 'request',
        plugin: this.#options.owner ?? null,
        resolve: resolvePromise as (value: unknown) => void,
        reject: rejectPromise,
        cleanup: () => {
          clearTimeout(timer)
          options.signal?.removeEventListener('abort', onAbort)
        },
      })
      if (!this.#send({ type: 'evalCode', id, code, limits })) this.#settle(id, unavailable('the sandbox is not running; retry shortly'))
    })
  }

  async stats(): Promise<SandboxStats> {
    return (await this.#request({ type: 'stats', id: this.#id() }, this.#pingTimeout())) as SandboxStats
  }

  /** Lifts a plugin's quarantine (an operator decided to trust it again) and forgets its crashes. */
  release(plugin: string): void {
    this.#quarantined.delete(plugin)
    this.#strikes.delete(plugin)
  }

  async health(): Promise<SandboxHealth> {
    const base = { restarts: this.#restarts, pid: this.pid, quarantined: [...this.#quarantined] }
    if (this.#state !== 'up') return { ...base, up: false, plugins: null, rss: null }
    try {
      const stats = await this.stats()
      return { ...base, up: true, plugins: stats.plugins.length, rss: stats.rss }
    } catch {
      return { ...base, up: false, plugins: null, rss: null }
    }
  }

  // ---- process

  #spawnArgs(): string[] {
    const ivmDir = realpathSync(dirname(Bun.resolveSync('isolated-vm/package.json', this.#sandboxDir)))
    const gypDir = realpathSync(dirname(Bun.resolveSync('node-gyp-build/package.json', ivmDir)))
    return [
      this.#nodePath,
      // Node's permission model: a plugin that escaped its isolate still could not read the server's files,
      // write anywhere, spawn processes or start workers. isolated-vm is an addon, hence --allow-addons;
      // node-gyp-build probes /etc/alpine-release to pick the prebuilt binary.
      '--permission',
      '--allow-addons',
      `--allow-fs-read=${realpathSync(this.#sandboxDir)}`,
      `--allow-fs-read=${ivmDir}`,
      `--allow-fs-read=${gypDir}`,
      '--allow-fs-read=/etc/alpine-release',
      `--max-old-space-size=${this.#options.maxOldSpaceMb ?? 512}`,
      // One V8 background thread instead of four: a process runs one plugin, whose isolate is small, on a share of
      // the cores, and each thread's stack and malloc arena cost memory in every plugin's process (private memory
      // per process 39 -> 33 MB, /proc/<pid>/smaps_rollup of four processes).
      '--v8-pool-size=1',
      '--disable-proto=delete',
      '--disable-warning=ExperimentalWarning',
      '--disable-warning=SecurityWarning',
      'main.ts',
      `--max-rss-mb=${this.#options.maxRssMb ?? 2048}`,
      ...pluginStackArgs(),
    ]
  }

  async #spawn(): Promise<void> {
    if (!existsSync(this.#nodePath)) throw unavailable(`Node.js not found at ${this.#nodePath}; plugins are unavailable`)
    let args: string[]
    try {
      args = this.#spawnArgs()
    } catch (err) {
      throw unavailable(`the plugin sandbox cannot start: ${err instanceof Error ? err.message : String(err)}`)
    }
    let onReady: () => void = () => {}
    let onFail: (err: SandboxError) => void = () => {}
    const ready = new Promise<void>((res, rej) => {
      onReady = res
      onFail = rej
    })
    const proc = Bun.spawn(args, {
      cwd: this.#sandboxDir,
      // Nothing of the server's environment (database URLs, keys) reaches the sandbox; Node needs none of it.
      env: {},
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
      serialization: 'json',
      ipc: (message, subprocess) => {
        if (subprocess !== this.#proc) return
        if (typeof message === 'object' && message !== null && (message as SandboxMessage).type === 'ready') onReady()
        else this.#onMessage(message)
      },
    })
    this.#proc = proc
    this.#watch(proc)
    void this.#pipeStderr(proc)
    void proc.exited.then((code) => {
      onFail(unavailable(`the plugin sandbox exited during start (${proc.signalCode ?? code})`))
      this.#onExit(proc, String(proc.signalCode ?? code))
    })
    const timeoutMs = this.#options.startTimeoutMs ?? 15_000
    const timer = setTimeout(() => onFail(unavailable(`the plugin sandbox did not start within ${timeoutMs} ms`)), timeoutMs)
    try {
      await ready
      this.#upSince = Date.now()
    } catch (err) {
      proc.kill('SIGKILL')
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Watches the process from outside (Linux: one read of /proc/<pid>/stat, ~7 µs), for what the sandbox cannot report
   * itself while plugin code runs on its main thread (sandbox/plugin-slot.ts, #enter):
   * - its memory ceiling: a slice stuck in a builtin V8 cannot interrupt (`new Array(2 ** 27).fill(0)` went on to
   *   2.4 GB) keeps the sandbox's own watchdog from running while its memory grows;
   * - a deadlock: a catastrophic out-of-memory error inside a synchronous slice leaves the process asleep for good
   *   (its handler needs the thread the slice holds). With work in flight and no CPU used for HANG_CHECK_MS it is
   *   pinged (#checkAlive), and killed if it does not answer. A plugin waiting for a slow host call uses no CPU
   *   either, but answers the ping at once; a long slice of plugin code uses CPU.
   * A process with nothing in flight that used no CPU since the last look is looked at once a second, not ten times:
   * with 100 plugins enabled the looks took 10% of the server thread's time under plugin load (bun bench/plugins.ts,
   * profiled). Memory only grows while something runs, and running uses CPU.
   * Blame falls as for any crash (#onExit): the owner, or the plugins with something in flight. Elsewhere than Linux
   * the sandbox's own watchdog acts alone, between slices, and a deadlock waits for the invocation's wall-clock limit.
   */
  #watch(proc: Subprocess<'ignore', 'ignore', 'pipe'>): void {
    if (process.platform !== 'linux') return
    const ceilingBytes = (this.#options.maxRssMb ?? 2048) * 1024 * 1024
    let lastCpu = -1
    let stillSince = performance.now()
    let skip = 0
    const timer = setInterval(() => {
      if (proc !== this.#proc || proc.exitCode !== null || proc.signalCode !== null) return clearInterval(timer)
      if (skip > 0 && this.#pending.size === 0) return void skip--
      skip = 0
      let rssBytes: number
      let cpu: number
      try {
        // After the command name (which may hold spaces): utime and stime are the 14th and 15th fields, rss (pages) the 24th.
        const stat = readFileSync(`/proc/${proc.pid}/stat`, 'latin1')
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        cpu = Number(fields[11]) + Number(fields[12])
        rssBytes = Number(fields[21]) * pageSize()
      } catch {
        return clearInterval(timer) // gone
      }
      if (ceilingBytes > 0 && rssBytes > ceilingBytes) {
        clearInterval(timer)
        this.#options.logger?.error({ pid: proc.pid, rssMb: Math.round(rssBytes / 1048576), ceilingMb: ceilingBytes / 1048576 }, 'plugin sandbox over its memory ceiling; killing it')
        proc.kill('SIGKILL')
        return
      }
      const now = performance.now()
      const idle = this.#pending.size === 0
      if (idle || cpu !== lastCpu) {
        if (idle && cpu === lastCpu) skip = IDLE_LOOKS_SKIPPED
        lastCpu = cpu
        stillSince = now
      } else if (now - stillSince >= HANG_CHECK_MS) {
        stillSince = now
        void this.#checkAlive()
      }
    }, WATCH_MS)
    timer.unref()
  }

  async #pipeStderr(proc: Subprocess<'ignore', 'ignore', 'pipe'>): Promise<void> {
    // The logger is read per line: a spare's process gets its plugin's logger when adopted.
    const log = () => this.#options.logger
    let buffered = ''
    const decoder = new TextDecoder()
    for await (const chunk of proc.stderr) {
      buffered += decoder.decode(chunk, { stream: true })
      let nl: number
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        if (line.trim() !== '') log()?.warn({ sandboxPid: proc.pid, line: line.slice(0, 4096) }, 'plugin sandbox stderr')
      }
      if (buffered.length > 65536) buffered = ''
    }
  }

  #onExit(proc: Subprocess<'ignore', 'ignore', 'pipe'>, reason: string): void {
    if (proc !== this.#proc) return
    this.#proc = null
    const owner = this.#options.owner
    const suspects =
      owner !== undefined
        ? [owner]
        : this.#culprits !== null && this.#culprits.length > 0
          ? this.#culprits
          : [...new Set([...this.#pending.values()].flatMap((p) => (p.plugin === null ? [] : [p.plugin])))]
    this.#culprits = null
    this.#failAll(unavailable(`the plugin sandbox exited (${reason}); retry shortly`))
    if (this.#state === 'stopped' || this.#state === 'starting') return
    this.#strike(suspects)
    this.#crash = { reason, suspects, quarantined: [...this.#quarantined] }
    this.#options.logger?.error({ reason, pid: proc.pid, suspects, quarantined: this.#crash.quarantined }, 'plugin sandbox exited; restarting')
    this.#scheduleRestart()
  }

  #strike(suspects: string[]): void {
    const after = this.#options.quarantineAfter ?? 3
    if (after <= 0) return
    const windowMs = this.#options.quarantineWindowMs ?? 600_000
    const now = Date.now()
    for (const plugin of suspects) {
      const strikes = (this.#strikes.get(plugin) ?? []).filter((t) => now - t < windowMs)
      strikes.push(now)
      this.#strikes.set(plugin, strikes)
      if (strikes.length >= after && !this.#quarantined.has(plugin)) {
        this.#quarantined.add(plugin)
        this.#options.logger?.error({ plugin, crashes: strikes.length }, 'plugin quarantined: it was running in repeated sandbox crashes')
      }
    }
  }

  #checkQuarantine(plugin: string): void {
    if (this.#quarantined.has(plugin))
      throw new SandboxError(
        'plugin_quarantined',
        `plugin ${plugin} was running when the sandbox crashed ${this.#strikes.get(plugin)?.length ?? 0} times; it stays off until an operator releases it`,
      )
  }

  #scheduleRestart(): void {
    if (this.#state === 'stopped' || this.#restartTimer !== null) return
    const { initialMs = 100, maxMs = 5_000, resetAfterMs = 30_000 } = this.#options.backoff ?? {}
    if (this.#upSince > 0 && Date.now() - this.#upSince >= resetAfterMs) this.#failures = 0
    const delay = Math.min(maxMs, initialMs * 2 ** this.#failures)
    this.#failures++
    this.#state = 'down'
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null
      void this.#restart()
    }, delay)
  }

  async #restart(): Promise<void> {
    if (this.#state === 'stopped') return
    let done: () => void = () => {}
    this.#recovered = new Promise<void>((r) => (done = r))
    this.#state = 'recovering'
    try {
      await this.#spawn()
      this.#restarts++
      this.#options.logger?.info({ pid: this.pid, restarts: this.#restarts }, 'plugin sandbox restarted')
      try {
        await this.#options.onRestart?.(this.#crash)
      } catch (err) {
        this.#options.logger?.error({ err: err instanceof Error ? err.message : String(err) }, 'reloading plugins after a sandbox restart failed')
      }
      if (this.#state === 'recovering') {
        this.#state = 'up'
        this.#notifyUp(true)
      }
    } catch (err) {
      this.#options.logger?.error({ err: err instanceof Error ? err.message : String(err) }, 'plugin sandbox restart failed')
      if (this.#state === 'recovering') this.#scheduleRestart()
    } finally {
      this.#recovered = null
      done()
    }
  }

  // ---- messages

  #id(): string {
    return String(++this.#seq)
  }

  #grace(): number {
    return this.#options.hostGraceMs ?? 1_000
  }

  #pingTimeout(): number {
    return this.#options.pingTimeoutMs ?? 2_000
  }

  #send(message: HostMessage): boolean {
    const proc = this.#proc
    if (proc === null) return false
    try {
      proc.send(message)
      return true
    } catch {
      return false
    }
  }

  #request(message: HostMessage & { id: string }, timeoutMs: number, plugin: string | null = null): Promise<unknown> {
    if (this.#state === 'stopped' || this.#state === 'down' || this.#proc === null)
      return Promise.reject(unavailable('the plugin sandbox is not running; retry shortly'))
    return new Promise((resolvePromise, rejectPromise) => {
      const timer = setTimeout(() => this.#settle(message.id, unavailable(`the plugin sandbox did not answer a ${message.type} within ${timeoutMs} ms`)), timeoutMs)
      this.#pending.set(message.id, { kind: 'request', plugin, resolve: resolvePromise, reject: rejectPromise, cleanup: () => clearTimeout(timer) })
      if (!this.#send(message)) this.#settle(message.id, unavailable('the plugin sandbox is not running; retry shortly'))
    })
  }

  #settle(id: string, outcome: SandboxError | { value: unknown }): void {
    const pending = this.#pending.get(id)
    if (pending === undefined) return
    this.#pending.delete(id)
    pending.cleanup()
    pending.ended?.abort()
    if (outcome instanceof SandboxError) pending.reject(outcome)
    else pending.resolve(outcome.value)
  }

  #failAll(error: SandboxError): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, error)
  }

  #onMessage(raw: unknown): void {
    if (typeof raw !== 'object' || raw === null) return
    const message = raw as SandboxMessage
    switch (message.type) {
      case 'result':
        if (message.ok) this.#settle(message.id, { value: message.value })
        else {
          const error = message.error as Partial<WireError> | undefined
          this.#settle(
            message.id,
            typeof error?.code === 'string' && typeof error.message === 'string'
              ? SandboxError.fromWire(error as WireError)
              : new SandboxError('internal_error', 'the plugin sandbox sent a malformed error'),
          )
        }
        return
      case 'hostCall':
        void this.#hostCall(message.callId, message.id, message.plugin, message.name, message.args)
        return
      case 'crash':
        this.#culprits = Array.isArray(message.plugins) ? message.plugins.filter((p) => typeof p === 'string') : []
        this.#options.logger?.error({ plugins: this.#culprits, error: message.message }, 'the plugin sandbox is going down')
        return
      case 'log':
        if (message.id === undefined) this.#options.onLog(message.plugin, message.level, message.message)
        else this.#options.onLog(message.plugin, message.level, message.message, message.id)
        return
    }
  }

  async #hostCall(callId: string, invocationId: string, plugin: string, name: HostCallName, args: unknown[]): Promise<void> {
    const proc = this.#proc
    const pending = this.#pending.get(invocationId)
    // Only an invocation in flight, of the plugin the sandbox names, may call the host: a sandbox that went wrong
    // cannot act for a plugin nobody is running.
    if (pending?.kind !== 'invoke' || pending.plugin !== plugin) {
      this.#send({ type: 'hostResult', callId, ok: false, error: { code: 'invocation_finished', message: 'the invocation is no longer running' } })
      return
    }
    pending.ended ??= new AbortController()
    let answer: HostMessage
    try {
      const value = await this.#options.onHostCall(plugin, invocationId, name, Array.isArray(args) ? args : [], pending.ended.signal)
      answer = value === undefined ? { type: 'hostResult', callId, ok: true } : { type: 'hostResult', callId, ok: true, value }
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown }
      answer = {
        type: 'hostResult',
        callId,
        ok: false,
        error: { code: typeof e?.code === 'string' ? e.code : 'host_error', message: typeof e?.message === 'string' ? e.message : 'the host call failed' },
      }
    }
    if (this.#proc === proc) this.#send(answer)
  }

  /** The sandbox did not answer in time: fail the invocation, and restart the sandbox if it no longer responds. */
  #hostTimeout(id: string, plugin: string, wallMs: number): void {
    this.#send({ type: 'cancel', id })
    this.#settle(
      id,
      new SandboxError('wall_time_exceeded', `plugin ${plugin} did not answer within its wallMs limit of ${wallMs} ms`, { name: 'wallMs', value: wallMs }),
    )
    void this.#checkAlive()
  }

  #checkAlive(): Promise<boolean> {
    if (this.#pinging !== null) return this.#pinging
    const proc = this.#proc
    this.#pinging = this.#request({ type: 'ping', id: this.#id() }, this.#pingTimeout())
      .then(
        () => true,
        () => {
          if (proc !== null && proc === this.#proc) {
            this.#options.logger?.error({ pid: proc.pid }, 'plugin sandbox stopped answering; killing it')
            proc.kill('SIGKILL')
          }
          return false
        },
      )
      .finally(() => {
        this.#pinging = null
      })
    return this.#pinging
  }
}
