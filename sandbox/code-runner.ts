import ivm from 'isolated-vm'
import type { CodeLimits, CodeResult, ErrorCode, SandboxMessage, WireError } from './protocol.ts'
import { CODE_RUNTIME_SOURCE } from './runtime.ts'

/**
 * One evaluation of the code interpreter: a snippet run in a fresh isolate of its own, disposed when it is answered,
 * so nothing of one call (globals, prototypes it changed, memory it kept) reaches the next. The context gets only
 * the JavaScript builtins, hardened like a plugin's (runtime/harden.js), and a console that keeps lines in the
 * result: no host callbacks at all, so input and output are data.
 */

/** The runtime's own code is small and trusted; this only guards against a runtime bug hanging an evaluation. */
const BOOTSTRAP_TIMEOUT_MS = 2_000
/** console lines kept per evaluation (their bytes count against maxOutputBytes too). */
const MAX_LOG_LINES = 1_000
/** The runtime's answer holds the result and the lines, each within maxOutputBytes; JSON escaping can grow them. */
const answerCap = (limits: CodeLimits) => 16 * limits.maxOutputBytes + 64 * 1024

function limitError(code: ErrorCode, name: keyof CodeLimits, value: number, message: string): WireError {
  return { code, message, limit: { name, value } }
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err))
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string')

/** Carries a wire error from where it is found to the answer. */
class Stop extends Error {
  readonly wire: WireError
  constructor(wire: WireError) {
    super(wire.message)
    this.wire = wire
  }
}

export class CodeRun {
  readonly id: string
  readonly #code: string
  readonly #limits: CodeLimits
  readonly #send: (message: SandboxMessage) => void
  readonly #onSettled: () => void
  #isolate: ivm.Isolate | null = null
  #cpuNs = 0
  #answered = false
  #wallExpired = false
  #wallTimer: NodeJS.Timeout | null = null

  constructor(id: string, code: string, limits: CodeLimits, send: (message: SandboxMessage) => void, onSettled: () => void) {
    this.id = id
    this.#code = code
    this.#limits = limits
    this.#send = send
    this.#onSettled = onSettled
  }

