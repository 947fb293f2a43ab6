// The plugin runtime: BasePlugin, the per-invocation context, host calls, timers, fetch, route matching, and the
// entry points the sandbox process calls. This fragment comes last: it installs the web globals and returns the
// entry points, which only the sandbox process holds (nothing here is reachable from plugin code).

const invocations = new Map() // invocation id -> { calls: Set<callId>, timers: Set<timerId> }
const pendingCalls = new Map() // call id -> { resolve, reject, invocation }
const timers = new Map() // timer id -> { fn, args, invocation }
const runtimeErrorCodes = new WeakMap() // errors the runtime raised -> wire error code
// The invocation whose event (start, host result, timer) is running now. Global fetch and setTimeout are charged to
// it; ctx methods are bound to their own invocation. With concurrent invocations of one plugin, a continuation
// resumed by another invocation's event is charged to that one.
let current = null
let callSeq = 0
let timerSeq = 0
let plugin = null
let routeList = []
let routeByKey = new Map()

function runtimeError(code, message) {
  const err = new Error(message)
  runtimeErrorCodes.set(err, code)
  return err
}

function activeInvocation(what) {
  if (current === null || !invocations.has(current)) throw new Error(`${what} is only available while the plugin handles an invocation`)
  return current
}

class HostCallError extends Error {
  constructor(code, message) {
    super(message)
    this.name = 'HostCallError'
    this.code = code
  }
}

function hostCall(invocation, name, args) {
  const inv = invocations.get(invocation)
  if (inv === undefined) return Promise.reject(new Error(`${name}: the invocation has already finished`))
  let json
  try {
    json = jsonStringify(args)
  } catch (err) {
    return Promise.reject(new TypeError(`${name}: arguments must be JSON-serializable (${err?.message})`))
  }
  const callId = ++callSeq
  return new Promise((resolve, reject) => {
    pendingCalls.set(callId, { resolve, reject, invocation })
    inv.calls.add(callId)
    native.hostCall(invocation, callId, name, json)
  })
}

function setTimeout(callback, delay = 0, ...args) {
  if (typeof callback !== 'function') throw new TypeError('setTimeout: the callback must be a function (strings are not evaluated)')
  const invocation = activeInvocation('setTimeout')
  const id = ++timerSeq
  timers.set(id, { fn: callback, args, invocation })
  invocations.get(invocation).timers.add(id)
  const ms = Number(delay)
  native.timer(invocation, id, ms > 0 ? ms : 0)
  return id
}

function clearTimeout(id) {
  const timer = timers.get(id)
  if (timer === undefined) return
  timers.delete(id)
  invocations.get(timer.invocation)?.timers.delete(id)
  native.timer(timer.invocation, id, -1)
}

function queueMicrotask(callback) {
  if (typeof callback !== 'function') throw new TypeError('queueMicrotask: the callback must be a function')
  promiseThen(Promise.resolve(), () => callback())
}

async function fetchFor(invocation, input, init) {
  const req = new Request(input, init)
  const res = await hostCall(invocation, 'fetch', [requestToWire(req)])
  return responseFromWire(res, req.url)
}

function fetch(input, init) {
  try {
    return fetchFor(activeInvocation('fetch'), input, init)
  } catch (err) {
    return Promise.reject(err)
  }
}

/** Extend this, `export default` the class. Declare `routes`, `cron`, `onEnable`, `onDisable` as needed. */
class BasePlugin {
  async execute(_ctx) {
    return undefined
  }
}

function makeContext(invocation, args, params) {
  const bind = (name) => (...a) => hostCall(invocation, name, a)
  return freeze({
    invocationId: invocation,
    identity: args.identity ?? null,
    input: args.input,
    params: freeze(params),
    kv: freeze({ get: bind('kv.get'), set: bind('kv.set'), delete: bind('kv.delete'), list: bind('kv.list') }),
    config: freeze({ get: bind('config.get') }),
    llm: freeze({ chat: bind('llm.chat'), embed: bind('llm.embed') }),
    rag: freeze({ search: bind('rag.search') }),
    chatbots: freeze({ invoke: bind('chatbots.invoke') }),
    log: bind('log'),
    fetch: (input, init) => fetchFor(invocation, input, init),
  })
}

const ROUTE_KEY = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|ALL) (\/\S*)$/

function splitPath(path) {
  return path.split('/').filter((s) => s !== '')
}

function compileRoutes(table) {
  routeList = []
  routeByKey = new Map()
  if (table === undefined || table === null) return
  if (typeof table !== 'object') throw new TypeError('routes must be an object mapping "METHOD /path" to a handler')
  for (const key of objectKeys(table)) {
    const m = ROUTE_KEY.exec(key)
    if (m === null) throw new TypeError(`routes: invalid key ${jsonStringify(key)}; expected "METHOD /path", e.g. "GET /items/:id"`)
    const handler = table[key]
    if (typeof handler !== 'function') throw new TypeError(`routes[${jsonStringify(key)}] must be a function`)
    const segments = splitPath(m[2])
    const star = segments.indexOf('*')
    if (star !== -1 && star !== segments.length - 1) throw new TypeError(`routes: in ${jsonStringify(key)}, * may only be the last segment`)
    const route = { key, method: m[1], segments, handler, exact: segments.every((s) => s !== '*' && !s.startsWith(':')) }
    routeList.push(route)
    routeByKey.set(key, route)
  }
}

