// Runs inside each plugin isolate (see runtime/README in sandbox/README.md): DOMException, TextEncoder,
// TextDecoder, atob, btoa. Pure JS: a bare V8 context has none of them, and none needs the host.

class DOMException extends Error {
  constructor(message = '', name = 'Error') {
    super(String(message))
    defineProperty(this, 'name', { value: String(name), writable: true, configurable: true })
  }
}

function toBytes(input, what) {
  if (input === undefined) return new Uint8Array(0)
  if (input instanceof ArrayBuffer) return new Uint8Array(input)
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
  throw new TypeError(`${what}: expected an ArrayBuffer or ArrayBufferView`)
}

/** UTF-8 bytes of a JS string; lone surrogates become U+FFFD, as the Encoding standard says. */
function utf8Length(str) {
  let n = 0
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < str.length) {
      const d = str.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4
        i++
      } else n += 3
    } else n += 3
  }
  return n
}

/** Writes as many whole characters as fit; returns [UTF-16 units read, bytes written]. */
function utf8Write(str, out) {
  const max = out.length
  let i = 0
  let w = 0
  while (i < str.length) {
    let cp = str.charCodeAt(i)
    let units = 1
    if (cp >= 0xd800 && cp <= 0xdfff) {
      const d = i + 1 < str.length ? str.charCodeAt(i + 1) : 0
      if (cp <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (d - 0xdc00)
        units = 2
      } else cp = 0xfffd
    }
    if (cp < 0x80) {
      if (w + 1 > max) break
      out[w++] = cp
    } else if (cp < 0x800) {
      if (w + 2 > max) break
      out[w++] = 0xc0 | (cp >> 6)
      out[w++] = 0x80 | (cp & 0x3f)
    } else if (cp < 0x10000) {
      if (w + 3 > max) break
      out[w++] = 0xe0 | (cp >> 12)
      out[w++] = 0x80 | ((cp >> 6) & 0x3f)
      out[w++] = 0x80 | (cp & 0x3f)
    } else {
      if (w + 4 > max) break
      out[w++] = 0xf0 | (cp >> 18)
      out[w++] = 0x80 | ((cp >> 12) & 0x3f)
      out[w++] = 0x80 | ((cp >> 6) & 0x3f)
      out[w++] = 0x80 | (cp & 0x3f)
    }
    i += units
  }
  return [i, w]
}

function utf8Encode(str) {
  const out = new Uint8Array(utf8Length(str))
  utf8Write(str, out)
  return out
}

/** Collects UTF-16 code units and turns them into a string in chunks (apply has an argument limit). */
function unitsToString(units, count) {
  let s = ''
  for (let i = 0; i < count; i += 8192) s += String.fromCharCode.apply(null, units.subarray(i, Math.min(count, i + 8192)))
  return s
}

/** The Encoding standard's UTF-8 decoder, with its state kept between `stream: true` calls. */
class Utf8Decoder {
  needed = 0
  seen = 0
  cp = 0
  lower = 0x80
  upper = 0xbf

  decode(bytes, fatal, flush) {
    const units = new Uint16Array(bytes.length + 1)
    let n = 0
    const fail = () => {
      if (fatal) {
        this.reset()
        throw new TypeError('The encoded data was not valid UTF-8')
      }
      units[n++] = 0xfffd
    }
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]
      if (this.needed === 0) {
        if (b < 0x80) units[n++] = b
        else if (b >= 0xc2 && b <= 0xdf) {
          this.needed = 1
          this.cp = b & 0x1f
        } else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) this.lower = 0xa0
          if (b === 0xed) this.upper = 0x9f
          this.needed = 2
          this.cp = b & 0x0f
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) this.lower = 0x90
          if (b === 0xf4) this.upper = 0x8f
          this.needed = 3
          this.cp = b & 0x07
        } else fail()
        continue
      }
      if (b < this.lower || b > this.upper) {
        this.reset()
        fail()
        i-- // the offending byte starts the next sequence
        continue
      }
      this.lower = 0x80
      this.upper = 0xbf
      this.cp = (this.cp << 6) | (b & 0x3f)
      if (++this.seen === this.needed) {
        const cp = this.cp
        this.reset()
        if (cp < 0x10000) units[n++] = cp
        else {
          // A 4-byte sequence needs two units where the buffer budgeted one per byte: always fits.
          units[n++] = 0xd800 + ((cp - 0x10000) >> 10)
          units[n++] = 0xdc00 + ((cp - 0x10000) & 0x3ff)
        }
      }
    }
    if (flush && this.needed !== 0) {
      this.reset()
      fail()
    }
    return unitsToString(units, n)
  }

  reset() {
    this.needed = 0
    this.seen = 0
    this.cp = 0
    this.lower = 0x80
    this.upper = 0xbf
  }
}

