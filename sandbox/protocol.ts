/**
 * The wire protocol between the Bun server (host) and the sandbox process, one JSON message per IPC send.
 * Shared by both sides: the sandbox runs this file through Node's type stripping, the server imports it from
 * `src/plugins/sandbox/`. Keep it free of Node and Bun APIs.
 */

/** Per-plugin resource limits. Every limit is enforced by the sandbox; each violation has its own error code. */
export interface Limits {
  /** V8 heap of the plugin's isolate. isolated-vm's limit is soft: a hostile plugin can overshoot it 2-3x. */
  memoryMb: number
  /** CPU time one invocation may spend inside the isolate, summed over all its synchronous slices. */
  cpuMs: number
  /** Wall-clock time of one invocation, awaits included (the invoke message may lower or raise it). */
  wallMs: number
  /** Invocations of this plugin in flight at once; one more is refused, not queued. */
  maxConcurrent: number
  /** Host calls (context methods, fetch) per invocation. */
  maxHostCalls: number
  /** Bytes of one result (route body, or the JSON of any other method's value), and of one host call's arguments. */
  maxResponseBytes: number
  /** setTimeout calls per invocation. */
  maxTimers: number
}

export const DEFAULT_LIMITS: Limits = {
  memoryMb: 64,
  cpuMs: 1_000,
  wallMs: 30_000,
  maxConcurrent: 8,
  maxHostCalls: 100,
  maxResponseBytes: 5 * 1024 * 1024,
  maxTimers: 100,
}

/** Inclusive bounds a load's limits must fall in; outside them the load is refused as `bad_request`. */
export const LIMIT_BOUNDS: { [K in keyof Limits]: readonly [number, number] } = {
  memoryMb: [8, 4096],
  cpuMs: [1, 600_000],
  wallMs: [1, 3_600_000],
  maxConcurrent: [1, 10_000],
  maxHostCalls: [0, 1_000_000],
  // A result crosses the sandbox heap as base64 inside a JSON message (about 3 copies of 4/3 its size): keep it
  // well below the sandbox process's own heap limit.
  maxResponseBytes: [0, 32 * 1024 * 1024],
  maxTimers: [0, 100_000],
}

export type InvokeMethod = 'execute' | 'route' | 'cron' | 'tool' | 'onEnable' | 'onDisable'
export const INVOKE_METHODS: readonly InvokeMethod[] = ['execute', 'route', 'cron', 'tool', 'onEnable', 'onDisable']

/**
 * Limits of one `evalCode` (the code interpreter): a snippet runs in a fresh isolate of its own, disposed after it.
 * Each violation has its own code and a message naming the limit and its value, like a plugin's.
 */
export interface CodeLimits {
  /** V8 heap of the snippet's isolate (soft, like a plugin's: the process ceiling is the hard stop). */
  memoryMb: number
  /** CPU time inside the isolate, the snippet's microtasks and the serialising of its result included. */
  cpuMs: number
  /** Wall-clock time of the whole evaluation, isolate creation included. */
  wallMs: number
  /** Bytes of output: the result's serialisation (over it: an error), then the console lines in what it leaves (cut). */
  maxOutputBytes: number
}

export const CODE_LIMIT_BOUNDS: { [K in keyof CodeLimits]: readonly [number, number] } = {
  memoryMb: [8, 1024],
  cpuMs: [1, 60_000],
  wallMs: [1, 120_000],
  maxOutputBytes: [1, 4 * 1024 * 1024],
}

/** The most characters of code one evalCode takes; the code interpreter tool has its own, smaller limit. */
export const MAX_CODE_CHARS = 1024 * 1024

/**
 * What an evalCode answers when the snippet ran to its end. `value` is the last expression's value serialised:
 * JSON (`type: 'json'`), or a description for what JSON cannot hold (`'text'`: functions, symbols, BigInts, cycles),
 * or null when it was undefined. `logs` are the console lines kept; `droppedLogs` counts those past the limits.
 */
