import ivm from 'isolated-vm'
import { randomBytes, urlOp } from './native.ts'
import {
  HOST_CALL_NAMES,
  jsonDepth,
  LOG_LEVELS,
  type ErrorCode,
  type HostCallName,
  type InvokeArgs,
  type InvokeMethod,
  type Limits,
  type LogLevel,
  type PluginMeta,
  type PluginStats,
  type SandboxMessage,
  type WireError,
} from './protocol.ts'
import { PLUGIN_MODULE_SOURCE, RUNTIME_SOURCE } from './runtime.ts'

/** What a slot needs from the process around it. */
export interface SlotHost {
  send(message: SandboxMessage): void
  /** A process-wide id for a host call, routed back to `slot` when its result arrives. */
  openCall(slot: PluginSlot): string
  closeCall(callId: string): void
  /** True while this process serves this one plugin and nothing else (see #enter). */
  alone(slot: PluginSlot): boolean
}

/** The runtime's own code is small and trusted; this only guards against a runtime bug hanging a load. */
const BOOTSTRAP_TIMEOUT_MS = 2_000
/**
 * Run in a prepared isolate before any plugin code: the runtime's request, response, header and URL paths every
 * route takes, so V8 has compiled them before the first request (its first invocation took 3.5 -> 2.5 ms). Only the
 * runtime's own classes run; what it leaves is a URL in the runtime's parse cache.
 */
const WARM_UP = `for (let i = 0; i < 3; i++) {
  const req = new Request('http://plugin/warm?x=1', { method: 'GET', headers: [['accept', '*/*'], ['host', 'plugin']] })
  new URL(req.url).searchParams.get('x')
  req.headers.get('accept')
  const res = Response.json({ a: 1 })
  void [...res.headers]
  void new Response('x', { status: 201, headers: { 'x-a': 'b' } }).status
}`
/** console lines per invocation, and per minute outside invocations (module top level, leftover callbacks). */
const MAX_LOG_LINES = 1_000
const MAX_LOG_CHARS = 8_192 + 32
/** Codes the in-isolate runtime may report; anything else a plugin's error carries becomes plugin_error. */
/** Nesting of a host call's arguments (arrays and objects); a kv value or an LLM request needs far less. */
const MAX_HOST_CALL_DEPTH = 64
const RUNTIME_CODES = new Set<ErrorCode>(['route_not_found', 'method_not_found', 'invalid_result', 'response_too_large', 'bad_request', 'plugin_not_loaded'])

interface IsolateApi {
  isolate: ivm.Isolate
  context: ivm.Context
  generation: number
  invoke: ivm.Reference
  hostResult: ivm.Reference
  fireTimer: ivm.Reference
  forget: ivm.Reference
}

/**
 * An isolate with its context and the runtime evaluated in it, and nothing of any plugin. Its callbacks reach
 * whichever slot `target` names (none until one takes it), for the generation `target` names.
 */
interface Bootstrap {
  isolate: ivm.Isolate
  context: ivm.Context
  register: ivm.Reference
  invoke: ivm.Reference
  hostResult: ivm.Reference
  fireTimer: ivm.Reference
  forget: ivm.Reference
  /** The limits the isolate and the runtime were built with. */
  memoryMb: number
  maxResponseBytes: number
  target: { slot: PluginSlot | null; generation: number }
}

interface Invocation {
  id: string
  method: InvokeMethod
  wallMs: number
  cpuNs: number
  hostCalls: number
  timersCreated: number
  logLines: number
  timers: Map<number, NodeJS.Timeout>
  calls: Set<string>
  wallTimer: NodeJS.Timeout | null
  /** Date.now() at which wallMs runs out (not performance.now(): its first use loads a module of Node, ~1 ms of a cold start). */
  deadline: number
  settled: boolean
}

/** Thrown inside the slot to carry a wire error to the place that answers. */
export class SlotError extends Error {
  readonly wire: WireError
  constructor(wire: WireError) {
    super(wire.message)
    this.wire = wire
  }
}

