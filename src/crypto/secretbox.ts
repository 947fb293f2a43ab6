import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

const VERSION = 'v1'

/**
 * Encrypts small secrets at rest (provider API keys, plugin secrets) with AES-256-GCM under ENCRYPTION_KEY.
 * Output: "v1:" + base64(iv | tag | ciphertext). GCM's tag makes tampering or a wrong key fail loudly.
 */
export class SecretBox {
  readonly #key: Buffer
  constructor(hexKey: string) {
    this.#key = Buffer.from(hexKey, 'hex')
    if (this.#key.length !== 32) throw new Error('ENCRYPTION_KEY must be 32 bytes (64 hex characters)')
  }

  seal(plaintext: string, context = ''): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    // The context (e.g. "provider:openai") binds a ciphertext to its row: it cannot be swapped into another.
    cipher.setAAD(Buffer.from(context))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`
  }

  open(sealed: string, context = ''): string {
    const [version, payload] = sealed.split(':')
    if (version !== VERSION || !payload) throw new Error('unknown secret format')
    const raw = Buffer.from(payload, 'base64')
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12))
    decipher.setAAD(Buffer.from(context))
    decipher.setAuthTag(raw.subarray(12, 28))
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')
  }
}
