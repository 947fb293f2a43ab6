// structuredClone, crypto and console. structuredClone is JS on purpose: a round trip through the sandbox
// process would copy a plugin's (possibly huge) object graph into the heap every plugin shares.

const TYPED_ARRAYS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float16Array: globalThis.Float16Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
}
const ERROR_TYPES = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError }
const objectTag = (v) => ObjectToString(v).slice(8, -1)

function cloneError(what) {
  return new DOMException(`structuredClone: ${what} could not be cloned`, 'DataCloneError')
}

/** The HTML structured clone for the types a plugin can hold: no transfer, and no platform objects. */
function structuredClone(value, options) {
  if (arguments.length === 0) throw new TypeError('structuredClone: 1 argument required')
  if (options?.transfer !== undefined && [...options.transfer].length > 0)
    throw new DOMException('structuredClone: transfer is not supported in plugins', 'DataCloneError')
  const seen = new Map()
  const copyProps = (from, to) => {
    for (const key of objectKeys(from)) to[key] = clone(from[key])
    return to
  }
  const clone = (v) => {
    if (typeof v === 'function') throw cloneError(`function ${v.name || '(anonymous)'}`)
    if (typeof v === 'symbol') throw cloneError(String(v))
    if (typeof v !== 'object' || v === null) return v
    if (seen.has(v)) return seen.get(v)
    const tag = objectTag(v)
    let out
    if (ArrayIsArray(v)) {
      out = new Array(v.length)
      seen.set(v, out)
      return copyProps(v, out)
    }
    switch (tag) {
      case 'Object':
        if (v instanceof Headers || v instanceof Request || v instanceof Response || v instanceof URL || v instanceof URLSearchParams)
          throw cloneError(v.constructor.name)
        out = {}
        seen.set(v, out)
        return copyProps(v, out)
      case 'Date':
        out = new Date(DateGetTime(v))
        break
      case 'RegExp':
        out = new RegExp(v.source, v.flags)
        break
      case 'Boolean':
      case 'Number':
      case 'String':
      case 'BigInt':
        out = Object(v.valueOf())
        break
      case 'ArrayBuffer':
        out = v.slice(0)
        break
      case 'DataView':
        out = new DataView(clone(v.buffer), v.byteOffset, v.byteLength)
        break
      case 'Map':
        out = new Map()
        seen.set(v, out)
        for (const [k, x] of v) out.set(clone(k), clone(x))
        return out
      case 'Set':
        out = new Set()
        seen.set(v, out)
        for (const x of v) out.add(clone(x))
        return out
      case 'Error': {
        const Type = objectHasOwn(ERROR_TYPES, v.name) ? ERROR_TYPES[v.name] : Error
        out = new Type(objectHasOwn(v, 'message') ? String(v.message) : '')
        if (typeof v.stack === 'string') out.stack = v.stack
        if (objectHasOwn(v, 'cause')) out.cause = clone(v.cause)
        break
      }
      default:
        if (objectHasOwn(TYPED_ARRAYS, tag) && TYPED_ARRAYS[tag] !== undefined) {
          out = new TYPED_ARRAYS[tag](clone(v.buffer), v.byteOffset, v.length)
          break
        }
        throw cloneError(tag)
    }
    seen.set(v, out)
    return out
  }
  return clone(value)
}

// Randomness comes from the sandbox process's CSPRNG; small requests are served from a pool so a randomUUID
// does not pay a synchronous host round trip each time.
let randomPool = new Uint8Array(0)
let randomPos = 0

function randomFill(target) {
  const n = target.length
  if (n > 1024) {
    target.set(native.random(n))
    return
  }
  if (randomPos + n > randomPool.length) {
    randomPool = native.random(4096)
    randomPos = 0
  }
  target.set(randomPool.subarray(randomPos, randomPos + n))
  randomPool.fill(0, randomPos, randomPos + n)
  randomPos += n
}

const crypto = freeze({
  getRandomValues(array) {
    const tag = ArrayBuffer.isView(array) ? objectTag(array) : ''
    if (!['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array'].includes(tag))
      throw new DOMException('getRandomValues: expected an integer TypedArray', 'TypeMismatchError')
    if (array.byteLength > 65536)
      throw new DOMException(`getRandomValues: ${array.byteLength} bytes requested, at most 65536 allowed`, 'QuotaExceededError')
    randomFill(new Uint8Array(array.buffer, array.byteOffset, array.byteLength))
    return array
  },
  randomUUID() {
    const b = new Uint8Array(16)
    randomFill(b)
    b[6] = (b[6] & 0x0f) | 0x40
    b[8] = (b[8] & 0x3f) | 0x80
    let hex = ''
    for (let i = 0; i < 16; i++) hex += (b[i] < 16 ? '0' : '') + b[i].toString(16)
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
  },
})

const MAX_LOG_CHARS = 8192

function describe(v) {
  if (typeof v === 'string') return v
  if (v instanceof Error) return typeof v.stack === 'string' ? v.stack : `${v.name}: ${v.message}`
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return String(v)
  if (typeof v !== 'object' || v === null) return String(v)
  if (v instanceof URL || v instanceof URLSearchParams) return `${v[Symbol.toStringTag]} ${v.toString()}`
  try {
    const seen = new WeakSet()
    return jsonStringify(v, (_k, x) => {
      if (typeof x === 'bigint') return `${x}n`
      if (typeof x === 'function') return `[Function ${x.name || '(anonymous)'}]`
      if (typeof x === 'object' && x !== null) {
        if (seen.has(x)) return '[Circular]'
        seen.add(x)
        if (x instanceof Map) return { Map: [...x] }
        if (x instanceof Set) return { Set: [...x] }
      }
      return x
    })
  } catch {
    return String(v)
  }
}

function emitLog(level, args) {
  let message = ''
  for (let i = 0; i < args.length && message.length <= MAX_LOG_CHARS; i++) message += (i === 0 ? '' : ' ') + describe(args[i])
  if (message.length > MAX_LOG_CHARS) message = message.slice(0, MAX_LOG_CHARS) + '… [truncated]'
  native.log(current !== null && invocations.has(current) ? current : '', level, message)
}

const console = freeze({
  log: (...args) => emitLog('info', args),
  info: (...args) => emitLog('info', args),
  warn: (...args) => emitLog('warn', args),
  error: (...args) => emitLog('error', args),
  debug: (...args) => emitLog('debug', args),
  trace: (...args) => emitLog('debug', args),
  dir: (value) => emitLog('info', [value]),
  assert: (condition, ...args) => {
    if (!condition) emitLog('error', ['Assertion failed', ...args])
  },
})