export interface CodeResult {
  type: 'json' | 'text' | 'undefined'
  value: string | null
  logs: string[]
  droppedLogs: number
}

/** A limit a violation names: a plugin's, or a code evaluation's. */
export type LimitName = keyof Limits | keyof CodeLimits

/** Everything a plugin can ask of the platform. The host checks each call against the plugin's grants. */
export type HostCallName =
  | 'kv.get'
  | 'kv.set'
  | 'kv.delete'
  | 'kv.list'
  | 'config.get'
  | 'llm.chat'
  | 'llm.embed'
  | 'rag.search'
  | 'chatbots.invoke'
  | 'fetch'
  | 'log'
export const HOST_CALL_NAMES: readonly HostCallName[] = [
  'kv.get',
  'kv.set',
  'kv.delete',
  'kv.list',
  'config.get',
  'llm.chat',
  'llm.embed',
  'rag.search',
  'chatbots.invoke',
  'fetch',
  'log',
]

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

export type ErrorCode =
  // limits (the message names the limit and its configured value)
  | 'cpu_time_exceeded'
  | 'wall_time_exceeded'
  | 'memory_limit_exceeded'
  | 'concurrency_limit_exceeded'
  | 'host_call_limit_exceeded'
  | 'host_call_too_large'
  | 'response_too_large'
  | 'timer_limit_exceeded'
  /** evalCode: the snippet threw (or did not parse); the message says what and where, its console lines follow. */
  | 'code_error'
  // the plugin
  | 'plugin_error'
  | 'invalid_plugin'
  | 'invalid_result'
  | 'route_not_found'
  | 'method_not_found'
  | 'plugin_not_loaded'
  | 'isolate_recycled'
  /** Refused by the server's client: the plugin was running in several sandbox crashes (see SandboxClient). */
  | 'plugin_quarantined'
  // the caller and the machinery
  | 'cancelled'
  | 'bad_request'
  | 'sandbox_unavailable'
  | 'internal_error'

export interface WireError {
  code: ErrorCode
  message: string
  /** Set for limit violations: which limit, and its configured value. */
  limit?: { name: LimitName; value: number }
  /** code_error: the console lines the snippet wrote before it failed. */
  logs?: string[]
  /** The plugin's stack for `plugin_error`; for logs, not for HTTP bodies. */
  stack?: string
  /** wall_time_exceeded while the invocation waited for a host call: the platform was slow, not the plugin. */
  waitingOnHost?: boolean
}

/** An HTTP request or response as it crosses the wire: headers as pairs (order and repeats kept). */
export interface WireHttpMessage {
  headers: [string, string][]
  /** Absent or null: no body. */
  body?: string | null
  /** How `body` is encoded; default utf8. */
  bodyEncoding?: 'utf8' | 'base64'
}

export interface WireRequest extends WireHttpMessage {
  method: string
  url: string
}

export interface WireResponse extends WireHttpMessage {
  status: number
  statusText?: string
}

/** A route's result: the body is always base64, so binary responses survive JSON. */
export interface RouteResult {
  status: number
  statusText: string
  headers: [string, string][]
  body: string
  bodyEncoding: 'base64'
}

/**
 * The `args` of an invoke. `identity` becomes `ctx.identity` (plain data: who is calling) in every method.
 * - execute: `input` becomes `ctx.input`.
 * - route: `request`; the handler is `routeKey` if given (an exact key of the plugin's `routes`), otherwise the
 *   first route matching the request method and `path` (default: the request URL's pathname).
 * - cron: `name` of the handler in the plugin's `cron`.
 * - tool: `name` of the handler in the plugin's `tools`; `input` is the arguments (a JSON object) it is called with.
 */
export interface InvokeArgs {
  identity?: unknown
  input?: unknown
  request?: WireRequest
  path?: string
  routeKey?: string
  name?: string
}

/** What a load learns about the plugin; route keys are as declared, e.g. `GET /items/:id`. */
export interface PluginMeta {
  name: string | null
  version: string | null
  routes: string[]
  cron: string[]
  /** The keys of the class's `tools`. */
  tools: string[]
  hooks: { execute: boolean; onEnable: boolean; onDisable: boolean }
}

