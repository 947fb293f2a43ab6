/**
 * The plugin sandbox process: Node 24 running isolated-vm, one isolate per loaded plugin, driven by the Bun server
 * over IPC (protocol.ts). It needs no environment variables and holds no secrets; the server starts it with an
 * empty environment and Node's permission model (read access to this directory and isolated-vm only, no writes,
 * no child processes, no workers). Whatever goes wrong in here, the server restarts the process.
 */
import { setFlagsFromString } from 'node:v8'
import { CodeRun } from './code-runner.ts'
import { PluginSlot, SlotError, type SlotHost } from './plugin-slot.ts'
import {
  DEFAULT_LIMITS,
  INVOKE_METHODS,
  MAX_CODE_CHARS,
  checkCodeLimits,
  checkLimits,
  type HostMessage,
  type InvokeMethod,
  type Limits,
  type SandboxMessage,
  type SandboxStats,
  type WireError,
} from './protocol.ts'

if (typeof process.send !== 'function') {
  process.stderr.write('sandbox: must be started with an IPC channel (by the Enclava server)\n')
  process.exit(2)
}

/**
 * The stack limit of the isolates this process creates from now on, which run on its main thread: the server
 * computes it from the thread's real stack (SandboxClient, pluginStackArgs). Set here, after Node started, so that
 * Node's own isolate keeps its default.
 */
const PLUGIN_STACK_KB = Number(/^--plugin-stack-kb=(\d+)$/.exec(process.argv.find((a) => a.startsWith('--plugin-stack-kb=')) ?? '')?.[1] ?? 0)
if (PLUGIN_STACK_KB > 0) setFlagsFromString(`--stack-size=${PLUGIN_STACK_KB}`)

const MAX_RSS_BYTES = Number(/^--max-rss-mb=(\d+)$/.exec(process.argv.find((a) => a.startsWith('--max-rss-mb=')) ?? '')?.[1] ?? 0) * 1024 * 1024

const slots = new Map<string, PluginSlot>()
/** Code interpreter evaluations in flight, by message id (a process serves plugins or code, in practice). */
const codeRuns = new Map<string, CodeRun>()
const calls = new Map<string, PluginSlot>()
let callSeq = 0
const startedAt = Date.now()
/**
 * An isolate with the runtime, built while this process waits for its first load (the server keeps a started
 * process ready for the next plugin): the first load with the default memory and result limits takes it.
 */
let prepared: ReturnType<typeof PluginSlot.prepare> | null = null

function send(message: SandboxMessage): void {
  try {
    process.send?.(message)
  } catch {
    // The channel is gone; 'disconnect' ends the process.
  }
}

const host: SlotHost = {
  send,
  openCall(slot) {
    const id = String(++callSeq)
    calls.set(id, slot)
    return id
  },
  closeCall(callId) {
    calls.delete(callId)
  },
  alone(slot) {
    return slots.size === 1 && codeRuns.size === 0 && slots.values().next().value === slot
  },
}

function reply(id: string, value: unknown): void {
  send({ type: 'result', id, ok: true, value })
}

function replyError(id: string, error: WireError): void {
  send({ type: 'result', id, ok: false, error })
}

