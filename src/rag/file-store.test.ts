/** Originals are encrypted at rest under a per-file key, bound to their document. */
import { afterAll, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileStore, UnreadableFileError } from './file-store.ts'

const dir = mkdtempSync(join(tmpdir(), 'enclava-filestore-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const master = randomBytes(32).toString('hex')
const store = new FileStore(dir, master)
const plaintext = new TextEncoder().encode('Quarterly revenue grew 12% — confidential board memo. '.repeat(20))

test('the bytes on disk are not the plaintext, and come back intact', async () => {
  const wrapped = await store.put('col-1', 'doc-1', plaintext)
  const onDisk = readFileSync(join(dir, 'col-1', 'doc-1.enc'))
  expect(onDisk.includes(Buffer.from('confidential board memo'))).toBe(false)
  expect(onDisk.byteLength).toBe(plaintext.byteLength + 5 + 12 + 16)
  expect(wrapped).not.toContain(master)
  expect(Buffer.from(await store.get('col-1', 'doc-1', wrapped)).equals(Buffer.from(plaintext))).toBe(true)
  expect(readdirSync(join(dir, 'col-1'))).toEqual(['doc-1.enc'])
})

test('each file has its own data key', async () => {
  const a = await store.put('col-1', 'doc-a', plaintext)
  const b = await store.put('col-1', 'doc-b', plaintext)
  expect(a).not.toBe(b)
  expect(readFileSync(join(dir, 'col-1', 'doc-a.enc')).equals(readFileSync(join(dir, 'col-1', 'doc-b.enc')))).toBe(false)
})

test('a wrong master key, a swapped key, a tampered or a missing file fail loudly, as unreadable for good', async () => {
  const wrapped = await store.put('col-2', 'doc-x', plaintext)
  const other = await store.put('col-2', 'doc-y', plaintext)
  await expect(new FileStore(dir, randomBytes(32).toString('hex')).get('col-2', 'doc-x', wrapped)).rejects.toThrow(UnreadableFileError)
  // doc-y's wrapped key is bound to doc-y.
  await expect(store.get('col-2', 'doc-x', other)).rejects.toThrow(UnreadableFileError)
  const path = join(dir, 'col-2', 'doc-x.enc')
  const bytes = readFileSync(path)
  bytes[bytes.length - 1]! ^= 1
  writeFileSync(path, bytes)
  await expect(store.get('col-2', 'doc-x', wrapped)).rejects.toThrow(UnreadableFileError)
  await expect(store.get('col-2', 'doc-z', wrapped)).rejects.toThrow(UnreadableFileError)
})

test('delete removes the file; deleting a collection removes its folder', async () => {
  await store.put('col-3', 'doc-1', plaintext)
  await store.put('col-3', 'doc-2', plaintext)
  await store.delete('col-3', 'doc-1')
  expect(readdirSync(join(dir, 'col-3'))).toEqual(['doc-2.enc'])
  await store.deleteCollection('col-3')
  expect(readdirSync(dir)).not.toContain('col-3')
})

test('several files at once: each readable with its key, in order; one that fails is reported after all others have landed, leaving no temporary file', async () => {
  const many = Array.from({ length: 60 }, (_, i) => ({ documentId: `m-${i}`, bytes: new TextEncoder().encode(`file ${i} `.repeat(50 + i)) }))
  const keys = await store.putMany('col-many', many)
  expect(keys).toHaveLength(60)
  for (const [i, f] of many.entries()) expect(Buffer.from(await store.get('col-many', f.documentId, keys[i]!)).equals(Buffer.from(f.bytes))).toBe(true)

  // The first write cannot even start (its folder does not exist); the others (a megabyte each) are under way when
  // it fails.
  const big = new Uint8Array(1 << 20).fill(7)
  const failing = [{ documentId: 'no-such-folder/x', bytes: plaintext }, ...many.map((f) => ({ documentId: `n-${f.documentId}`, bytes: big }))]
  await expect(store.putMany('col-fail', failing)).rejects.toThrow()
  const left = readdirSync(join(dir, 'col-fail'))
  expect(left.filter((f) => f.endsWith('.tmp'))).toEqual([])
  expect(left.sort()).toEqual(many.map((f) => `n-${f.documentId}.enc`).sort())
})

test('a write never replaces a stored original: the same id again is refused and the first stays readable', async () => {
  const first = await store.put('col-once', 'doc-1', plaintext)
  await expect(store.put('col-once', 'doc-1', new TextEncoder().encode('another text'))).rejects.toThrow(/EEXIST|exists/)
  expect(Buffer.from(await store.get('col-once', 'doc-1', first)).equals(Buffer.from(plaintext))).toBe(true)
  expect(readdirSync(join(dir, 'col-once'))).toEqual(['doc-1.enc'])
})
