/**
 * Small documents are indexed several at a time (indexer-batch.ts): each keeps its own outcome and its own counts,
 * totals are counted once, and a document deleted or taken over meanwhile is left to whoever owns it now.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { backend, createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import type { GatewayService } from '../gateway/service.ts'
import type { Job, JobControl } from '../jobs/queue.ts'
import { INGEST_BATCH, Indexer } from './indexer.ts'
import type { VectorStore } from './vectors/index.ts'

let env: TestEnv
let up: Upstream
let owner: Awaited<ReturnType<TestEnv['user']>>

beforeAll(async () => {
  up = await startUpstream({
    models: ['emb'],
    embed: (text, dims) => Float32Array.from({ length: dims }, (_, i) => Number(BigInt(Bun.hash(`${text}:${i}`)) % 1000n) / 1000 + 0.001),
  })
  env = await createTestEnv({ OPENAI_COMPAT_URL: up.url, UPSTREAM_MAX_RETRIES: '0', RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  owner = await env.user('user')
})
afterAll(async () => {
  await env.close()
  await up.stop()
})

const R = '/api-internal/v1/rag'
const actor = () => ({ userId: owner.id, isAdmin: false })
/** Made-up words, one per document, so a search can name the document it must find. */
const word = (i: number) => `zq${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}vex`

async function collection(body: Record<string, unknown> = {}): Promise<string> {
  const res = await env.call('POST', `${R}/collections`, { token: owner.token, body: { name: `c-${crypto.randomUUID().slice(0, 8)}`, chunk_tokens: 50, chunk_overlap: 0, ...body } })
  expect(res.status).toBe(201)
  return res.body.id
}

async function upload(collectionId: string, files: File[]): Promise<{ status: number; body: any }> {
  const form = new FormData()
  for (const f of files) form.append('files', f)
  const res = await env.app.handle(
    new Request(`http://localhost${R}/collections/${collectionId}/documents`, { method: 'POST', headers: { authorization: `Bearer ${owner.token}` }, body: form }),
  )
  return { status: res.status, body: await res.json() }
}

const smallFile = (i: number) =>
  new File([`Document ${i} tells of ${word(i)}. ` + 'Rivers carry silt to the sea and build deltas over the centuries. '.repeat(1 + (i % 5))], `small-${i}.txt`)

