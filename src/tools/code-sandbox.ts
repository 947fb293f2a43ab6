import type { Logger } from '../log.ts'
import { processCeilingMb } from '../plugins/sandboxes.ts'
import { DEFAULT_LIMITS, SandboxClient, SandboxError } from '../plugins/sandbox/index.ts'
import type { CodeLimits, CodeResult } from '../../sandbox/protocol.ts'

/**
 * What one snippet of the code interpreter may use. Each is named, with its value, in the error that stops it. The
 * output (result and console lines together) stays within the MAX_RESULT_CHARS (32 000) of a tool result the
 * engine shows a model, with room for the framing, so the limit a model meets is this one, named, and never the
 * engine's silent cut of what it already produced.
 */
export const CODE_LIMITS: CodeLimits = { memoryMb: 64, cpuMs: 2_000, wallMs: 5_000, maxOutputBytes: 30 * 1024 }
/** Sandbox processes; each runs one snippet at a time. */
export const CODE_PROCESSES = 2
/** Snippets waiting for a free process; one more is refused (busy), not queued. */
export const CODE_MAX_WAITING = 16
/** Snippets one caller may have running or waiting at once. */
export const CODE_MAX_PER_CALLER = 2
/** How long a snippet waits for its process to come back after the previous snippet crashed it (or to start). */
const READY_WAIT_MS = 10_000
/**
 * Stops after which the snippet may still be running, in a builtin V8 cannot interrupt, though its isolate is
 * disposed: measured, `a[2 ** 30] = 1; a.sort()` answered at the wall limit, went on, and took the process down
 * ("Script failed to terminate") 1.5 s later, under whatever snippet ran there next. Its process is replaced
 * before it serves another. (A CPU timeout is reported only once the script has stopped.)
 */
const SUSPECT = new Set(['wall_time_exceeded', 'memory_limit_exceeded', 'cancelled'])

export interface CodeSandboxOptions {
  logger: Logger
  /** Node.js >= 24; default the checkout's node_modules/.bin/node. */
  nodePath?: string
  /** The sandbox's sources; default the checkout's sandbox/. */
  sandboxDir?: string
  limits?: CodeLimits
  processes?: number
  maxWaiting?: number
  maxPerCaller?: number
}

interface Slot {
  client: SandboxClient | null
  starting: Promise<SandboxClient> | null
  busy: boolean
  /** Its last snippet may not have stopped: replace the process before the next one. */
  suspect: boolean
}

/** A call waiting for a process: handed one, or null when the interpreter stopped. */
type Waiter = (slot: Slot | null) => void

/**
 * The code interpreter's sandbox processes (sandbox/code-runner.ts: a fresh isolate per snippet), started on first
 * use and stopped with the platform. Each process runs **one snippet at a time**: a snippet can take its whole
 * process down (V8 aborts on some size errors; isolated-vm's heap limit is soft), and with nothing else running
 * there, the only call that fails is the one that did it. The process restarts; the next snippet waits for it.
 * Several processes serve calls side by side; past them calls wait in a short queue, and past that they are refused.
 *
 * Errors are SandboxErrors whose messages a model can read: `code_error` (the snippet threw), a limit
 * (`cpu_time_exceeded`, `memory_limit_exceeded`, `wall_time_exceeded`, `response_too_large`), `sandbox_unavailable`
 * (the snippet crashed its process, or the interpreter cannot start), `concurrency_limit_exceeded` (busy), `cancelled`.
 *
 * @example
 * const code = new CodeSandbox({ logger })
 * const { value } = await code.run('[1, 2, 3].map((x) => x * 2)', { caller: userId })  // value: '[2,4,6]'
 * await code.stop()
 */
export class CodeSandbox {
  readonly limits: CodeLimits
  readonly #options: CodeSandboxOptions
  readonly #slots: Slot[]
  readonly #waiting: Waiter[] = []
  readonly #perCaller = new Map<string, number>()
  #stopped = false

  constructor(options: CodeSandboxOptions) {
    this.#options = options
    this.limits = options.limits ?? CODE_LIMITS
    this.#slots = Array.from({ length: options.processes ?? CODE_PROCESSES }, () => ({ client: null, starting: null, busy: false, suspect: false }))
  }

