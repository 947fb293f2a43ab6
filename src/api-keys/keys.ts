import { randomBytes, timingSafeEqual } from 'node:crypto'

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const SECRET_LENGTH = 40
export const KEY_PATTERN = /^en_[0-9A-Za-z]{40}$/
/** The stored lookup prefix: the first 8 characters of the key, "en_" included. */
export const PREFIX_LENGTH = 8

/** `en_` + 40 base62 characters (~238 bits). Rejection sampling keeps every character equally likely. */
export function generateApiKey(): string {
  let out = ''
  while (out.length < SECRET_LENGTH) {
    for (const byte of randomBytes(64)) {
      if (byte < 248 && out.length < SECRET_LENGTH) out += BASE62[byte % 62]
    }
  }
  return `en_${out}`
}

/**
 * SHA-256, hex. Bun's one-shot hash: every request with a key hashes it (twice, with the body-size check), and
 * node:crypto's createHash took 0.8 µs a call to this one's 0.2 µs. Same digest as sha256Hex, so stored hashes hold.
 */
export const hashApiKey = (key: string): string => Bun.SHA256.hash(key, 'hex')
export const keyPrefix = (key: string) => key.slice(0, PREFIX_LENGTH)

export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex')
  const y = Buffer.from(b, 'hex')
  return x.length === y.length && timingSafeEqual(x, y)
}