async function settled(collectionId: string): Promise<void> {
  const end = Date.now() + 60_000
  for (;;) {
    const [row] = await env.s.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM rag_documents WHERE collection_id = ${collectionId} AND status IN ('queued', 'processing')`
    if (row!.n === 0) return
    if (Date.now() > end) throw new Error('documents still indexing')
    await Bun.sleep(25)
  }
}

/** The collection's totals against what its rows hold: every chunk and term counted once. */
async function expectCountsAgree(collectionId: string): Promise<void> {
  const [c] = await env.s.sql<{ chunk_count: number; term_count: string; document_count: number; bytes: string }[]>`
    SELECT chunk_count, term_count, document_count, bytes FROM rag_collections WHERE id = ${collectionId}`
  const [rows] = await env.s.sql<{ chunks: number; terms: string }[]>`
    SELECT count(*)::int AS chunks, coalesce(sum(terms), 0)::text AS terms FROM rag_chunks WHERE collection_id = ${collectionId}`
  const [docs] = await env.s.sql<{ n: number; bytes: string; chunks: number }[]>`
    SELECT count(*)::int AS n, coalesce(sum(size), 0)::text AS bytes, coalesce(sum(chunk_count), 0)::int AS chunks
    FROM rag_documents WHERE collection_id = ${collectionId}`
  const [postings] = await env.s.sql<{ n: number; distinct_terms: number }[]>`
    SELECT count(*)::int AS n, (SELECT count(*)::int FROM (SELECT DISTINCT chunk_id, term FROM rag_postings WHERE collection_id = ${collectionId}) x) AS distinct_terms
    FROM rag_postings WHERE collection_id = ${collectionId}`
  expect(c!.chunk_count).toBe(rows!.chunks)
  expect(c!.term_count).toBe(rows!.terms)
  expect(c!.document_count).toBe(docs!.n)
  expect(c!.bytes).toBe(docs!.bytes)
  expect(docs!.chunks).toBe(rows!.chunks)
  expect(postings!.n).toBe(postings!.distinct_terms)
}

const search = async (collectionId: string, query: string) =>
  (await env.call('POST', `${R}/collections/${collectionId}/search`, { token: owner.token, body: { query, top_k: 3, mode: 'lexical' } })).body

test('a hundred small files in one upload: one answer in the files’ order, each indexed once, batched, findable at once', async () => {
  const c = await collection()
  const files = Array.from({ length: 80 }, (_, i) => smallFile(i))
  const corrupt = new File(['{"text": "no closing brace"'], 'broken.jsonl')
  const big = new File([`The large one speaks of ${word(500)}. ` + 'Glaciers carve valleys slowly. '.repeat(3000)], 'large.txt')
  const again = new File([await files[3]!.text()], 'copy-of-3.txt')
  const res = await upload(c, [...files.slice(0, 40), corrupt, again, big, ...files.slice(40)])
  expect(res.status).toBe(202)
  expect(res.body.accepted.map((d: { filename: string }) => d.filename)).toEqual([
    ...files.slice(0, 40).map((f) => f.name),
    'broken.jsonl',
    'large.txt',
    ...files.slice(40).map((f) => f.name),
  ])
  expect(res.body.rejected).toEqual([
    { filename: 'copy-of-3.txt', reason: 'duplicate', message: 'copy-of-3.txt: the same content is already in this collection as "small-3.txt"' },
  ])
  await settled(c)

  const docs = await env.s.sql<{ filename: string; status: string; error: string | null; chunk_count: number; indexed_at: Date | null }[]>`
    SELECT filename, status, error, chunk_count, indexed_at FROM rag_documents WHERE collection_id = ${c}`
  const byName = new Map(docs.map((d) => [d.filename, d]))
  expect(byName.get('broken.jsonl')).toMatchObject({ status: 'failed', chunk_count: 0 })
  expect(byName.get('broken.jsonl')!.error).toContain('broken.jsonl')
  expect(byName.get('large.txt')!.status).toBe('indexed')
  expect(byName.get('large.txt')!.chunk_count).toBeGreaterThan(100)
  for (const f of files) expect(byName.get(f.name)).toMatchObject({ status: 'indexed', error: null })
  // Written together, in one transaction: documents of a batch share the moment they were indexed.
  const moments = new Map<number, number>()
  for (const f of files) {
    const at = byName.get(f.name)!.indexed_at!.getTime()
    moments.set(at, (moments.get(at) ?? 0) + 1)
  }
  expect(Math.max(...moments.values())).toBeGreaterThan(1)
  expect(moments.size).toBeLessThan(files.length)
  await expectCountsAgree(c)

  for (const i of [0, 17, 39, 40, 79]) {
    const found = await search(c, word(i))
    expect(found.results[0].document_name).toBe(`small-${i}.txt`)
  }
  expect((await search(c, word(500))).results[0].document_name).toBe('large.txt')

  const [audited] = await env.s.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM audit_log WHERE action = 'rag.document.upload'
      AND resource_id IN (SELECT id::text FROM rag_documents WHERE collection_id = ${c})`
  expect(audited!.n).toBe(82)
})

test('with an embedding model every chunk gets its vector; re-indexing the collection counts nothing twice', async () => {
  const c = await collection({ embedding_model: 'emb' })
  const res = await upload(c, Array.from({ length: 24 }, (_, i) => smallFile(100 + i)))
  expect(res.status).toBe(202)
  await settled(c)
  const vectors = async () => {
    const table = (await env.s.sql`SELECT to_regclass('rag_vectors') AS t`)[0]!.t ? 'rag_vectors' : 'rag_embeddings'
    const [row] = await env.s.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM ${env.s.sql(table)} WHERE chunk_id IN (SELECT id FROM rag_chunks WHERE collection_id = ${c})`
    return row!.n
  }
  const [{ chunk_count: before }] = (await env.s.sql<{ chunk_count: number }[]>`SELECT chunk_count FROM rag_collections WHERE id = ${c}`) as unknown as [{ chunk_count: number }]
  expect(await vectors()).toBe(before)
  await expectCountsAgree(c)

  const changed = await env.call('PATCH', `${R}/collections/${c}`, { token: owner.token, body: { chunk_tokens: 400 } })
  expect(changed.status).toBe(200)
  await settled(c)
  const [{ chunk_count: after }] = (await env.s.sql<{ chunk_count: number }[]>`SELECT chunk_count FROM rag_collections WHERE id = ${c}`) as unknown as [{ chunk_count: number }]
  expect(after).toBeLessThan(before)
  // Queued again as small documents, so the re-index is batched too.
  const requeued = await env.s.sql<{ small: boolean | null }[]>`
    SELECT (j.payload->>'small')::boolean AS small FROM rag_documents d JOIN jobs j ON j.id = d.job_id WHERE d.collection_id = ${c}`
  expect(requeued.map((r) => r.small)).toEqual(Array(24).fill(true))
  expect(await vectors()).toBe(after)
  await expectCountsAgree(c)
  const [{ n: unindexed }] = (await env.s.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM rag_documents WHERE collection_id = ${c} AND status <> 'indexed'`) as unknown as [{ n: number }]
  expect(unindexed).toBe(0)
})