function isString(value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

async function stats(): Promise<SandboxStats> {
  const memory = process.memoryUsage()
  return {
    pid: process.pid,
    uptimeMs: Date.now() - startedAt,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    external: memory.external,
    plugins: await Promise.all([...slots.values()].map((slot) => slot.stats())),
  }
}

async function load(id: string, plugin: string, code: string, limits: unknown): Promise<void> {
  const problem = checkLimits(limits)
  if (problem !== null) return replyError(id, { code: 'bad_request', message: problem })
  slots.get(plugin)?.unload()
  const slot = new PluginSlot(plugin, code, limits as Limits, host, prepared)
  prepared = null
  slots.set(plugin, slot)
  try {
    reply(id, await slot.load())
  } catch (err) {
    if (slots.get(plugin) === slot) slots.delete(plugin)
    slot.unload()
    replyError(id, err instanceof SlotError ? err.wire : { code: 'internal_error', message: String(err) })
  }
}

function handle(raw: unknown): void {
  if (typeof raw !== 'object' || raw === null) return
  const message = raw as HostMessage & Record<string, unknown>
  switch (message.type) {
    case 'invoke': {
      const { id, plugin, method } = message
      if (!isString(id)) return
      if (!isString(plugin) || !INVOKE_METHODS.includes(method as InvokeMethod) || typeof message.args !== 'object' || message.args === null)
        return replyError(id, { code: 'bad_request', message: 'invoke needs plugin, method and args' })
      const slot = slots.get(plugin)
      if (slot === undefined) return replyError(id, { code: 'plugin_not_loaded', message: `plugin ${plugin} is not loaded` })
      const wallMs = typeof message.wallMs === 'number' && message.wallMs > 0 ? message.wallMs : undefined
      return slot.invoke(id, method, message.args, wallMs)
    }
    case 'hostResult': {
      const slot = calls.get(message.callId)
      if (slot === undefined) return
      calls.delete(message.callId)
      if (message.ok) slot.hostResult(message.callId, true, message.value)
      else {
        const error = typeof message.error === 'object' && message.error !== null ? message.error : { code: 'host_error', message: 'the host call failed' }
        slot.hostResult(message.callId, false, { code: String(error.code), message: String(error.message) })
      }
      return
    }
    case 'evalCode': {
      const { id, code } = message
      if (!isString(id)) return
      if (typeof code !== 'string' || code.length > MAX_CODE_CHARS)
        return replyError(id, { code: 'bad_request', message: `evalCode needs code of at most ${MAX_CODE_CHARS} characters` })
      const problem = checkCodeLimits(message.limits)
      if (problem !== null) return replyError(id, { code: 'bad_request', message: problem })
      if (codeRuns.has(id)) return
      // A process that runs code runs no plugin: the isolate prepared for one would only hold memory.
      if (prepared !== null) PluginSlot.discard(prepared)
      prepared = null
      const run = new CodeRun(id, code, message.limits, send, () => codeRuns.delete(id))
      codeRuns.set(id, run)
      return run.start()
    }
    case 'cancel': {
      const run = codeRuns.get(message.id)
      if (run !== undefined) return run.cancel()
      for (const slot of slots.values()) if (slot.cancel(message.id)) return
      return
    }
    case 'load': {
      if (!isString(message.id)) return
      if (!isString(message.plugin) || typeof message.code !== 'string')
        return replyError(message.id, { code: 'bad_request', message: 'load needs plugin and code' })
      void load(message.id, message.plugin, message.code, message.limits)
      return
    }
    case 'unload': {
      if (!isString(message.id)) return
      const slot = slots.get(message.plugin)
      slots.delete(message.plugin)
      slot?.unload()
      return reply(message.id, null)
    }
    case 'ping':
      if (isString(message.id)) reply(message.id, { pid: process.pid })
      return
    case 'stats':
      if (isString(message.id)) void stats().then((value) => reply(message.id, value))
      return
  }
}

process.on('message', (raw) => {
  try {
    handle(raw)
  } catch (err) {
    process.stderr.write(`sandbox: failed to handle a message: ${err instanceof Error ? err.stack : String(err)}\n`)
  }
})
/**
 * Ends this process at once. Never process.exit here: its clean-up waits for isolated-vm's isolates, and hangs for
 * good while one of them runs code on its thread (a snippet or a plugin's top level in a loop: the process stayed,
 * burning its CPU, after its server was killed) or is being built (the spare isolate: 1 hang in 82 tries with the
 * server killed just after the sandbox said ready). SIGKILL runs no clean-up, and this process has nothing to save.
 */
function end(why: string): never {
  process.stderr.write(`sandbox: ${why}; exiting\n`)
  process.kill(process.pid, 'SIGKILL')
  throw new Error('unreachable: the process was killed')
}

// Without its server the sandbox has no purpose, and must not outlive it as an orphan.
process.on('disconnect', () => end('the server closed the channel'))
/** State after an unexpected exception is unknown: tell the server why, end, and let it start a clean process. */
function fatal(what: string, err: unknown): never {
  send({ type: 'crash', plugins: [], message: `${what}: ${(err instanceof Error ? err.message : String(err)).slice(0, 1000)}` })
  end(`${what}: ${(err instanceof Error && err.stack) || String(err)}`)
}
process.on('uncaughtException', (err) => fatal('uncaught exception', err))
process.on('unhandledRejection', (err) => fatal('unhandled rejection', err))

/**
 * isolated-vm's memory limit is soft, and disposing an isolate does not stop code stuck in a builtin V8 cannot
 * interrupt: `new Array(2 ** 27).fill(0)` in a 32 MB isolate went on to 2.4 GB after its disposal (measured). Only
 * the process can be stopped for sure, so past its ceiling it names the likely culprits and kills itself; the
 * server restarts it. In a process serving one plugin this runs only between its slices (they run on this thread,
 * PluginSlot#enter); the server watches the same ceiling from outside (SandboxClient#watch).
 */
function watchMemory(): void {
  const rss = process.memoryUsage.rss()
  if (rss <= MAX_RSS_BYTES) return
  const all = [...slots.values()]
  const worst = Math.max(0, ...all.map((s) => s.suspicion))
  const plugins = worst === 0 ? [] : all.filter((s) => s.suspicion === worst).map((s) => s.name)
  const message = `the sandbox used ${Math.round(rss / 1048576)} MB, over its ceiling of ${MAX_RSS_BYTES / 1048576} MB`
  send({ type: 'crash', plugins, message })
  process.stderr.write(`sandbox: ${message}; running: ${plugins.join(', ') || 'none'}; exiting\n`)
  process.kill(process.pid, 'SIGKILL')
}
if (MAX_RSS_BYTES > 0) setInterval(watchMemory, 100).unref()

send({ type: 'ready', pid: process.pid, node: process.version })
prepared = PluginSlot.prepare(DEFAULT_LIMITS)