  /** Runs one snippet in a fresh isolate; `caller` (a user id) is what the per-caller limit counts. */
  async run(code: string, options: { caller: string; signal?: AbortSignal }): Promise<CodeResult> {
    if (this.#stopped) throw new SandboxError('sandbox_unavailable', 'the code interpreter is stopped: the platform is shutting down')
    const max = this.#options.maxPerCaller ?? CODE_MAX_PER_CALLER
    const mine = this.#perCaller.get(options.caller) ?? 0
    if (mine >= max)
      throw new SandboxError('concurrency_limit_exceeded', `you already run ${mine} snippets at once, the code interpreter's limit per user of ${max}; wait for them to finish`)
    this.#perCaller.set(options.caller, mine + 1)
    try {
      const slot = await this.#acquire(options.signal)
      try {
        return await this.#runIn(slot, code, options.signal)
      } finally {
        // The answer goes out at once; the process serves the next snippet only once it is known to be clean.
        if (slot.suspect) void this.#replace(slot).finally(() => this.#release(slot))
        else this.#release(slot)
      }
    } finally {
      const left = (this.#perCaller.get(options.caller) ?? 1) - 1
      if (left > 0) this.#perCaller.set(options.caller, left)
      else this.#perCaller.delete(options.caller)
    }
  }

  /** Stops every process; snippets in flight or waiting fail. */
  async stop(): Promise<void> {
    this.#stopped = true
    for (const waiter of this.#waiting.splice(0)) waiter(null)
    const clients = await Promise.all(this.#slots.map((s) => s.client ?? s.starting?.catch(() => null) ?? null))
    await Promise.all(clients.map((c) => c?.stop()))
  }

  /** Processes started (for stats and tests). */
  get pids(): (number | null)[] {
    return this.#slots.map((s) => s.client?.pid ?? null)
  }

  async #runIn(slot: Slot, code: string, signal: AbortSignal | undefined): Promise<CodeResult> {
    const client = await this.#client(slot)
    if (!(await client.ready(READY_WAIT_MS)))
      throw new SandboxError(
        'sandbox_unavailable',
        this.#stopped ? 'the code interpreter is stopped: the platform is shutting down' : `the code interpreter did not come back within ${READY_WAIT_MS / 1000} s; try again later`,
      )
    try {
      return await client.evalCode(code, this.limits, signal ? { signal } : {})
    } catch (err) {
      if (err instanceof SandboxError && SUSPECT.has(err.code)) slot.suspect = true
      // One snippet per process: a process that went down under this snippet went down because of it.
      if (err instanceof SandboxError && err.code === 'sandbox_unavailable' && !this.#stopped) {
        const ceiling = this.#ceilingMb()
        throw new SandboxError(
          'sandbox_unavailable',
          `the code crashed the interpreter's process (V8 gives up on some things no limit can stop in time, such as a string or array too large for it, or memory past the process's ceiling of ${ceiling} MB); nothing of it was kept, and the interpreter restarted`,
        )
      }
      throw err
    }
  }

  /** Ends the slot's process; the next snippet there starts a fresh one. */
  async #replace(slot: Slot): Promise<void> {
    const client = slot.client
    slot.client = null
    slot.suspect = false
    await client?.stop().catch((err: unknown) => this.#options.logger.warn({ err: (err as Error).message }, 'the code interpreter process did not stop cleanly'))
  }

  #ceilingMb(): number {
    return processCeilingMb({ ...DEFAULT_LIMITS, memoryMb: this.limits.memoryMb })
  }

  /** A free process (marked busy), waiting in the queue if every one is busy. */
  #acquire(signal: AbortSignal | undefined): Promise<Slot> {
    const free = this.#slots.find((s) => !s.busy)
    if (free !== undefined) {
      free.busy = true
      return Promise.resolve(free)
    }
    const maxWaiting = this.#options.maxWaiting ?? CODE_MAX_WAITING
    if (this.#waiting.length >= maxWaiting)
      return Promise.reject(
        new SandboxError('concurrency_limit_exceeded', `the code interpreter is busy: ${this.#slots.length} snippets are running and ${maxWaiting} waiting, its limit; try again shortly`),
      )
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiting.indexOf(waiter)
        if (i !== -1) this.#waiting.splice(i, 1)
        reject(new SandboxError('cancelled', 'the evaluation was cancelled while it waited for the interpreter'))
      }
      const waiter: Waiter = (slot) => {
        signal?.removeEventListener('abort', onAbort)
        if (slot === null) reject(new SandboxError('sandbox_unavailable', 'the code interpreter is stopped: the platform is shutting down'))
        else resolve(slot)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(waiter)
    })
  }

  /** Hands the process to the next waiter, or frees it. */
  #release(slot: Slot): void {
    const next = this.#waiting.shift()
    if (next !== undefined) next(slot)
    else slot.busy = false
  }

  #client(slot: Slot): Promise<SandboxClient> {
    if (slot.client !== null) return Promise.resolve(slot.client)
    if (slot.starting === null) {
      const o = this.#options
      const client = new SandboxClient({
        ...(o.nodePath ? { nodePath: o.nodePath } : {}),
        ...(o.sandboxDir ? { sandboxDir: o.sandboxDir } : {}),
        // Every crash of this process is the snippet's doing, never a plugin's; and no snippet is quarantined, since
        // the next call is another snippet.
        owner: 'code-interpreter',
        quarantineAfter: 0,
        maxRssMb: this.#ceilingMb(),
        // A crash costs only the snippet that caused it; the snippets waiting need the process back soon.
        backoff: { initialMs: 50, maxMs: 1_000 },
        onHostCall: async () => {
          throw Object.assign(new Error('the code interpreter makes no host calls'), { code: 'permission_denied' })
        },
        onLog: () => {},
        logger: o.logger.child({ component: 'code-interpreter' }),
      })
      slot.starting = client.start().then(
        () => {
          slot.starting = null
          if (this.#stopped) {
            void client.stop()
            throw new SandboxError('sandbox_unavailable', 'the code interpreter is stopped: the platform is shutting down')
          }
          slot.client = client
          return client
        },
        (err: unknown) => {
          slot.starting = null
          const message = err instanceof Error ? err.message : String(err)
          o.logger.error({ err: message }, 'the code interpreter could not start')
          throw new SandboxError('sandbox_unavailable', `the code interpreter is not available on this platform now (${message})`)
        },
      )
    }
    return slot.starting
  }
}