describe('a batch held mid-way', () => {
  beforeAll(() => env.s.rag.queue.stop())
  afterAll(() => env.s.rag.queue.start())

  function gate() {
    let arrive!: () => void
    let release!: () => void
    const arrived = new Promise<void>((r) => (arrive = r))
    const released = new Promise<void>((r) => (release = r))
    return { arrived, release, pass: async () => (arrive(), released) }
  }
  const instantGateway = { embed: async (_c: unknown, _m: string, input: string[]) => input.map((_, i) => Float32Array.from([1, i + 1, 0.5, 0.25])) } as unknown as GatewayService
  const control = (): JobControl => ({ signal: new AbortController().signal, progress: async () => {} })

  /** What the queue does when a worker claims the documents' jobs (claiming again is a takeover: attempts go up). */
  async function claim(documentIds: string[], worker: string): Promise<Job<{ documentId: string }>[]> {
    return env.s.sql<Job<{ documentId: string }>[]>`
      UPDATE jobs SET status = 'processing', attempts = attempts + 1, locked_by = ${worker}, lease_until = now() + interval '1 hour'
      WHERE id IN (SELECT job_id FROM rag_documents WHERE id IN ${env.s.sql(documentIds)})
      RETURNING id, kind, payload, attempts, max_attempts`
  }

  test('a document deleted while its batch is written, and one taken over before, are left to their new owners; the rest are indexed once', async () => {
    const c = await collection({ embedding_model: 'emb' })
    const res = await upload(c, Array.from({ length: 5 }, (_, i) => smallFile(200 + i)))
    const ids: string[] = res.body.accepted.map((d: { id: string }) => d.id)
    const jobs = await claim(ids, 'A')
    expect(jobs).toHaveLength(5)
    expect(jobs.every((j) => (j.payload as { small?: boolean }).small === true)).toBe(true)
    // Document 2's job is taken over by B before A writes: A must leave it alone.
    const [takenOver] = await claim([ids[2]!], 'B')

    const held = gate()
    const real = env.s.rag.vectors
    const heldVectors: VectorStore = {
      kind: real.kind,
      upsert: async (col, items, tx) => (await held.pass(), real.upsert(col, items, tx)),
      search: (col, v, k, f) => real.search(col, v, k, f),
      deleteDocument: (col, d) => real.deleteDocument(col, d),
      deleteCollection: (col) => real.deleteCollection(col),
      clear: (col, tx) => real.clear(col, tx),
    }
    const a = new Indexer({ ...env.s.rag.indexer.deps, gateway: instantGateway, vectors: heldVectors })
    expect(a.batch.size).toBe(INGEST_BATCH)
    const running = a.batch.run(jobs, control)
    await held.arrived
    // Document 0 is deleted while the batch's transaction holds it: the delete waits, then counts its chunks off.
    const deleting = env.s.rag.documents.delete(actor(), ids[0]!)
    // On PostgreSQL the delete is seen waiting for the batch's lock; the embedded store runs one statement at a time.
    while (backend === 'postgres') {
      const [row] = await env.s.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%rag_documents%'`
      if (row!.n > 0) break
      await Bun.sleep(10)
    }
    held.release()
    const [failures] = await Promise.all([running, deleting])
    expect([...failures.keys()]).toEqual([])

    const status = async (id: string) => (await env.s.sql<{ status: string }[]>`SELECT status FROM rag_documents WHERE id = ${id}`)[0]?.status
    expect(await status(ids[0]!)).toBeUndefined()
    for (const i of [1, 3, 4]) expect(await status(ids[i]!)).toBe('indexed')
    // Not A's to write: still processing, with no chunks, until B (its owner now) indexes it.
    expect(await status(ids[2]!)).toBe('processing')
    const [{ n: none }] = (await env.s.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rag_chunks WHERE document_id = ${ids[2]!}`) as unknown as [{ n: number }]
    expect(none).toBe(0)
    await new Indexer({ ...env.s.rag.indexer.deps, gateway: instantGateway }).run(takenOver!, control())
    expect(await status(ids[2]!)).toBe('indexed')
    await expectCountsAgree(c)
  })
})