function utf8Decode(bytes) {
  return new Utf8Decoder().decode(bytes, false, true)
}

class TextEncoder {
  get encoding() {
    return 'utf-8'
  }
  encode(input = '') {
    return utf8Encode(String(input))
  }
  encodeInto(source, destination) {
    if (!(destination instanceof Uint8Array)) throw new TypeError('encodeInto: destination must be a Uint8Array')
    const [read, written] = utf8Write(String(source), destination)
    return { read, written }
  }
}

const UTF8_LABELS = ['unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'utf-8', 'utf8', 'x-unicode20utf8']

class TextDecoder {
  #fatal
  #ignoreBOM
  #decoder = new Utf8Decoder()
  #bomChecked = false

  constructor(label = 'utf-8', options = {}) {
    const normalized = String(label).trim().toLowerCase()
    if (!UTF8_LABELS.includes(normalized))
      throw new RangeError(`TextDecoder: the "${label}" encoding is not supported (only utf-8 is)`)
    this.#fatal = Boolean(options?.fatal)
    this.#ignoreBOM = Boolean(options?.ignoreBOM)
  }
  get encoding() {
    return 'utf-8'
  }
  get fatal() {
    return this.#fatal
  }
  get ignoreBOM() {
    return this.#ignoreBOM
  }
  decode(input, options = {}) {
    const stream = Boolean(options?.stream)
    let text = this.#decoder.decode(toBytes(input, 'TextDecoder.decode'), this.#fatal, !stream)
    if (!this.#bomChecked && text.length > 0) {
      this.#bomChecked = true
      if (!this.#ignoreBOM && text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    if (!stream) this.#bomChecked = false
    return text
  }
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const B64_INDEX = new Int16Array(128).fill(-1)
for (let i = 0; i < 64; i++) B64_INDEX[B64.charCodeAt(i)] = i

function bytesToBase64(bytes) {
  let out = ''
  let chunk = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2]
    chunk += B64[v >> 18] + B64[(v >> 12) & 63] + B64[(v >> 6) & 63] + B64[v & 63]
    if (chunk.length >= 8192) {
      out += chunk
      chunk = ''
    }
  }
  if (i < bytes.length) {
    const v = (bytes[i] << 16) | (i + 1 < bytes.length ? bytes[i + 1] << 8 : 0)
    chunk += B64[v >> 18] + B64[(v >> 12) & 63] + (i + 1 < bytes.length ? B64[(v >> 6) & 63] : '=') + '='
  }
  return out + chunk
}

/** The HTML standard's forgiving-base64 decode; null when the input is not base64. */
function base64ToBytes(input) {
  let s = input.replace(/[\t\n\f\r ]/g, '')
  if (s.length % 4 === 0) s = s.replace(/={1,2}$/, '')
  if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s)) return null
  const out = new Uint8Array(Math.floor((s.length * 3) / 4))
  let buffer = 0
  let bits = 0
  let w = 0
  for (let i = 0; i < s.length; i++) {
    buffer = (buffer << 6) | B64_INDEX[s.charCodeAt(i)]
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[w++] = (buffer >> bits) & 0xff
    }
  }
  return out
}

function btoa(data) {
  if (arguments.length === 0) throw new TypeError('btoa: 1 argument required')
  const s = String(data)
  const bytes = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 0xff) throw new DOMException('btoa: the string contains characters outside of the Latin1 range', 'InvalidCharacterError')
    bytes[i] = c
  }
  return bytesToBase64(bytes)
}

function atob(data) {
  if (arguments.length === 0) throw new TypeError('atob: 1 argument required')
  const bytes = base64ToBytes(String(data))
  if (bytes === null) throw new DOMException('atob: the string is not correctly encoded', 'InvalidCharacterError')
  let s = ''
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192))
  return s
}
