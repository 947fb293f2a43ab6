/**
 * The encrypted originals on disk: a document whose original is gone or damaged fails at once with a message naming
 * it (retrying cannot bring it back), and what crashed writes and uploads leave behind is removed at start-up, but
 * only once it is old enough that no upload in flight on another replica can still own it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'

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

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 30_000
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(20)
  }
}

describe('a stored original that cannot be read', () => {
  const cases: [string, (path: string) => void, RegExp][] = [
    ['removed from disk', (path) => rmSync(path), /missing/],
    [
      'damaged on disk',
      (path) => {
        const bytes = readFileSync(path)
        bytes[bytes.length - 1]! ^= 1
        writeFileSync(path, bytes)
      },
      /cannot be decrypted/,
    ],
  ]
  for (const [what, damage, reason] of cases)
    test(`${what}: the document fails after one attempt, naming the file`, async () => {
      const c = await collection()
      await env.s.rag.queue.stop()
      let id: string
      try {
        id = await upload(c, `${what.split(' ')[0]}.txt`, `Glaciers carve valleys; this one was ${what}.`)
        damage(original(c, id))
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
    const live = await upload(c, 'kept.txt', 'Volcanoes erupt when magma rises through the crust.')
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
    expect(await download.text()).toBe('Volcanoes erupt when magma rises through the crust.')
  })
})
