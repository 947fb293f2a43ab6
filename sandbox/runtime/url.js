// URL and URLSearchParams. Parsing and setters go to the sandbox process's own WHATWG parser (Node's URL) through
// a synchronous callback that sees only strings: exact standard behaviour without a hand-written parser.
// URLSearchParams is plain JS (application/x-www-form-urlencoded is small and fully specified).

// The native side answers with the fields in this order:
// href, origin, protocol, username, password, host, hostname, port, pathname, search, hash.

function isUnreserved(b) {
  // The urlencoded serializer leaves these bytes alone: ASCII alphanumerics and *-._
  return (
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2a || b === 0x2d || b === 0x2e || b === 0x5f
  )
}

const HEX = '0123456789ABCDEF'

function formEncode(str) {
  const bytes = utf8Encode(str)
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]
    if (isUnreserved(b)) out += String.fromCharCode(b)
    else if (b === 0x20) out += '+'
    else out += '%' + HEX[b >> 4] + HEX[b & 15]
  }
  return out
}

function hexValue(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}

function formDecode(str) {
  const bytes = utf8Encode(str.replace(/\+/g, ' '))
  const out = new Uint8Array(bytes.length)
  let w = 0
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]
    if (b === 0x25 && i + 2 < bytes.length) {
      const hi = hexValue(bytes[i + 1])
      const lo = hexValue(bytes[i + 2])
      if (hi >= 0 && lo >= 0) {
        out[w++] = (hi << 4) | lo
        i += 2
        continue
      }
    }
    out[w++] = b
  }
  return utf8Decode(out.subarray(0, w))
}

function parseQuery(query) {
  const list = []
  for (const part of query.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = eq === -1 ? part : part.slice(0, eq)
    const value = eq === -1 ? '' : part.slice(eq + 1)
    list.push([formDecode(name), formDecode(value)])
  }
  return list
}

// Set by the classes' static blocks, so the two classes can reach each other's private state while plugin code
// cannot: a URL's searchParams writes its serialization back into the URL, and a new search resets the params.
let setUrlQuery
let attachParams
let resetParams

class URLSearchParams {
  #list = []
  #url = null

