/**
 * The encrypted originals, small ones in the database and large ones on disk: a document whose original is gone or
 * damaged fails at once with a message naming it (retrying cannot bring it back), and what crashed writes and uploads
 * leave on disk is removed at start-up, but only once it is old enough that no upload in flight on another replica
 * can still own it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { INLINE_ORIGINAL_BYTES } from './file-store.ts'

let env: TestEnv
let owner: Awaited<ReturnType<TestEnv['user']>>

beforeAll(async () => {
  env = await createTestEnv({ RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  owner = await env.user('user')
})
afterAll(async () => {
  await env.close()
})

const R = '/api-internal/v1/rag'

async function collection(): Promise<string> {
  const res = await env.call('POST', `${R}/collections`, { token: owner.token, body: { name: `c-${crypto.randomUUID().slice(0, 8)}` } })
  expect(res.status).toBe(201)
  return res.body.id
}

async function upload(collectionId: string, name: string, text: string): Promise<string> {
  const form = new FormData()
  form.append('files', new File([text], name))
  const res = await env.app.handle(
    new Request(`http://localhost${R}/collections/${collectionId}/documents`, { method: 'POST', headers: { authorization: `Bearer ${owner.token}` }, body: form }),
  )
  expect(res.status).toBe(202)
  return ((await res.json()) as any).accepted[0].id
}

const doc = async (id: string) => (await env.call('GET', `${R}/documents/${id}`, { token: owner.token })).body
const original = (collectionId: string, documentId: string) => join(env.s.rag.files.dir, collectionId, `${documentId}.enc`)
/** A text over INLINE_ORIGINAL_BYTES, whose original is a file. */
const large = (text: string) => `${text} `.repeat(Math.ceil((INLINE_ORIGINAL_BYTES + 1) / (text.length + 1)))

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 30_000
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(20)
  }
}

describe('a stored original that cannot be read', () => {
  const flipLast = (bytes: Buffer) => {
    bytes[bytes.length - 1]! ^= 1
    return bytes
  }
  // [what, a large original (a file) or a small one (a row), the damage, the reason given]
  const cases: [string, boolean, (collectionId: string, documentId: string) => Promise<void> | void, RegExp][] = [
    ['removed from disk', true, (c, id) => rmSync(original(c, id)), /missing/],
    ['damaged on disk', true, (c, id) => writeFileSync(original(c, id), flipLast(readFileSync(original(c, id)))), /cannot be decrypted/],
    ['removed from the database', false, async (_, id) => void (await env.s.sql`DELETE FROM rag_originals WHERE document_id = ${id}`), /missing/],
    [
      'damaged in the database',
      false,
      async (_, id) => {
        const [row] = await env.s.sql<{ body: Buffer }[]>`SELECT body FROM rag_originals WHERE document_id = ${id}`
        await env.s.sql`UPDATE rag_originals SET body = ${flipLast(Buffer.from(row!.body))} WHERE document_id = ${id}`
      },
      /cannot be decrypted/,
    ],
  ]
  for (const [what, onDisk, damage, reason] of cases)
    test(`${what}: the document fails after one attempt, naming the file`, async () => {
      const c = await collection()
      await env.s.rag.queue.stop()
      let id: string
      try {
        const text = `Glaciers carve valleys; this one was ${what}.`
        id = await upload(c, `${what.split(' ')[0]}.txt`, onDisk ? large(text) : text)
        expect(existsSync(original(c, id))).toBe(onDisk)
        await damage(c, id)
      } finally {
        env.s.rag.queue.start()
      }
      // A retry would show as queued again with "retrying" in its error.
      await waitFor('the attempt to end', async () => {
        const d = await doc(id)
        return d.status === 'failed' || /retrying/.test(d.error ?? '')
      })
      const d = await doc(id)
      expect(d.status).toBe('failed')
      expect(d.error).toContain(`${what.split(' ')[0]}.txt`)
      expect(d.error).toMatch(reason)
      const [job] = await env.s.sql<{ attempts: number; status: string }[]>`
        SELECT attempts, status FROM jobs WHERE id = (SELECT job_id FROM rag_documents WHERE id = ${id})`
      expect(job).toEqual({ attempts: 1, status: 'failed' })
      // Its download is a clear server-side error naming the file, not an anonymous 500.
      const download = await env.call('GET', `${R}/documents/${id}/download`, { token: owner.token })
      expect(download.status).toBe(500)
      expect(download.body.error.code).toBe('stored_file_unreadable')
      expect(download.body.error.message).toContain(`${what.split(' ')[0]}.txt`)
      expect(download.body.error.message).toMatch(reason)
    })
})

describe('leftovers of crashed writes and uploads', () => {
  test('start-up removes old temporary files and old files without a document; young files and live documents stay', async () => {
    const c = await collection()
    const kept = large('Volcanoes erupt when magma rises through the crust.')
    const live = await upload(c, 'kept.txt', kept)
    await waitFor('the document to be indexed', async () => (await doc(live)).status === 'indexed')
    const dir = env.s.rag.files.dir
    const deletedCollection = join(dir, crypto.randomUUID())
    mkdirSync(deletedCollection)
    const file = (folder: string, name: string) => {
      const path = join(folder, name)
      writeFileSync(path, 'leftover')
      return path
    }
    const stale = [
      file(join(dir, c), `${crypto.randomUUID()}.enc`),
      file(join(dir, c), `${live}.enc.0badc0de.tmp`),
      file(deletedCollection, `${crypto.randomUUID()}.enc`),
    ]
    const young = [file(join(dir, c), `${crypto.randomUUID()}.enc`), file(join(dir, c), `${crypto.randomUUID()}.enc.1234abcd.tmp`)]
    const notOurs = file(join(dir, c), 'notes.md')
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60_000)
    for (const path of [...stale, notOurs, original(c, live)]) utimesSync(path, twoHoursAgo, twoHoursAgo)

    // A replica starting up, as after a crash.
    const replica = await createTestEnv({}, env)
    try {
      await waitFor('the leftovers to be removed', async () => stale.every((path) => !existsSync(path)))
    } finally {
      await replica.close()
    }
    for (const path of [...young, notOurs, original(c, live)]) expect(existsSync(path)).toBe(true)
    const download = await env.app.handle(
      new Request(`http://localhost${R}/documents/${live}/download`, { headers: { authorization: `Bearer ${owner.token}` } }),
    )
    expect(await download.text()).toBe(kept)
  })
})
