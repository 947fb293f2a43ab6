// Headers, Request, Response and fetch, in the shape of the Fetch standard minus streams: a body is held as bytes
// (no ReadableStream, Blob or FormData; `.body` is not provided). fetch is a host call; the host decides whether
// the plugin may reach the URL.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const NULL_BODY_STATUS = [101, 103, 204, 205, 304]
const REDIRECT_STATUS = [301, 302, 303, 307, 308]

function normalizeHeaderValue(value) {
  const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '')
  if (/[\0\r\n]/.test(v)) throw new TypeError(`Headers: invalid header value ${jsonStringify(v)}`)
  return v
}

function checkHeaderName(name) {
  const n = String(name)
  if (!TOKEN.test(n)) throw new TypeError(`Headers: invalid header name ${jsonStringify(n)}`)
  return n.toLowerCase()
}

class Headers {
  #list = [] // [lowercased name, value], in insertion order

  constructor(init) {
    if (init === undefined || init === null) return
    if (init instanceof Headers) this.#list = init.#list.map(([k, v]) => [k, v])
    else if (typeof init === 'object') {
      if (typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) {
          const entry = [...pair]
          if (entry.length !== 2) throw new TypeError('Headers: each header must be a [name, value] pair')
          this.append(entry[0], entry[1])
        }
      } else for (const key of objectKeys(init)) this.append(key, init[key])
    } else throw new TypeError('Headers: init must be an object, an iterable of pairs or a Headers')
  }

  append(name, value) {
    this.#list.push([checkHeaderName(name), normalizeHeaderValue(value)])
  }
  delete(name) {
    const n = checkHeaderName(name)
    this.#list = this.#list.filter(([k]) => k !== n)
  }
  get(name) {
    const n = checkHeaderName(name)
    const values = this.#list.filter(([k]) => k === n).map(([, v]) => v)
    return values.length === 0 ? null : values.join(', ')
  }
  getSetCookie() {
    return this.#list.filter(([k]) => k === 'set-cookie').map(([, v]) => v)
  }
  has(name) {
    const n = checkHeaderName(name)
    return this.#list.some(([k]) => k === n)
  }
  set(name, value) {
    const n = checkHeaderName(name)
    const v = normalizeHeaderValue(value)
    const i = this.#list.findIndex(([k]) => k === n)
    if (i === -1) this.#list.push([n, v])
    else {
      this.#list[i][1] = v
      this.#list = this.#list.filter(([k], j) => j <= i || k !== n)
    }
  }
  /** Sorted by name and combined, except set-cookie, which stays one entry per cookie (the standard's order). */
  #sorted() {
    const names = [...new Set(this.#list.map(([k]) => k))].sort()
    const out = []
    for (const n of names) {
      if (n === 'set-cookie') for (const v of this.getSetCookie()) out.push([n, v])
      else out.push([n, this.get(n)])
    }
    return out
  }
  forEach(callback, thisArg) {
    for (const [k, v] of this.#sorted()) callback.call(thisArg, v, k, this)
  }
  *entries() {
    yield* this.#sorted()
  }
  *keys() {
    for (const [k] of this.#sorted()) yield k
  }
  *values() {
    for (const [, v] of this.#sorted()) yield v
  }
  [Symbol.iterator]() {
    return this.entries()
  }
  get [Symbol.toStringTag]() {
    return 'Headers'
  }
}

/** Bytes and default content type of a body init; copies, so later writes to a caller's buffer do not leak in. */
function extractBody(init) {
  if (init === undefined || init === null) return { bytes: null, type: null }
  if (typeof init === 'string') return { bytes: utf8Encode(init), type: 'text/plain;charset=UTF-8' }
  if (init instanceof ArrayBuffer) return { bytes: new Uint8Array(init.slice(0)), type: null }
  if (ArrayBuffer.isView(init)) return { bytes: new Uint8Array(init.buffer, init.byteOffset, init.byteLength).slice(), type: null }
  if (init instanceof URLSearchParams)
    return { bytes: utf8Encode(init.toString()), type: 'application/x-www-form-urlencoded;charset=UTF-8' }
  throw new TypeError('Body must be a string, ArrayBuffer, ArrayBufferView or URLSearchParams (no streams, Blob or FormData here)')
}

// Set by the Body class's static block: read (and consume) a body from the runtime without going through methods
// a plugin may have replaced.
let takeBodyBytes
let peekBody

class Body {
  #bytes
  #used = false

  static {
    takeBodyBytes = (body) => {
      if (body.#used) throw new TypeError('Body has already been used')
      body.#used = true
      return body.#bytes
    }
    peekBody = (body) => {
      if (body.#used) throw new TypeError('Body has already been used')
      return body.#bytes
    }
  }

  constructor(bytes) {
    this.#bytes = bytes
  }
  get bodyUsed() {
    return this.#used
  }
  #consume() {
    if (this.#used) return Promise.reject(new TypeError('Body has already been used'))
    this.#used = true
    return Promise.resolve(this.#bytes ?? new Uint8Array(0))
  }
  async arrayBuffer() {
    const b = await this.#consume()
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)
  }
  async bytes() {
    return (await this.#consume()).slice()
  }
  async text() {
    return utf8Decode(await this.#consume())
  }
  async json() {
    return jsonParse(await this.text())
  }
  async blob() {
    throw new TypeError('Blob is not available in plugins; use arrayBuffer() or bytes()')
  }
  async formData() {
    throw new TypeError('FormData is not available in plugins; parse the body with text() and URLSearchParams')
  }
}

function normalizeMethod(method) {
  const m = String(method)
  if (!TOKEN.test(m)) throw new TypeError(`Request: invalid method ${jsonStringify(m)}`)
  const upper = m.toUpperCase()
  if (upper === 'CONNECT' || upper === 'TRACE' || upper === 'TRACK') throw new TypeError(`Request: method ${m} is forbidden`)
  return ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'].includes(upper) ? upper : m
}

class Request extends Body {
  #method
  #url
  #headers
  #redirect

  constructor(input, init = {}) {
    init = init ?? {}
    let url
    let method = 'GET'
    let headers
    let bytes = null
    let redirect = 'follow'
    if (input instanceof Request) {
      url = input.url
      method = input.method
      headers = input.headers
      redirect = input.redirect
      if (init.body === undefined) bytes = peekBody(input)
    } else url = new URL(String(input)).href
    if (init.method !== undefined) method = normalizeMethod(init.method)
    if (init.redirect !== undefined) {
      if (!['follow', 'manual', 'error'].includes(init.redirect)) throw new TypeError(`Request: invalid redirect ${init.redirect}`)
      redirect = init.redirect
    }
    const h = new Headers(init.headers ?? headers)
    if (init.body !== undefined && init.body !== null) {
      const extracted = extractBody(init.body)
      bytes = extracted.bytes
      if (extracted.type !== null && !h.has('content-type')) h.set('content-type', extracted.type)
    }
    if (bytes !== null && (method === 'GET' || method === 'HEAD')) throw new TypeError(`Request with ${method} method cannot have a body`)
    super(bytes)
    this.#method = method
    this.#url = url
    this.#headers = h
    this.#redirect = redirect
  }
  get method() {
    return this.#method
  }
  get url() {
    return this.#url
  }
  get headers() {
    return this.#headers
  }
  get redirect() {
    return this.#redirect
  }
  clone() {
    return new Request(this)
  }
  get [Symbol.toStringTag]() {
    return 'Request'
  }
}

let setResponseUrl

class Response extends Body {
  #status
  #statusText
  #headers
  #type = 'default'
  #url = ''

  static {
    setResponseUrl = (res, url) => {
      res.#url = url
      res.#type = 'basic'
    }
  }

  constructor(body = null, init = {}) {
    init = init ?? {}
    const status = init.status === undefined ? 200 : Number(init.status)
    if (!Number.isInteger(status) || status < 200 || status > 599)
      throw new RangeError(`Response: status must be an integer in [200, 599], got ${String(init.status)}`)
    const statusText = init.statusText === undefined ? '' : String(init.statusText)
    if (/[^\t\x20-\x7e\x80-\xff]/.test(statusText)) throw new TypeError('Response: invalid statusText')
    const h = new Headers(init.headers)
    let bytes = null
    if (body !== null && body !== undefined) {
      if (NULL_BODY_STATUS.includes(status)) throw new TypeError(`Response with status ${status} cannot have a body`)
      const extracted = extractBody(body)
      bytes = extracted.bytes
      if (extracted.type !== null && !h.has('content-type')) h.set('content-type', extracted.type)
    }
    super(bytes)
    this.#status = status
    this.#statusText = statusText
    this.#headers = h
  }

  static json(data, init = {}) {
    const text = jsonStringify(data)
    if (text === undefined) throw new TypeError('Response.json: the value is not JSON-serializable')
    const headers = new Headers(init?.headers)
    if (!headers.has('content-type')) headers.set('content-type', 'application/json')
    return new Response(text, { ...init, headers })
  }
  static redirect(url, status = 302) {
    if (!REDIRECT_STATUS.includes(status)) throw new RangeError(`Response.redirect: invalid status ${status}`)
    return new Response(null, { status, headers: { location: new URL(String(url)).href } })
  }
  static error() {
    throw new TypeError('Response.error() is not supported in plugins')
  }

  get status() {
    return this.#status
  }
  get statusText() {
    return this.#statusText
  }
  get ok() {
    return this.#status >= 200 && this.#status <= 299
  }
  get headers() {
    return this.#headers
  }
  get type() {
    return this.#type
  }
  get url() {
    return this.#url
  }
  get redirected() {
    return false
  }
  clone() {
    const bytes = peekBody(this)
    const copy = new Response(bytes === null ? null : bytes, { status: this.#status, statusText: this.#statusText, headers: this.#headers })
    if (this.#url !== '') setResponseUrl(copy, this.#url)
    return copy
  }
  get [Symbol.toStringTag]() {
    return 'Response'
  }
}

function wireBody(message, what) {
  if (message.body === undefined || message.body === null) return null
  if (typeof message.body !== 'string') throw new TypeError(`${what}: body must be a string`)
  if (message.bodyEncoding === 'base64') {
    const bytes = base64ToBytes(message.body)
    if (bytes === null) throw new TypeError(`${what}: body is not valid base64`)
    return bytes
  }
  return utf8Encode(message.body)
}

/** A Response from the host's answer to a `fetch` host call: { status, statusText?, headers, body?, bodyEncoding? }. */
function responseFromWire(wire, url) {
  if (typeof wire !== 'object' || wire === null) throw new TypeError('fetch: the host returned no response')
  let bytes = wireBody(wire, 'fetch')
  const status = Number(wire.status)
  if (NULL_BODY_STATUS.includes(status)) bytes = null
  const res = new Response(bytes, { status, statusText: wire.statusText ?? '', headers: wire.headers ?? [] })
  setResponseUrl(res, url)
  return res
}

function requestToWire(req) {
  const bytes = takeBodyBytes(req)
  return {
    method: req.method,
    url: req.url,
    headers: [...req.headers],
    body: bytes === null ? null : bytesToBase64(bytes),
    bodyEncoding: 'base64',
    redirect: req.redirect,
  }
}
