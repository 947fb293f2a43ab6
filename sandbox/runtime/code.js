// The code interpreter's runtime, evaluated (after harden.js) in each snippet's fresh context. It installs a
// console that keeps lines in the result instead of a log, and returns the two entry points the sandbox process
// calls: run(code), then collect() in a second entry, after the snippet's microtasks ran (a promise the snippet
// ends with has settled by then, or never will: there are no timers or I/O in here).

const indirectEval = eval
const PromiseResolve = (v) => Promise.resolve(v)

const logs = []
let logBytes = 0
let droppedLogs = 0
let outcome = null // { ok: true, value } | { ok: false, error }

function describe(v) {
  if (typeof v === 'string') return v
  if (v instanceof Error) return `${v.name}: ${v.message}`
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return String(v)
  if (typeof v === 'bigint') return `${v}n`
  if (typeof v !== 'object' || v === null) return String(v)
  try {
    const seen = new WeakSet()
    const json = jsonStringify(v, (_k, x) => {
      if (typeof x === 'bigint') return `${x}n`
      if (typeof x === 'function') return `[Function ${x.name || '(anonymous)'}]`
      if (typeof x === 'symbol') return String(x)
      if (typeof x === 'object' && x !== null) {
        if (seen.has(x)) return '[Circular]'
        seen.add(x)
        if (x instanceof Map) return { Map: [...x] }
        if (x instanceof Set) return { Set: [...x] }
      }
      return x
    })
    return json === undefined ? String(v) : json
  } catch {
    return String(v)
  }
}

// UTF-16 length is a lower bound of UTF-8 bytes; the sandbox process measures bytes exactly.
function emit(args) {
  if (logs.length >= limits.maxLogLines || logBytes >= limits.maxOutputBytes) {
    droppedLogs++
    return
  }
  let line = ''
  for (let i = 0; i < args.length && line.length <= limits.maxOutputBytes; i++) line += (i === 0 ? '' : ' ') + describe(args[i])
  const room = limits.maxOutputBytes - logBytes
  if (line.length > room) line = line.slice(0, room)
  logs.push(line)
  logBytes += line.length + 1
}

const log = (...args) => emit(args)
const console = freeze({
  log,
  info: log,
  warn: log,
  error: log,
  debug: log,
  trace: log,
  dir: (value) => emit([value]),
  table: (value) => emit([value]),
  assert: (condition, ...args) => {
    if (!condition) emit(['Assertion failed', ...args])
  },
})
defineProperty(globalThis, 'console', { value: console, writable: true, configurable: true, enumerable: false })

function run(code) {
  let value
  try {
    value = indirectEval(code)
  } catch (err) {
    outcome = { ok: false, error: err }
    return
  }
  promiseThen(
    PromiseResolve(value),
    (v) => {
      outcome = { ok: true, value: v }
    },
    (err) => {
      outcome = { ok: false, error: err }
    },
  )
}

function serialise(value) {
  if (value === undefined) return { type: 'undefined', value: null }
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') return { type: 'text', value: describe(value) }
  try {
    const json = jsonStringify(value)
    if (json !== undefined) return { type: 'json', value: json }
  } catch {
    // Cycles, BigInts inside: described instead.
  }
  return { type: 'text', value: describe(value) }
}

function errorOf(err) {
  if (!(err instanceof Error)) return { name: 'Error', message: `the code threw a non-Error value: ${describe(err)}`.slice(0, 2000), stack: '' }
  return {
    name: String(err.name).slice(0, 200),
    message: String(err.message).slice(0, 2000),
    stack: typeof err.stack === 'string' ? err.stack.slice(0, 4000) : '',
  }
}

/** The outcome as one JSON text: the sandbox process checks its size before it parses it. */
function collect() {
  const out = { logs, droppedLogs }
  if (outcome === null) out.pending = true
  else if (outcome.ok) {
    const { type, value } = serialise(outcome.value)
    // Past the limit already in characters: not worth building the message (the process reports the size).
    if (value !== null && value.length > limits.maxOutputBytes) out.tooLarge = value.length
    else {
      out.type = type
      out.value = value
    }
  } else out.error = errorOf(outcome.error)
  return jsonStringify(out)
}

return { run, collect }