export interface SandboxStats {
  pid: number
  uptimeMs: number
  rss: number
  heapUsed: number
  external: number
  plugins: PluginStats[]
}

export interface PluginStats {
  plugin: string
  /** False between a forced disposal (memory, wall time) and the next invoke, which recreates the isolate. */
  live: boolean
  inFlight: number
  invocations: number
  recycles: number
  cpuMs: number
  /** Null when the isolate was busy and did not answer in time. */
  heapUsed: number | null
}

/** host -> sandbox. Every message with an `id` is answered by exactly one `result` with that id. */
export type HostMessage =
  | { type: 'load'; id: string; plugin: string; code: string; limits: Limits }
  | { type: 'unload'; id: string; plugin: string }
  | { type: 'invoke'; id: string; plugin: string; method: InvokeMethod; args: InvokeArgs; wallMs?: number }
  /** The code interpreter: runs `code` in a fresh isolate of its own, disposed after it; answered with a CodeResult. */
  | { type: 'evalCode'; id: string; code: string; limits: CodeLimits }
  | { type: 'cancel'; id: string }
  | { type: 'hostResult'; callId: string; ok: true; value?: unknown }
  | { type: 'hostResult'; callId: string; ok: false; error: { code: string; message: string } }
  | { type: 'ping'; id: string }
  | { type: 'stats'; id: string }

/**
 * sandbox -> host. Result values: load -> PluginMeta, unload -> null, ping -> { pid }, stats -> SandboxStats,
 * invoke -> RouteResult for `route`, else the method's JSON value, evalCode -> CodeResult. `cancel` has no answer:
 * the cancelled invocation's (or evaluation's) own result (code `cancelled`) is the answer.
 */
export type SandboxMessage =
  | { type: 'ready'; pid: number; node: string }
  | { type: 'result'; id: string; ok: true; value: unknown }
  | { type: 'result'; id: string; ok: false; error: WireError }
  | { type: 'hostCall'; callId: string; id: string; plugin: string; name: HostCallName; args: unknown[] }
  | { type: 'log'; plugin: string; id?: string; level: LogLevel; message: string }
  /**
   * Sent just before the process kills itself: a plugin's isolate hit a catastrophic V8 error, the process outgrew
   * its memory ceiling, or an exception reached its top (then `plugins` is empty). `plugins` are the likely culprits.
   */
  | { type: 'crash'; plugins: string[]; message: string }

/** Returns a reason when `limits` is not a complete, in-bounds Limits object. */
export function checkLimits(limits: unknown): string | null {
  if (typeof limits !== 'object' || limits === null) return 'limits must be an object'
  const record = limits as Record<string, unknown>
  for (const [name, [min, max]] of Object.entries(LIMIT_BOUNDS)) {
    const value = record[name]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
      return `limits.${name} must be an integer in [${min}, ${max}], got ${String(value)}`
  }
  return null
}

/** Returns a reason when `limits` is not a complete, in-bounds CodeLimits object. */
export function checkCodeLimits(limits: unknown): string | null {
  if (typeof limits !== 'object' || limits === null) return 'limits must be an object'
  const record = limits as Record<string, unknown>
  for (const [name, [min, max]] of Object.entries(CODE_LIMIT_BOUNDS)) {
    const value = record[name]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
      return `limits.${name} must be an integer in [${min}, ${max}], got ${String(value)}`
  }
  return null
}

/**
 * The deepest nesting of arrays and objects in a JSON text (brackets inside strings do not count); it stops as soon
 * as the nesting passes `stopAbove`. Checked before parsing, so absurd nesting never reaches code that recurses.
 */
export function jsonDepth(json: string, stopAbove = Infinity): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 || c === 123) {
      if (++depth > max) {
        max = depth
        if (max > stopAbove) return max
      }
    } else if (c === 93 || c === 125) depth--
  }
  return max
}
