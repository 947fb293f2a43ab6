/**
 * Changing a collection's embedding model re-indexes it by itself: the old model's vectors go at once (another size
 * would break vector search), search answers from the lexical index meanwhile, and the new model's size is taken.
 * Two upstreams serve two embedding models of different sizes, as two real models would.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'

const SMALL = 8
const LARGE = 24
const hashed = (text: string, dims: number) => Float32Array.from({ length: dims }, (_, i) => Number(BigInt(Bun.hash(`${text}:${i}`)) % 1000n) / 1000 + 0.001)

let env: TestEnv
let small: Upstream
let large: Upstream
let owner: Awaited<ReturnType<TestEnv['user']>>

beforeAll(async () => {
  small = await startUpstream({ models: ['emb-small'], embed: (text) => hashed(text, SMALL) })
  large = await startUpstream({ models: ['emb-large'], embed: (text) => hashed(text, LARGE) })
  env = await createTestEnv({
    PROVIDERS: JSON.stringify([
      { name: 'small', kind: 'openai-compatible', base_url: small.url },
      { name: 'large', kind: 'openai-compatible', base_url: large.url },
    ]),
    RATE_LIMIT_INTERNAL_PER_MINUTE: '5000',
  })
  owner = await env.user('user')
})
afterAll(async () => {
  await env.close()
  await small.stop()
  await large.stop()
})

const R = '/api-internal/v1/rag'

async function upload(collectionId: string, files: [string, string][]): Promise<void> {
  const form = new FormData()
  for (const [name, text] of files) form.append('files', new File([text], name))
  const res = await env.app.handle(
    new Request(`http://localhost${R}/collections/${collectionId}/documents`, { method: 'POST', headers: { authorization: `Bearer ${owner.token}` }, body: form }),
  )
  expect(res.status).toBe(202)
}

/** Waits until no document is queued or processing; returns them all. */
async function settled(collectionId: string): Promise<any[]> {
  const end = Date.now() + 30_000
  for (;;) {
    const res = await env.call('GET', `${R}/collections/${collectionId}/documents`, { token: owner.token })
    if (res.body.data.every((d: any) => d.status === 'indexed' || d.status === 'failed')) return res.body.data
    if (Date.now() > end) throw new Error(`documents did not settle: ${JSON.stringify(res.body.data)}`)
    await Bun.sleep(50)
  }
}

const search = (collectionId: string, body: Record<string, unknown>) => env.call('POST', `${R}/collections/${collectionId}/search`, { token: owner.token, body })
const patch = (collectionId: string, body: Record<string, unknown>) => env.call('PATCH', `${R}/collections/${collectionId}`, { token: owner.token, body })