  start(): void {
    this.#wallTimer = setTimeout(() => {
      this.#wallExpired = true
      const max = this.#limits.wallMs
      this.#answer({ error: limitError('wall_time_exceeded', 'wallMs', max, `the code did not finish within its wallMs limit of ${max} ms`) })
    }, this.#limits.wallMs)
    void this.#run().then(
      (value) => this.#answer({ value }),
      (err: unknown) => this.#answer({ error: this.#failure(err) }),
    )
  }

  cancel(): void {
    this.#answer({ error: { code: 'cancelled', message: 'the evaluation was cancelled by the host' } })
  }

  /** Answers once, and disposes the isolate: whatever the snippet left running dies with it. */
  #answer(outcome: { value: CodeResult } | { error: WireError }): void {
    if (this.#answered) return
    this.#answered = true
    if (this.#wallTimer !== null) clearTimeout(this.#wallTimer)
    this.#dispose()
    this.#send('value' in outcome ? { type: 'result', id: this.id, ok: true, value: outcome.value } : { type: 'result', id: this.id, ok: false, error: outcome.error })
    this.#onSettled()
  }

  #dispose(): void {
    const isolate = this.#isolate
    this.#isolate = null
    try {
      if (isolate !== null && !isolate.isDisposed) isolate.dispose()
    } catch {
      // Disposing races with isolated-vm's own disposal on OOM; either way it is gone.
    }
  }

  async #run(): Promise<CodeResult> {
    const limits = this.#limits
    const isolate = new ivm.Isolate({
      memoryLimit: limits.memoryMb,
      onCatastrophicError: (message) => {
        // As for a plugin (plugin-slot.ts): V8 lost control of the isolate, so the process ends at once; the server
        // charges the crash to the evaluation it was running.
        this.#send({ type: 'crash', plugins: [], message: `code interpreter: ${String(message).slice(0, 1000)}` })
        process.stderr.write(`sandbox: catastrophic isolate error in the code interpreter: ${message}\n`)
        process.kill(process.pid, 'SIGKILL')
      },
    })
    this.#isolate = isolate
    const context = await isolate.createContext()
    const options = new ivm.ExternalCopy({ maxOutputBytes: limits.maxOutputBytes, maxLogLines: MAX_LOG_LINES }).copyInto({ release: true })
    const runtime = (await context.evalClosure(CODE_RUNTIME_SOURCE, [options], {
      result: { reference: true },
      timeout: BOOTSTRAP_TIMEOUT_MS,
      filename: 'enclava:code',
    })) as ivm.Reference
    const [run, collect] = (await Promise.all(['run', 'collect'].map((name) => runtime.get(name, { reference: true })))) as [ivm.Reference, ivm.Reference]
    runtime.release()
    // The sourceURL names the snippet's frames in stacks ("snippet.js:3:7"), which is how errors say where.
    await this.#enter(isolate, run, [`${this.#code}\n//# sourceURL=snippet.js`])
    const answer = await this.#enter(isolate, collect, [])
    return this.#result(answer)
  }

  /**
   * One entry into the isolate (its microtasks included), with a timeout of what is left of the CPU budget; the
   * isolate's cpuTime delta is charged to the evaluation.
   */
  async #enter(isolate: ivm.Isolate, fn: ivm.Reference, args: unknown[]): Promise<unknown> {
    const budgetMs = this.#limits.cpuMs - this.#cpuNs / 1e6
    if (budgetMs <= 0) throw this.#cpuExceeded()
    const before = isolate.cpuTime
    try {
      return await fn.apply(undefined, args, { timeout: Math.max(1, Math.ceil(budgetMs)), arguments: { copy: true }, result: { copy: true } })
    } finally {
      if (!isolate.isDisposed) this.#cpuNs += Number(isolate.cpuTime - before)
      if (this.#cpuNs > this.#limits.cpuMs * 1e6) throw this.#cpuExceeded()
    }
  }

  #cpuExceeded(): Stop {
    const max = this.#limits.cpuMs
    return new Stop(limitError('cpu_time_exceeded', 'cpuMs', max, `the code used more than its cpuMs limit of ${max} ms`))
  }

  #memoryExceeded(): WireError {
    const max = this.#limits.memoryMb
    return limitError('memory_limit_exceeded', 'memoryMb', max, `the code exceeded its memoryMb limit of ${max} MB`)
  }

  #failure(err: unknown): WireError {
    if (err instanceof Stop) return err.wire
    const message = messageOf(err)
    if (this.#wallExpired) {
      const max = this.#limits.wallMs
      return limitError('wall_time_exceeded', 'wallMs', max, `the code did not finish within its wallMs limit of ${max} ms`)
    }
    if (message.includes('memory limit') || message.startsWith('Isolate was disposed')) return this.#memoryExceeded()
    if (message === 'Script execution timed out.') return this.#cpuExceeded().wire
    return { code: 'internal_error', message: `the code interpreter failed: ${message}` }
  }

  /** Checks the runtime's answer again (the snippet could have tampered with its realm) and measures it in bytes. */
  #result(answer: unknown): CodeResult {
    const max = this.#limits.maxOutputBytes
    const tooLarge = (size: string) =>
      new Stop(limitError('response_too_large', 'maxOutputBytes', max, `the result is ${size}, over the maxOutputBytes limit of ${max} bytes`))
    if (typeof answer !== 'string') throw new Stop({ code: 'internal_error', message: 'the code interpreter returned no answer' })
    if (answer.length > answerCap(this.#limits)) throw tooLarge(`${answer.length} characters`)
    let parsed: Record<string, unknown>
    try {
      parsed = JSON.parse(answer) as Record<string, unknown>
    } catch {
      throw new Stop({ code: 'internal_error', message: 'the code interpreter returned a malformed answer' })
    }
    const failed = keptLogs(parsed.logs, parsed.droppedLogs, max).logs
    if (parsed.pending === true)
      throw new Stop({
        code: 'code_error',
        message: 'the code ended with a promise that never settled: there are no timers, network or I/O here, so nothing can resolve it later',
        logs: failed,
      })
    if (typeof parsed.tooLarge === 'number') throw tooLarge(`at least ${parsed.tooLarge} characters`)
    if (typeof parsed.error === 'object' && parsed.error !== null) {
      const e = parsed.error as Record<string, unknown>
      const name = typeof e.name === 'string' ? e.name : 'Error'
      const text = typeof e.message === 'string' ? e.message : ''
      // isolated-vm refuses an ArrayBuffer past the limit instead of killing the isolate: still the memory limit.
      if (name === 'RangeError' && text === 'Array buffer allocation failed') throw new Stop(this.#memoryExceeded())
      const where = typeof e.stack === 'string' ? /snippet\.js:(\d+):(\d+)/.exec(e.stack) : null
      throw new Stop({ code: 'code_error', message: `${name}: ${text}${where ? ` (line ${where[1]}, column ${where[2]})` : ''}`, logs: failed })
    }
    const type = parsed.type
    if (type !== 'json' && type !== 'text' && type !== 'undefined') throw new Stop({ code: 'internal_error', message: 'the code interpreter returned a malformed answer' })
    const value = type === 'undefined' || typeof parsed.value !== 'string' ? null : parsed.value
    const valueBytes = value === null ? 0 : Buffer.byteLength(value)
    if (valueBytes > max) throw tooLarge(`${valueBytes} bytes`)
    // One budget for the whole output: the result (the answer) first, the console lines in what it leaves.
    const { logs, droppedLogs } = keptLogs(parsed.logs, parsed.droppedLogs, max - valueBytes)
    return { type, value, logs, droppedLogs }
  }
}

/** The console lines within maxOutputBytes (in bytes, which the isolate could only estimate), and how many were not. */
function keptLogs(raw: unknown, rawDropped: unknown, maxBytes: number): { logs: string[]; droppedLogs: number } {
  const lines = isStrings(raw) ? raw : []
  let droppedLogs = typeof rawDropped === 'number' && Number.isInteger(rawDropped) && rawDropped >= 0 ? rawDropped : 0
  const logs: string[] = []
  let bytes = 0
  for (const line of lines.slice(0, MAX_LOG_LINES)) {
    const size = Buffer.byteLength(line) + 1
    if (bytes + size > maxBytes) droppedLogs++
    else {
      logs.push(line)
      bytes += size
    }
  }
  return { logs, droppedLogs: droppedLogs + Math.max(0, lines.length - MAX_LOG_LINES) }
}