function decodeSegment(s) {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

function matchSegments(pattern, segs) {
  const params = {}
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]
    if (p === '*') {
      params['*'] = segs.slice(i).map(decodeSegment).join('/')
      return params
    }
    if (i >= segs.length) return null
    if (p.startsWith(':')) params[p.slice(1)] = decodeSegment(segs[i])
    else if (p !== segs[i]) return null
  }
  return segs.length === pattern.length ? params : null
}

/** Exact routes first, then patterns in declaration order; HEAD falls back to GET. */
function matchRoute(method, path) {
  const segs = splitPath(path)
  for (const exact of [true, false]) {
    for (const route of routeList) {
      if (route.exact !== exact) continue
      if (route.method !== 'ALL' && route.method !== method && !(method === 'HEAD' && route.method === 'GET')) continue
      const params = matchSegments(route.segments, segs)
      if (params !== null) return { route, params }
    }
  }
  return null
}

function checkSize(bytes) {
  if (bytes > limits.maxResponseBytes)
    throw runtimeError('response_too_large', `the result is ${bytes} bytes, over the plugin's maxResponseBytes limit of ${limits.maxResponseBytes}`)
}

async function dispatch(invocation, method, args) {
  if (plugin === null) throw runtimeError('plugin_not_loaded', 'the plugin is not loaded')
  switch (method) {
    case 'execute': {
      if (typeof plugin.execute !== 'function') throw runtimeError('method_not_found', 'the plugin has no execute method')
      return plugin.execute(makeContext(invocation, args, {}))
    }
    case 'cron': {
      const table = plugin.cron
      const name = String(args.name)
      const handler = typeof table === 'object' && table !== null && objectHasOwn(table, name) ? table[name] : undefined
      if (typeof handler !== 'function') throw runtimeError('method_not_found', `the plugin has no cron handler ${jsonStringify(name)}`)
      return handler.call(plugin, makeContext(invocation, args, {}))
    }
    case 'tool': {
      const table = plugin.tools
      const name = String(args.name)
      const handler = typeof table === 'object' && table !== null && objectHasOwn(table, name) ? table[name] : undefined
      if (typeof handler !== 'function') throw runtimeError('method_not_found', `the plugin has no tool ${jsonStringify(name)}`)
      return handler.call(plugin, args.input, makeContext(invocation, args, {}))
    }
    case 'onEnable':
    case 'onDisable':
      return typeof plugin[method] === 'function' ? plugin[method](makeContext(invocation, args, {})) : undefined
    case 'route': {
      const wire = args.request
      if (typeof wire !== 'object' || wire === null) throw runtimeError('bad_request', 'route: args.request is missing')
      let match
      if (args.routeKey !== undefined) {
        // The server chose the route (it checked that route's auth), so exactly that handler runs; the path only
        // fills in its parameters.
        const route = routeByKey.get(String(args.routeKey))
        const params = route === undefined ? null : args.path === undefined ? {} : matchSegments(route.segments, splitPath(args.path))
        match = params === null ? null : { route, params }
      } else match = matchRoute(String(wire.method).toUpperCase(), args.path ?? new URL(wire.url).pathname)
      if (match === null) throw runtimeError('route_not_found', `no route of the plugin matches ${wire.method} ${args.routeKey ?? args.path ?? wire.url}`)
      seedUrl(wire.url, wire.urlFields)
      const req = new Request(wire.url, { method: wire.method, headers: wire.headers, body: wire.body ?? null })
      return match.route.handler.call(plugin, req, makeContext(invocation, args, match.params))
    }
    default:
      throw runtimeError('bad_request', `unknown method ${jsonStringify(method)}`)
  }
}

function resultPayload(method, value) {
  if (method === 'route') {
    let res = value
    if (!(res instanceof Response)) res = res === undefined ? new Response(null, { status: 204 }) : Response.json(res)
    const bytes = takeBodyBytes(res)
    checkSize(bytes === null ? 0 : bytes.byteLength)
    return { status: res.status, statusText: res.statusText, headers: [...res.headers], body: bytes }
  }
  let json
  try {
    json = value === undefined ? 'null' : jsonStringify(value)
  } catch (err) {
    throw runtimeError('invalid_result', `the ${method} result is not JSON-serializable: ${err?.message}`)
  }
  if (json === undefined) json = 'null'
  // JSON's UTF-16 length never exceeds its UTF-8 length in bytes, so this catches every case the host would.
  checkSize(json.length)
  return json
}

