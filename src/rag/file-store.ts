import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SecretBox } from '../crypto/secretbox.ts'

const MAGIC = Buffer.from('ENCF1')

/**
 * Originals on the local file system, encrypted at rest with envelope encryption: every file has its own random
 * AES-256-GCM data key, stored only wrapped by the master key (in the database row). The document id is bound into
 * both ciphertexts, so neither a file nor its wrapped key can be swapped onto another document.
 * On disk: "ENCF1" | iv (12) | tag (16) | ciphertext.
 */
export class FileStore {
  readonly #master: SecretBox

  constructor(
    readonly dir: string,
    masterKeyHex: string,
  ) {
    this.#master = new SecretBox(masterKeyHex)
  }

  #path(collectionId: string, documentId: string): string {
    return join(this.dir, collectionId, `${documentId}.enc`)
  }

  /** Encrypts and writes the bytes; returns the wrapped data key to keep with the document. */
  async put(collectionId: string, documentId: string, bytes: Uint8Array): Promise<string> {
    const dataKey = randomBytes(32)
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', dataKey, iv)
    cipher.setAAD(Buffer.from(documentId))
    const body = Buffer.concat([cipher.update(bytes), cipher.final()])
    const path = this.#path(collectionId, documentId)
    await mkdir(join(this.dir, collectionId), { recursive: true, mode: 0o700 })
    // Written under a temporary name first, so a crash never leaves a half file under the real one.
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
    await writeFile(tmp, Buffer.concat([MAGIC, iv, cipher.getAuthTag(), body]), { mode: 0o600 })
    await rename(tmp, path)
    return this.#master.seal(dataKey.toString('base64'), `file:${documentId}`)
  }

  async get(collectionId: string, documentId: string, wrappedKey: string): Promise<Uint8Array> {
    const raw = Buffer.from(await Bun.file(this.#path(collectionId, documentId)).arrayBuffer())
    if (!raw.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('stored file has an unknown format')
    const dataKey = Buffer.from(this.#master.open(wrappedKey, `file:${documentId}`), 'base64')
    const at = MAGIC.length
    const decipher = createDecipheriv('aes-256-gcm', dataKey, raw.subarray(at, at + 12))
    decipher.setAAD(Buffer.from(documentId))
    decipher.setAuthTag(raw.subarray(at + 12, at + 28))
    return Buffer.concat([decipher.update(raw.subarray(at + 28)), decipher.final()])
  }

  async delete(collectionId: string, documentId: string): Promise<void> {
    await rm(this.#path(collectionId, documentId), { force: true })
  }

  async deleteCollection(collectionId: string): Promise<void> {
    await rm(join(this.dir, collectionId), { recursive: true, force: true })
  }
}