/** Vectors kept for the collection in the PostgreSQL backends (the embedded store has pgvector, PostgreSQL may not). */
async function storedVectors(collectionId: string): Promise<number> {
  const table = env.s.rag.vectors.kind === 'pgvector' ? 'rag_vectors' : 'rag_embeddings'
  return (await env.s.sql.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table} WHERE collection_id = $1`, [collectionId]))[0]!.n
}

test('a new embedding model of another size re-indexes the collection; search answers throughout', async () => {
  const created = await env.call('POST', `${R}/collections`, { token: owner.token, body: { name: 'switch', embedding_model: 'emb-small' } })
  expect(created.status).toBe(201)
  const c = created.body.id as string
  await upload(c, [
    ['tides.txt', 'Ocean tides follow the pull of the moon and the sun.'],
    ['bees.txt', 'Honey bees pollinate crops and live in colonies ruled by a queen.'],
    ['lights.txt', 'Lighthouses guide ships along the rocky coast at night.'],
  ])
  expect((await settled(c)).map((d) => d.status)).toEqual(['indexed', 'indexed', 'indexed'])
  expect((await env.call('GET', `${R}/collections/${c}`, { token: owner.token })).body.embedding_dimensions).toBe(SMALL)

  // Held so that the moment between the switch and the re-indexing can be looked at.
  await env.s.rag.queue.stop()
  try {
    const switched = await patch(c, { embedding_model: 'emb-large' })
    expect(switched.status).toBe(200)
    expect(switched.body).toMatchObject({ embedding_model: 'emb-large', embedding_dimensions: null })
    expect((await env.call('GET', `${R}/collections/${c}/documents`, { token: owner.token })).body.data.map((d: any) => d.status)).toEqual(['queued', 'queued', 'queued'])
    const meanwhile = await search(c, { query: 'honey bees', mode: 'hybrid' })
    expect(meanwhile.status).toBe(200)
    expect(meanwhile.body.results[0].document_name).toBe('bees.txt')
    expect(meanwhile.body.results.every((r: any) => r.scores.vector === null)).toBe(true)
    expect((await search(c, { query: 'honey bees', mode: 'vector' })).body.results).toEqual([])
    expect(await storedVectors(c)).toBe(0)
  } finally {
    env.s.rag.queue.start()
  }

  const docs = await settled(c)
  expect(docs.map((d) => [d.status, d.error])).toEqual([
    ['indexed', null],
    ['indexed', null],
    ['indexed', null],
  ])
  expect((await env.call('GET', `${R}/collections/${c}`, { token: owner.token })).body.embedding_dimensions).toBe(LARGE)
  const after = await search(c, { query: 'honey bees', mode: 'hybrid' })
  expect(after.status).toBe(200)
  expect(after.body.results[0].document_name).toBe('bees.txt')
  expect(after.body.results.every((r: any) => typeof r.scores.vector === 'number')).toBe(true)
  expect((await search(c, { query: 'honey bees', mode: 'vector' })).body.results).toHaveLength(3)
})

test('removing the model drops its vectors; setting one again indexes with it', async () => {
  const created = await env.call('POST', `${R}/collections`, { token: owner.token, body: { name: 'remove', embedding_model: 'emb-small' } })
  const c = created.body.id as string
  await upload(c, [['bees.txt', 'Honey bees pollinate crops and live in colonies ruled by a queen.']])
  await settled(c)
  expect(await storedVectors(c)).toBeGreaterThan(0)

  expect((await patch(c, { embedding_model: null })).status).toBe(200)
  expect((await settled(c))[0].status).toBe('indexed')
  expect(await storedVectors(c)).toBe(0)
  const lexical = await search(c, { query: 'honey bees' })
  expect(lexical.body).toMatchObject({ mode: 'lexical', results: [{ document_name: 'bees.txt' }] })

  expect((await patch(c, { embedding_model: 'emb-large' })).status).toBe(200)
  expect((await settled(c))[0].status).toBe('indexed')
  expect((await env.call('GET', `${R}/collections/${c}`, { token: owner.token })).body.embedding_dimensions).toBe(LARGE)
  const hybrid = await search(c, { query: 'honey bees' })
  expect(hybrid.body.mode).toBe('hybrid')
  expect(typeof hybrid.body.results[0].scores.vector).toBe('number')
})

test('a model change whose re-indexing fails is not saved: sending it again re-indexes', async () => {
  const created = await env.call('POST', `${R}/collections`, { token: owner.token, body: { name: 'atomic', embedding_model: 'emb-small' } })
  const c = created.body.id as string
  await upload(c, [['tides.txt', 'Ocean tides follow the pull of the moon and the sun.']])
  expect((await settled(c)).map((d) => d.status)).toEqual(['indexed'])

  // The vector store is unreachable while the old vectors are being dropped (Qdrant down, say).
  const vectors = env.s.rag.vectors
  const clear = vectors.clear
  vectors.clear = async () => {
    throw new Error('vector store unreachable')
  }
  try {
    expect((await patch(c, { embedding_model: 'emb-large' })).status).toBe(500)
  } finally {
    vectors.clear = clear
  }
  const unchanged = (await env.call('GET', `${R}/collections/${c}`, { token: owner.token })).body
  expect(unchanged).toMatchObject({ embedding_model: 'emb-small', embedding_dimensions: SMALL })
  expect((await env.call('GET', `${R}/collections/${c}/documents`, { token: owner.token })).body.data.map((d: any) => d.status)).toEqual(['indexed'])

  expect((await patch(c, { embedding_model: 'emb-large' })).status).toBe(200)
  expect((await settled(c)).map((d) => d.status)).toEqual(['indexed'])
  expect((await env.call('GET', `${R}/collections/${c}`, { token: owner.token })).body.embedding_dimensions).toBe(LARGE)
})