function errorPayload(err) {
  const code = typeof err === 'object' && err !== null ? runtimeErrorCodes.get(err) ?? null : null
  try {
    const isError = err instanceof Error
    const name = isError ? String(err.name) : 'Error'
    const message = isError ? String(err.message) : `the plugin threw a non-Error value: ${describe(err)}`
    const stack = isError && typeof err.stack === 'string' ? err.stack.slice(0, 8192) : null
    return { code, name: name.slice(0, 200), message: message.slice(0, 4096), stack }
  } catch {
    return { code, name: 'Error', message: 'the plugin threw a value that cannot be described', stack: null }
  }
}

function forget(invocation) {
  const inv = invocations.get(invocation)
  if (inv === undefined) return
  invocations.delete(invocation)
  for (const id of inv.calls) pendingCalls.delete(id)
  for (const id of inv.timers) timers.delete(id)
}

function finish(invocation, ok, payload) {
  if (!invocations.has(invocation)) return
  forget(invocation)
  native.done(invocation, ok, payload)
}

const PLUGIN_METHODS = ['execute', 'onEnable', 'onDisable']
// The names a model calls tools by (the platform's tools engine takes no others).
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/

/** A table of handlers (`cron`, `tools`): its keys, each checked to be a function. */
function handlerNames(table, what, namePattern) {
  const names = []
  if (table === undefined || table === null) return names
  if (typeof table !== 'object') throw new TypeError(`${what} must be an object mapping names to handlers`)
  for (const name of objectKeys(table)) {
    if (namePattern !== undefined && !namePattern.test(name))
      throw new TypeError(`${what}: ${jsonStringify(name)} is not a usable name (letters, digits, _ and -, up to 64)`)
    if (typeof table[name] !== 'function') throw new TypeError(`${what}[${jsonStringify(name)}] must be a function`)
    names.push(name)
  }
  return names
}

function register(exported) {
  delete globalThis.__enclavaBasePlugin
  let instance
  if (typeof exported === 'function') instance = new exported()
  else if (typeof exported === 'object' && exported !== null) instance = exported
  else throw new TypeError('the plugin module must `export default` a class extending BasePlugin (from "enclava:plugin")')
  compileRoutes(instance.routes)
  const cronNames = handlerNames(instance.cron, 'cron')
  // The server compares these with the manifest's `tools` and refuses the load on any difference.
  const toolNames = handlerNames(instance.tools, 'tools', TOOL_NAME)
  plugin = instance
  const hooks = {}
  for (const m of PLUGIN_METHODS) hooks[m] = typeof instance[m] === 'function'
  // BasePlugin's own execute does nothing: a plugin has an execute only when it declares one.
  if (instance.execute === BasePlugin.prototype.execute) hooks.execute = false
  return {
    name: typeof instance.name === 'string' ? instance.name : null,
    version: typeof instance.version === 'string' ? instance.version : null,
    routes: routeList.map((r) => r.key),
    cron: cronNames,
    tools: toolNames,
    hooks,
  }
}

function invoke(invocation, method, args) {
  current = invocation
  invocations.set(invocation, { calls: new Set(), timers: new Set() })
  let promise
  try {
    promise = dispatch(invocation, method, args)
  } catch (err) {
    promise = Promise.reject(err)
  }
  promiseThen(
    promiseThen(promise, (value) => resultPayload(method, value)),
    (payload) => finish(invocation, true, payload),
    (err) => finish(invocation, false, errorPayload(err)),
  )
}

function hostResult(callId, ok, value) {
  const call = pendingCalls.get(callId)
  if (call === undefined) return
  pendingCalls.delete(callId)
  invocations.get(call.invocation)?.calls.delete(callId)
  current = call.invocation
  if (ok) call.resolve(value)
  else call.reject(new HostCallError(String(value?.code ?? 'host_error'), String(value?.message ?? 'the host call failed')))
}

function fireTimer(id) {
  const timer = timers.get(id)
  if (timer === undefined) return
  timers.delete(id)
  invocations.get(timer.invocation)?.timers.delete(id)
  current = timer.invocation
  try {
    ReflectApply(timer.fn, undefined, timer.args)
  } catch (err) {
    emitLog('error', ['Uncaught exception in a setTimeout callback:', err])
  }
}

const WEB_GLOBALS = {
  DOMException,
  TextEncoder,
  TextDecoder,
  atob,
  btoa,
  URL,
  URLSearchParams,
  Headers,
  Request,
  Response,
  fetch,
  crypto,
  structuredClone,
  console,
  setTimeout,
  clearTimeout,
  queueMicrotask,
}
for (const name of objectKeys(WEB_GLOBALS))
  defineProperty(globalThis, name, { value: WEB_GLOBALS[name], writable: true, configurable: true, enumerable: false })
// WebAssembly, SharedArrayBuffer and resizable ArrayBuffers are closed by harden.js, evaluated before this.
// Read once by the synthetic `enclava:plugin` module, deleted by register().
defineProperty(globalThis, '__enclavaBasePlugin', { value: BasePlugin, writable: false, configurable: true, enumerable: false })

return { register, invoke, hostResult, fireTimer, forget }