function limitError(code: ErrorCode, name: keyof Limits, value: number, message: string): WireError {
  return { code, message, limit: { name, value } }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * One loaded plugin: its code, limits, the isolate running it (one context, reused across invocations) and the
 * invocations in flight. Any forced stop of plugin code (CPU timeout, memory limit, wall-clock expiry) discards the
 * isolate, because its state is then suspect (a runaway promise chain may still be queued, a half-done update
 * may be visible); the next invocation builds a fresh one from the same code.
 */
export class PluginSlot {
  readonly name: string
  readonly #code: string
  readonly #limits: Limits
  readonly #host: SlotHost
  #api: IsolateApi | null = null
  #creating: Promise<IsolateApi> | null = null
  #generation = 0
  #closed = false
  readonly #invocations = new Map<string, Invocation>()
  readonly #calls = new Map<string, { invocation: string; isolateCallId: number }>()
  #looseLogLines = 0
  #looseLogWindow = 0
  #meta: PluginMeta | null = null
  #stats = { invocations: 0, recycles: 0, cpuNs: 0 }
  /** Built before the load (PluginSlot.prepare), used by the first isolate if its limits match. */
  #prepared: Promise<Bootstrap | null> | null
  // Slices (and loads) started and not yet returned. One that outlives its isolate's disposal is plugin code
  // stuck in a builtin V8 cannot interrupt (e.g. filling a huge array), still allocating.
  #running = 0
  #disposedWhileRunning = false

  constructor(name: string, code: string, limits: Limits, host: SlotHost, prepared: Promise<Bootstrap | null> | null = null) {
    this.name = name
    this.#code = code
    this.#limits = limits
    this.#host = host
    this.#prepared = prepared
  }

  /**
   * Builds an isolate, its context and the runtime ahead of any load, while the process waits for its plugin: a
   * load that comes with the same memoryMb and maxResponseBytes then only compiles and runs the plugin's module
   * (the isolate and the runtime took 8-20 ms of a cold start's ~40 ms, measured on two busy cores). No plugin
   * code runs in it before its slot takes it, so the isolate a plugin gets is as fresh as one built at load.
   * Resolves to null when it could not be built (the load then builds its own).
   *
   * @example
   * const prepared = PluginSlot.prepare(DEFAULT_LIMITS)
   * const slot = new PluginSlot('hello', code, limits, host, prepared)
   */
  static prepare(limits: Pick<Limits, 'memoryMb' | 'maxResponseBytes'>): Promise<Bootstrap | null> {
    return PluginSlot.#bootstrap(limits, { slot: null, generation: 0 })
      .then(async (boot) => {
        await boot.context.eval(WARM_UP, { timeout: BOOTSTRAP_TIMEOUT_MS })
        return boot
      })
      .catch(() => null)
  }

  /** Discards a prepared isolate nobody took. */
  static discard(prepared: Promise<Bootstrap | null>): void {
    void prepared.then((b) => {
      if (b !== null && !b.isolate.isDisposed) b.isolate.dispose()
    })
  }

  static async #bootstrap(limits: Pick<Limits, 'memoryMb' | 'maxResponseBytes'>, target: Bootstrap['target']): Promise<Bootstrap> {
    const isolate = new ivm.Isolate({
      memoryLimit: limits.memoryMb,
      onCatastrophicError: (message) => {
        // isolated-vm: V8 has lost control of the isolate; the only safe move is to end the process. Name the
        // plugin first (a small IPC write goes out at once), so the server can tell the culprit from bystanders.
        const slot = target.slot
        if (slot !== null) slot.#host.send({ type: 'crash', plugins: [slot.name], message: String(message).slice(0, 1000) })
        process.stderr.write(`sandbox: catastrophic isolate error in plugin ${slot?.name ?? '(none yet)'}: ${message}\n`)
        // Not process.exit: its cleanup waits for the lost isolate and hangs (measured). Not abort either, which
        // isolated-vm suggests: it may leave a core file in sandbox/. SIGKILL ends the process at once.
        process.kill(process.pid, 'SIGKILL')
      },
    })
    try {
      const context = await isolate.createContext()
      // Before a slot takes the isolate nothing runs in it that could call these; after, they reach that slot.
      const callbacks = [
        new ivm.Callback((inv: unknown, level: unknown, message: unknown) => target.slot && target.slot.#onLog(target.generation, inv, level, message), { ignored: true }),
        new ivm.Callback(
          (inv: unknown, callId: unknown, name: unknown, json: unknown) => target.slot && target.slot.#onHostCall(target.generation, inv, callId, name, json),
          { ignored: true },
        ),
        new ivm.Callback((inv: unknown, ok: unknown, payload: unknown) => target.slot && target.slot.#onDone(target.generation, inv, ok, payload), { ignored: true }),
        new ivm.Callback((inv: unknown, timerId: unknown, delay: unknown) => target.slot && target.slot.#onTimer(target.generation, inv, timerId, delay), {
          ignored: true,
        }),
        new ivm.Callback(randomBytes, { sync: true }),
        new ivm.Callback(urlOp, { sync: true }),
        new ivm.ExternalCopy({ maxResponseBytes: limits.maxResponseBytes }).copyInto({ release: true }),
      ]
      const runtime = (await context.evalClosure(RUNTIME_SOURCE, callbacks, {
        result: { reference: true },
        timeout: BOOTSTRAP_TIMEOUT_MS,
        filename: 'enclava:runtime',
      })) as ivm.Reference
      const [register, invoke, hostResult, fireTimer, forget] = (await Promise.all(
        ['register', 'invoke', 'hostResult', 'fireTimer', 'forget'].map((name) => runtime.get(name, { reference: true })),
      )) as ivm.Reference[] as [ivm.Reference, ivm.Reference, ivm.Reference, ivm.Reference, ivm.Reference]
      runtime.release()
      return { isolate, context, register, invoke, hostResult, fireTimer, forget, memoryMb: limits.memoryMb, maxResponseBytes: limits.maxResponseBytes, target }
    } catch (err) {
      if (!isolate.isDisposed) isolate.dispose()
      throw err
    }
  }

  /** The prepared bootstrap, once and only if its limits are this slot's; otherwise one built now. */
  async #takeBootstrap(generation: number): Promise<Bootstrap> {
    const prepared = this.#prepared
    this.#prepared = null
    const limits = this.#limits
    const ready = prepared === null ? null : await prepared
    if (ready !== null && !ready.isolate.isDisposed && ready.memoryMb === limits.memoryMb && ready.maxResponseBytes === limits.maxResponseBytes) {
      ready.target.slot = this
      ready.target.generation = generation
      return ready
    }
    if (ready !== null && !ready.isolate.isDisposed) ready.isolate.dispose()
    return PluginSlot.#bootstrap(limits, { slot: this, generation })
  }

  /** 2: code still running in a disposed isolate; 1: code running; 0: idle. For the memory watchdog's blame. */
  get suspicion(): 0 | 1 | 2 {
    if (this.#running === 0) return 0
    return this.#disposedWhileRunning ? 2 : 1
  }

  /** Builds the isolate now, so a broken plugin fails its load rather than its first request. */
  async load(): Promise<PluginMeta> {
    await this.#ensureIsolate()
    if (this.#meta === null) throw new SlotError({ code: 'internal_error', message: 'the plugin loaded without metadata' })
    return this.#meta
  }

  /** Disposes the isolate; invocations still in flight fail with plugin_not_loaded. */
  unload(): void {
    this.#closed = true
    const api = this.#api
    this.#api = null
    for (const inv of [...this.#invocations.values()])
      this.#fail(inv, { code: 'plugin_not_loaded', message: `plugin ${this.name} was unloaded while the invocation ran` })
    if (api !== null) this.#dispose(api)
  }

  invoke(id: string, method: InvokeMethod, args: InvokeArgs, wallMs: number | undefined): void {
    this.#stats.invocations++
    if (this.#invocations.size >= this.#limits.maxConcurrent) {
      const max = this.#limits.maxConcurrent
      this.#host.send({
        type: 'result',
        id,
        ok: false,
        error: limitError('concurrency_limit_exceeded', 'maxConcurrent', max, `plugin ${this.name} already runs its maxConcurrent limit of ${max} invocations`),
      })
      return
    }
    const limitMs = wallMs ?? this.#limits.wallMs
    const inv: Invocation = {
      id,
      method,
      wallMs: limitMs,
      cpuNs: 0,
      hostCalls: 0,
      timersCreated: 0,
      logLines: 0,
      timers: new Map(),
      calls: new Set(),
      wallTimer: null,
      deadline: Date.now() + limitMs,
      settled: false,
    }
    this.#invocations.set(id, inv)
    inv.wallTimer = setTimeout(() => this.#wallTimeout(inv), inv.wallMs)
    let isolateArgs: InvokeArgs | IsolateRouteArgs
    try {
      isolateArgs = method === 'route' ? routeArgs(args) : args
    } catch (err) {
      this.#fail(inv, { code: 'bad_request', message: messageOf(err) })
      return
    }
    this.#ensureIsolate().then(
      (api) => {
        if (!inv.settled) void this.#enter(inv, api, api.invoke, [id, method, isolateArgs])
      },
      (err: unknown) => this.#fail(inv, err instanceof SlotError ? err.wire : { code: 'internal_error', message: messageOf(err) }),
    )
  }

  /** True when the invocation was this slot's. */
  cancel(id: string): boolean {
    const inv = this.#invocations.get(id)
    if (inv === undefined) return false
    this.#fail(inv, { code: 'cancelled', message: 'the invocation was cancelled by the host' })
    return true
  }

  hostResult(callId: string, ok: boolean, value: unknown): void {
    const call = this.#calls.get(callId)
    if (call === undefined) return
    this.#calls.delete(callId)
    const inv = this.#invocations.get(call.invocation)
    const api = this.#api
    if (inv === undefined || inv.settled || api === null) return
    inv.calls.delete(callId)
    void this.#enter(inv, api, api.hostResult, [call.isolateCallId, ok, value])
  }

  async stats(): Promise<PluginStats> {
    const api = this.#api
    let heapUsed: number | null = null
    if (api !== null && !api.isolate.isDisposed) {
      // A busy isolate answers only when its current slice ends; stats must not wait for a plugin.
      const heap = await Promise.race([api.isolate.getHeapStatistics().catch(() => null), new Promise<null>((r) => setTimeout(r, 100, null))])
      heapUsed = heap === null ? null : heap.used_heap_size + heap.externally_allocated_size
    }
    return {
      plugin: this.name,
      live: api !== null,
      inFlight: this.#invocations.size,
      invocations: this.#stats.invocations,
      recycles: this.#stats.recycles,
      cpuMs: Math.round(this.#stats.cpuNs / 1e6),
      heapUsed,
    }
  }

  // ---- isolate lifecycle

  #ensureIsolate(): Promise<IsolateApi> {
    if (this.#closed) return Promise.reject(new SlotError({ code: 'plugin_not_loaded', message: `plugin ${this.name} is not loaded` }))
    if (this.#api !== null) return Promise.resolve(this.#api)
    if (this.#creating === null) {
      this.#creating = this.#create().finally(() => {
        this.#creating = null
      })
    }
    return this.#creating
  }

  async #create(): Promise<IsolateApi> {
    const generation = ++this.#generation
    const limits = this.#limits
    this.#running++
    let isolate: ivm.Isolate | null = null
    let wallExpired = false
    const wallTimer = setTimeout(() => {
      wallExpired = true
      if (isolate !== null) this.#disposeIsolate(isolate)
    }, limits.wallMs)
    try {
      const boot = await this.#takeBootstrap(generation)
      isolate = boot.isolate
      // The wall clock ran out while the isolate was being built: it was not there to be disposed then.
      if (wallExpired) throw new Error('wall time')
      const { context, register, invoke, hostResult, fireTimer, forget } = boot

      const base = await isolate.compileModule(PLUGIN_MODULE_SOURCE, { filename: 'enclava:plugin' })
      const module = await this.#compile(isolate)
      await module.instantiate(context, (specifier) => {
        if (specifier === 'enclava:plugin') return base
        throw new Error(`import of ${JSON.stringify(specifier)} is not allowed: a plugin is one bundled module whose only import is "enclava:plugin"`)
      })
      const start = isolate.cpuTime
      await module.evaluate({ timeout: limits.cpuMs })
      let exported: ivm.Reference
      try {
        exported = (await module.namespace.get('default', { reference: true })) as ivm.Reference
      } catch {
        throw new SlotError({
          code: 'invalid_plugin',
          message: 'the plugin module has no initialized default export (export default a class; top-level await that does not settle at once is not supported)',
        })
      }
      const remaining = Math.max(1, limits.cpuMs - Number(isolate.cpuTime - start) / 1e6)
      const meta = pluginMeta(await register.apply(undefined, [exported.derefInto()], { timeout: Math.ceil(remaining), result: { copy: true } }))
      if (this.#closed) throw new SlotError({ code: 'plugin_not_loaded', message: `plugin ${this.name} was unloaded while loading` })
      this.#meta = meta
      const api: IsolateApi = { isolate, context, generation, invoke, hostResult, fireTimer, forget }
      this.#api = api
      return api
    } catch (err) {
      if (isolate !== null) this.#disposeIsolate(isolate)
      if (err instanceof SlotError) throw err
      const message = messageOf(err)
      if (wallExpired)
        throw new SlotError(limitError('wall_time_exceeded', 'wallMs', limits.wallMs, `loading plugin ${this.name} took longer than its wallMs limit of ${limits.wallMs} ms`))
      if (message.includes('memory limit'))
        throw new SlotError(limitError('memory_limit_exceeded', 'memoryMb', limits.memoryMb, `loading plugin ${this.name} exceeded its memoryMb limit of ${limits.memoryMb} MB`))
      if (message === 'Script execution timed out.')
        throw new SlotError(limitError('cpu_time_exceeded', 'cpuMs', limits.cpuMs, `loading plugin ${this.name} used more than its cpuMs limit of ${limits.cpuMs} ms`))
      throw new SlotError({ code: 'invalid_plugin', message: `plugin ${this.name} failed to load: ${message}` })
    } finally {
      clearTimeout(wallTimer)
      if (--this.#running === 0) this.#disposedWhileRunning = false
    }
  }

  async #compile(isolate: ivm.Isolate): Promise<ivm.Module> {
    try {
      return await isolate.compileModule(this.#code, { filename: `plugin:${this.name}` })
    } catch (err) {
      throw new SlotError({ code: 'invalid_plugin', message: `plugin ${this.name} does not compile: ${messageOf(err)}` })
    }
  }

  #disposeIsolate(isolate: ivm.Isolate): void {
    if (this.#running > 0) this.#disposedWhileRunning = true
    try {
      if (!isolate.isDisposed) isolate.dispose()
    } catch {
      // Disposing twice races with isolated-vm's own disposal on OOM; either way it is gone.
    }
  }

  #dispose(api: IsolateApi): void {
    for (const ref of [api.invoke, api.hostResult, api.fireTimer, api.forget]) {
      try {
        ref.release()
      } catch {
        // Released already by the isolate's disposal.
      }
    }
    this.#disposeIsolate(api.isolate)
  }

  /**
   * Discards the isolate after a forced stop. The culprit invocation fails with `reason`; the others of this
   * plugin in flight fail with isolate_recycled, since their continuations died with the isolate.
   */
  #recycle(api: IsolateApi, reason: WireError, culprit: string | null): void {
    if (this.#api !== api) return
    this.#api = null
    this.#stats.recycles++
    this.#dispose(api)
    for (const inv of [...this.#invocations.values()]) {
      if (inv.id === culprit) this.#fail(inv, reason)
      else
        this.#fail(inv, {
          code: 'isolate_recycled',
          message: `plugin ${this.name} was restarted because another of its invocations failed (${reason.code}); retry`,
        })
    }
  }

  // ---- running code in the isolate

  /**
   * One synchronous slice of plugin code (start, host result, timer), microtasks included. The slice's timeout is
   * what is left of the invocation's CPU budget, or less when an invocation of this isolate reaches its wall-clock
   * limit first; the isolate's cpuTime delta is charged to the invocation.
   *
   * A process that serves this plugin alone (as the server runs them, src/plugins/sandboxes.ts) runs the slice on
   * its main thread (applySync): the slices of one isolate ran one at a time anyway, and isolated-vm's thread pool
   * cost two thread hand-offs, 70-86 µs a slice against 7 µs here (Node 24 on the CI machine); a route is one slice,
   * `hello` four. What the main thread did meanwhile is done elsewhere: a wall-clock limit now bounds the slice
   * itself, and the server watches the process's memory ceiling and notices a process that no longer answers (a
   * catastrophic out-of-memory error deadlocks a synchronous slice; isolated-vm's handler never runs). With several
   * plugins in one process the slice runs on the pool as before, so the others go on and the catastrophic handler
   * can still name the culprit.
   */
  async #enter(inv: Invocation | null, api: IsolateApi, fn: ivm.Reference, args: unknown[]): Promise<void> {
    if (this.#api !== api) return
    const budgetMs = this.#limits.cpuMs - (inv === null ? 0 : inv.cpuNs / 1e6)
    if (inv !== null && budgetMs <= 0) return this.#cpuExceeded(api, inv)
    const before = api.isolate.cpuTime
    let failure: unknown = null
    this.#running++
    try {
      const options = { timeout: Math.max(1, Math.ceil(Math.min(budgetMs, this.#wallLeftMs()))), arguments: { copy: true as const } }
      if (this.#host.alone(this)) fn.applySync(undefined, args, options)
      else await fn.apply(undefined, args, options)
    } catch (err) {
      failure = err ?? new Error('unknown failure')
    } finally {
      if (--this.#running === 0) this.#disposedWhileRunning = false
    }
    if (!api.isolate.isDisposed) {
      const used = Number(api.isolate.cpuTime - before)
      this.#stats.cpuNs += used
      if (inv !== null) inv.cpuNs += used
    }
    if (failure !== null) return this.#sliceFailed(api, inv, failure)
    if (inv !== null && !inv.settled && inv.cpuNs > this.#limits.cpuMs * 1e6) this.#cpuExceeded(api, inv)
  }

  /** Until the first in-flight invocation of this isolate reaches its wall-clock limit (Infinity when none). */
  #wallLeftMs(): number {
    let first = Infinity
    for (const inv of this.#invocations.values()) if (!inv.settled && inv.deadline < first) first = inv.deadline
    return first - Date.now()
  }

  /** The in-flight invocation whose wall-clock limit has passed, if any. */
  #pastDeadline(): Invocation | undefined {
    const now = Date.now()
    for (const inv of this.#invocations.values()) if (!inv.settled && inv.deadline <= now) return inv
    return undefined
  }

  #sliceFailed(api: IsolateApi, inv: Invocation | null, err: unknown): void {
    const message = messageOf(err)
    const limits = this.#limits
    if (api.isolate.isDisposed || message.startsWith('Isolate was disposed') || message.includes('memory limit')) {
      if (this.#api !== api) return // disposed on purpose: wall-clock expiry or unload already answered
      this.#recycle(
        api,
        limitError('memory_limit_exceeded', 'memoryMb', limits.memoryMb, `plugin ${this.name} exceeded its memoryMb limit of ${limits.memoryMb} MB`),
        inv?.id ?? null,
      )
      return
    }
    if (message === 'Script execution timed out.') {
      // Cut short by a wall-clock limit (this invocation's or another's on the same isolate), as its timer would
      // have done: that invocation is the culprit.
      const late = this.#pastDeadline()
      if (late !== undefined) return this.#wallTimeout(late)
      if (inv !== null) return this.#cpuExceeded(api, inv)
      this.#recycle(api, { code: 'isolate_recycled', message: `plugin ${this.name} ran past its CPU limit outside an invocation` }, null)
      return
    }
    // The runtime's entry points catch plugin errors themselves; a throw here means the plugin broke the runtime
    // in its own realm (replaced a builtin it relies on). Only that invocation can be blamed.
    if (inv !== null) this.#fail(inv, { code: 'plugin_error', message: `the plugin broke its runtime: ${message}` })
  }

  #cpuExceeded(api: IsolateApi, inv: Invocation): void {
    const max = this.#limits.cpuMs
    this.#recycle(api, limitError('cpu_time_exceeded', 'cpuMs', max, `plugin ${this.name} used more than its cpuMs limit of ${max} ms`), inv.id)
  }

  #wallTimeout(inv: Invocation): void {
    if (inv.settled) return
    const error = limitError('wall_time_exceeded', 'wallMs', inv.wallMs, `plugin ${this.name} did not answer within its wallMs limit of ${inv.wallMs} ms`)
    // Still waiting for the platform (a slow model, a slow store): not a fault of the plugin's own code.
    if (inv.calls.size > 0) error.waitingOnHost = true
    // A runaway async chain would go on after the answer; only a fresh isolate is sure to be free of it.
    if (this.#api !== null) this.#recycle(this.#api, error, inv.id)
    else this.#fail(inv, error)
  }

  // ---- settling invocations

  #finish(inv: Invocation): boolean {
    if (inv.settled) return false
    inv.settled = true
    if (inv.wallTimer !== null) clearTimeout(inv.wallTimer)
    for (const timer of inv.timers.values()) clearTimeout(timer)
    inv.timers.clear()
    for (const callId of inv.calls) {
      this.#calls.delete(callId)
      this.#host.closeCall(callId)
    }
    inv.calls.clear()
    this.#invocations.delete(inv.id)
    return true
  }

  #fail(inv: Invocation, error: WireError): void {
    if (!this.#finish(inv)) return
    this.#host.send({ type: 'result', id: inv.id, ok: false, error })
    // The isolate still holds the invocation's pending calls and timers; drop them so they can be collected.
    const api = this.#api
    if (api !== null) void this.#enter(null, api, api.forget, [inv.id])
  }

  #succeed(inv: Invocation, value: unknown): void {
    if (!this.#finish(inv)) return
    this.#host.send({ type: 'result', id: inv.id, ok: true, value })
  }

  // ---- callbacks from the isolate (all arguments are untrusted copies)

  #active(generation: number, id: unknown): Invocation | null {
    if (generation !== this.#generation || typeof id !== 'string') return null
    const inv = this.#invocations.get(id)
    return inv === undefined || inv.settled ? null : inv
  }

  #onDone(generation: number, id: unknown, ok: unknown, payload: unknown): void {
    const inv = this.#active(generation, id)
    if (inv === null) return
    const max = this.#limits.maxResponseBytes
    const tooLarge = (bytes: number) =>
      limitError('response_too_large', 'maxResponseBytes', max, `the result of plugin ${this.name} is ${bytes} bytes, over its maxResponseBytes limit of ${max}`)
    if (ok === true) {
      if (inv.method === 'route') {
        const result = routeResult(payload)
        if (typeof result === 'string') return this.#fail(inv, { code: 'invalid_result', message: result })
        if (result.bytes > max) return this.#fail(inv, tooLarge(result.bytes))
        return this.#succeed(inv, result.value)
      }
      if (typeof payload !== 'string') return this.#fail(inv, { code: 'invalid_result', message: 'the runtime returned a non-JSON result' })
      const bytes = Buffer.byteLength(payload)
      if (bytes > max) return this.#fail(inv, tooLarge(bytes))
      try {
        return this.#succeed(inv, JSON.parse(payload))
      } catch {
        return this.#fail(inv, { code: 'invalid_result', message: 'the plugin result is not valid JSON' })
      }
    }
    const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>
    const name = typeof p.name === 'string' ? p.name : 'Error'
    const message = typeof p.message === 'string' ? p.message : 'the plugin failed'
    const code = typeof p.code === 'string' && RUNTIME_CODES.has(p.code as ErrorCode) ? (p.code as ErrorCode) : null
    if (code === 'response_too_large') return this.#fail(inv, { ...tooLarge(NaN), message })
    if (code !== null) return this.#fail(inv, { code, message })
    if (name === 'RangeError' && message === 'Array buffer allocation failed') {
      // The isolate hit its memory limit with ArrayBuffers, which isolated-vm refuses instead of killing the
      // isolate; what the plugin kept may still fill it.
      const api = this.#api
      const error = limitError('memory_limit_exceeded', 'memoryMb', this.#limits.memoryMb, `plugin ${this.name} exceeded its memoryMb limit of ${this.#limits.memoryMb} MB`)
      if (api !== null) return this.#recycle(api, error, inv.id)
      return this.#fail(inv, error)
    }
    const error: WireError = { code: 'plugin_error', message: `${name}: ${message}` }
    if (typeof p.stack === 'string') error.stack = p.stack
    this.#fail(inv, error)
  }

  #onHostCall(generation: number, id: unknown, isolateCallId: unknown, name: unknown, json: unknown): void {
    const inv = this.#active(generation, id)
    if (inv === null) return
    const limits = this.#limits
    if (typeof name !== 'string' || !HOST_CALL_NAMES.includes(name as HostCallName) || typeof isolateCallId !== 'number' || typeof json !== 'string')
      return this.#fail(inv, { code: 'plugin_error', message: `the plugin made a malformed host call (${String(name)})` })
    if (++inv.hostCalls > limits.maxHostCalls)
      return this.#fail(
        inv,
        limitError('host_call_limit_exceeded', 'maxHostCalls', limits.maxHostCalls, `plugin ${this.name} made more than its maxHostCalls limit of ${limits.maxHostCalls} host calls`),
      )
    const bytes = Buffer.byteLength(json)
    if (bytes > limits.maxResponseBytes)
      return this.#fail(
        inv,
        limitError('host_call_too_large', 'maxResponseBytes', limits.maxResponseBytes, `${name} arguments of plugin ${this.name} are ${bytes} bytes, over its maxResponseBytes limit of ${limits.maxResponseBytes}`),
      )
    // Each side parses and walks the arguments again (here, the server, the store): absurd nesting is refused at
    // once, as a failed call the plugin can catch, instead of reaching code that recurses over it.
    if (jsonDepth(json) > MAX_HOST_CALL_DEPTH) {
      const api = this.#api
      if (api !== null)
        void this.#enter(inv, api, api.hostResult, [
          isolateCallId,
          false,
          { code: 'bad_request', message: `${name} arguments are nested more than ${MAX_HOST_CALL_DEPTH} levels deep` },
        ])
      return
    }
    let args: unknown
    try {
      args = JSON.parse(json)
    } catch {
      args = null
    }
    if (!Array.isArray(args)) return this.#fail(inv, { code: 'plugin_error', message: `the plugin made a malformed ${name} call` })
    const callId = this.#host.openCall(this)
    this.#calls.set(callId, { invocation: inv.id, isolateCallId })
    inv.calls.add(callId)
    this.#host.send({ type: 'hostCall', callId, id: inv.id, plugin: this.name, name: name as HostCallName, args })
  }

  #onTimer(generation: number, id: unknown, timerId: unknown, delay: unknown): void {
    const inv = this.#active(generation, id)
    const api = this.#api
    if (inv === null || api === null || typeof timerId !== 'number' || typeof delay !== 'number') return
    if (delay < 0) {
      const timer = inv.timers.get(timerId)
      if (timer !== undefined) clearTimeout(timer)
      inv.timers.delete(timerId)
      return
    }
    const max = this.#limits.maxTimers
    if (++inv.timersCreated > max)
      return this.#fail(inv, limitError('timer_limit_exceeded', 'maxTimers', max, `plugin ${this.name} set more than its maxTimers limit of ${max} timers`))
    // A delay past the wall-clock limit could never fire in time; the wall timer ends the invocation first.
    const timer = setTimeout(() => {
      inv.timers.delete(timerId)
      if (!inv.settled) void this.#enter(inv, api, api.fireTimer, [timerId])
    }, Math.min(delay, inv.wallMs + 1))
    inv.timers.set(timerId, timer)
  }

  #onLog(generation: number, id: unknown, level: unknown, message: unknown): void {
    if (generation !== this.#generation) return
    const inv = typeof id === 'string' && id !== '' ? (this.#invocations.get(id) ?? null) : null
    let count: number
    if (inv !== null) count = ++inv.logLines
    else {
      const window = Math.floor(Date.now() / 60_000)
      if (window !== this.#looseLogWindow) {
        this.#looseLogWindow = window
        this.#looseLogLines = 0
      }
      count = ++this.#looseLogLines
    }
    if (count > MAX_LOG_LINES + 1) return
    const line: SandboxMessage =
      count === MAX_LOG_LINES + 1
        ? { type: 'log', plugin: this.name, level: 'warn', message: `more than ${MAX_LOG_LINES} console lines; the rest are dropped` }
        : {
            type: 'log',
            plugin: this.name,
            level: LOG_LEVELS.includes(level as LogLevel) ? (level as LogLevel) : 'info',
            message: typeof message === 'string' ? message.slice(0, MAX_LOG_CHARS) : String(message),
          }
    if (inv !== null) line.id = inv.id
    this.#host.send(line)
  }
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string')

/** register() ran after the plugin's top level, which may have replaced builtins it uses: check what it returned. */
function pluginMeta(value: unknown): PluginMeta {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>
  const hooks = (typeof v.hooks === 'object' && v.hooks !== null ? v.hooks : {}) as Record<string, unknown>
  if (!isStrings(v.routes) || !isStrings(v.cron) || !isStrings(v.tools))
    throw new SlotError({ code: 'invalid_plugin', message: 'the plugin runtime returned malformed metadata' })
  return {
    name: typeof v.name === 'string' ? v.name : null,
    version: typeof v.version === 'string' ? v.version : null,
    routes: v.routes,
    cron: v.cron,
    tools: v.tools,
    hooks: { execute: hooks.execute === true, onEnable: hooks.onEnable === true, onDisable: hooks.onDisable === true },
  }
}

function isPairs(value: unknown): value is [string, string][] {
  return Array.isArray(value) && value.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string')
}

type IsolateRouteArgs = Omit<InvokeArgs, 'request'> & {
  request: { method: string; url: string; urlFields: string[] | null; headers: [string, string][]; body: Uint8Array | null }
}

/**
 * The route args as the isolate wants them: the request body as bytes (a copy of exactly its own length), and the
 * URL already parsed here, where parsing costs no round trip from the isolate's thread (see runtime/url.js).
 */
function routeArgs(args: InvokeArgs): IsolateRouteArgs {
  const req = args.request
  if (typeof req !== 'object' || req === null) throw new Error('route: args.request is required')
  if (typeof req.method !== 'string' || typeof req.url !== 'string' || !isPairs(req.headers))
    throw new Error('route: args.request needs method, url and headers as [name, value] pairs')
  const method = req.method.toUpperCase()
  let body: Uint8Array | null = null
  if (typeof req.body === 'string' && req.body !== '' && method !== 'GET' && method !== 'HEAD')
    body = new Uint8Array(Buffer.from(req.body, req.bodyEncoding === 'base64' ? 'base64' : 'utf8'))
  return { ...args, request: { method: req.method, url: req.url, urlFields: urlOp('parse', req.url, undefined, undefined), headers: req.headers, body } }
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** Validates a route result from the isolate; a string is the reason it is invalid. */
function routeResult(payload: unknown): { value: unknown; bytes: number } | string {
  if (typeof payload !== 'object' || payload === null) return 'the route returned no response'
  const p = payload as Record<string, unknown>
  const status = p.status
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return 'the route response has an invalid status'
  if (!isPairs(p.headers) || p.headers.some(([k, v]) => !HEADER_NAME.test(k) || /[\0\r\n]/.test(v))) return 'the route response has invalid headers'
  const body = p.body
  if (body !== null && !(body instanceof Uint8Array)) return 'the route response body is not bytes'
  const bytes = body === null ? 0 : body.byteLength
  const encoded = body === null ? '' : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64')
  return {
    bytes,
    value: { status, statusText: typeof p.statusText === 'string' ? p.statusText : '', headers: p.headers, body: encoded, bodyEncoding: 'base64' },
  }
}