  constructor(init = '') {
    if (init instanceof URLSearchParams) this.#list = init.#list.map(([k, v]) => [k, v])
    else if (typeof init === 'object' && init !== null) {
      if (typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) {
          const entry = [...pair]
          if (entry.length !== 2) throw new TypeError('URLSearchParams: each pair must have exactly two items')
          this.#list.push([String(entry[0]), String(entry[1])])
        }
      } else for (const key of objectKeys(init)) this.#list.push([key, String(init[key])])
    } else {
      const s = String(init)
      this.#list = parseQuery(s.startsWith('?') ? s.slice(1) : s)
    }
  }

  static {
    attachParams = (params, url, query) => {
      params.#url = url
      params.#list = parseQuery(query)
    }
    resetParams = (params, query) => {
      params.#list = parseQuery(query)
    }
  }

  #update() {
    if (this.#url !== null) setUrlQuery(this.#url, this.toString())
  }

  get size() {
    return this.#list.length
  }
  append(name, value) {
    this.#list.push([String(name), String(value)])
    this.#update()
  }
  delete(name, value) {
    name = String(name)
    const v = value === undefined ? undefined : String(value)
    this.#list = this.#list.filter(([k, x]) => k !== name || (v !== undefined && x !== v))
    this.#update()
  }
  get(name) {
    name = String(name)
    const found = this.#list.find(([k]) => k === name)
    return found ? found[1] : null
  }
  getAll(name) {
    name = String(name)
    return this.#list.filter(([k]) => k === name).map(([, v]) => v)
  }
  has(name, value) {
    name = String(name)
    const v = value === undefined ? undefined : String(value)
    return this.#list.some(([k, x]) => k === name && (v === undefined || x === v))
  }
  set(name, value) {
    name = String(name)
    value = String(value)
    const i = this.#list.findIndex(([k]) => k === name)
    if (i === -1) this.#list.push([name, value])
    else {
      this.#list[i][1] = value
      this.#list = this.#list.filter(([k], j) => j <= i || k !== name)
    }
    this.#update()
  }
  sort() {
    // Array.prototype.sort is stable; comparison by UTF-16 code units, as the standard asks.
    this.#list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    this.#update()
  }
  forEach(callback, thisArg) {
    for (const [k, v] of this.#list) callback.call(thisArg, v, k, this)
  }
  *entries() {
    for (const [k, v] of this.#list) yield [k, v]
  }
  *keys() {
    for (const [k] of this.#list) yield k
  }
  *values() {
    for (const [, v] of this.#list) yield v
  }
  [Symbol.iterator]() {
    return this.entries()
  }
  toString() {
    return this.#list.map(([k, v]) => formEncode(k) + '=' + formEncode(v)).join('&')
  }
  get [Symbol.toStringTag]() {
    return 'URLSearchParams'
  }
}

// The isolate runs on isolated-vm's thread pool, so each synchronous call to the native parser is a round trip to
// the sandbox process's main thread: about 150 us against 1 us for the parse itself (measured on two busy cores),
// which was most of a plain route's time in the sandbox. A parse without a base is a pure function of its input, so
// the last few are kept here (in the plugin's own heap, a bounded number of bounded strings), and the sandbox hands
// each route invocation the parse of its request URL (seedUrl): `new Request(url)` and `new URL(req.url)` then
// need no trip. The arrays are frozen, since URL objects share them.
const URL_CACHE_MAX = 32
const URL_CACHE_INPUT_MAX = 4096
const urlCache = new Map() // input -> fields

function rememberUrl(input, fields) {
  if (input.length > URL_CACHE_INPUT_MAX || urlCache.has(input)) return
  if (urlCache.size >= URL_CACHE_MAX) urlCache.delete(urlCache.keys().next().value)
  urlCache.set(input, fields)
}

/** The sandbox's parse of `input` (a route request's URL), as the native side answers it. */
function seedUrl(input, fields) {
  if (typeof input !== 'string' || !ArrayIsArray(fields) || fields.length !== 11) return
  for (let i = 0; i < 11; i++) if (typeof fields[i] !== 'string') return
  const frozen = freeze(fields)
  rememberUrl(input, frozen)
  rememberUrl(frozen[0], frozen)
}

function nativeUrl(op, a, b, c) {
  const cacheable = op === 'parse' && b === undefined
  if (cacheable) {
    const hit = urlCache.get(a)
    if (hit !== undefined) return hit
  }
  const fields = native.url(op, a, b, c)
  if (fields === null || fields === undefined) return null
  if (!cacheable) return fields
  const frozen = freeze(fields)
  rememberUrl(a, frozen)
  return frozen
}

class URL {
  #f
  #params = null

  static {
    setUrlQuery = (url, query) => {
      const f = nativeUrl('set', url.#f[0], 'search', query)
      if (f !== null) url.#f = f
    }
  }

  constructor(url, base) {
    if (arguments.length === 0) throw new TypeError('URL: 1 argument required')
    const f = nativeUrl('parse', String(url), base === undefined ? undefined : String(base))
    if (f === null) throw new TypeError(`Invalid URL: ${String(url)}`)
    this.#f = f
  }

  static canParse(url, base) {
    return nativeUrl('parse', String(url), base === undefined ? undefined : String(base)) !== null
  }
  static parse(url, base) {
    try {
      return new URL(url, base)
    } catch {
      return null
    }
  }

  #set(name, value) {
    const f = nativeUrl('set', this.#f[0], name, String(value))
    if (f === null) {
      if (name === 'href') throw new TypeError(`Invalid URL: ${String(value)}`)
      return
    }
    this.#f = f
    if (this.#params !== null && (name === 'href' || name === 'search')) resetParams(this.#params, this.#f[9].slice(1))
  }

  get href() {
    return this.#f[0]
  }
  set href(v) {
    this.#set('href', v)
  }
  get origin() {
    return this.#f[1]
  }
  get protocol() {
    return this.#f[2]
  }
  set protocol(v) {
    this.#set('protocol', v)
  }
  get username() {
    return this.#f[3]
  }
  set username(v) {
    this.#set('username', v)
  }
  get password() {
    return this.#f[4]
  }
  set password(v) {
    this.#set('password', v)
  }
  get host() {
    return this.#f[5]
  }
  set host(v) {
    this.#set('host', v)
  }
  get hostname() {
    return this.#f[6]
  }
  set hostname(v) {
    this.#set('hostname', v)
  }
  get port() {
    return this.#f[7]
  }
  set port(v) {
    this.#set('port', v)
  }
  get pathname() {
    return this.#f[8]
  }
  set pathname(v) {
    this.#set('pathname', v)
  }
  get search() {
    return this.#f[9]
  }
  set search(v) {
    this.#set('search', v)
  }
  get hash() {
    return this.#f[10]
  }
  set hash(v) {
    this.#set('hash', v)
  }
  get searchParams() {
    if (this.#params === null) {
      this.#params = new URLSearchParams()
      attachParams(this.#params, this, this.#f[9].slice(1))
    }
    return this.#params
  }
  toString() {
    return this.#f[0]
  }
  toJSON() {
    return this.#f[0]
  }
  get [Symbol.toStringTag]() {
    return 'URL'
  }
}
