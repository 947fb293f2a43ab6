import { randomBytes, timingSafeEqual } from 'node:crypto'
import { sha256Hex } from '../auth/tokens.ts'

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

export const hashApiKey = (key: string) => sha256Hex(key)
export const keyPrefix = (key: string) => key.slice(0, PREFIX_LENGTH)

export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex')
  const y = Buffer.from(b, 'hex')
  return x.length === y.length && timingSafeEqual(x, y)
}
