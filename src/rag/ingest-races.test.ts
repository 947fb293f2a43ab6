/**
 * Indexing as production meets it: a worker that lost its lease while waiting on a slow embeddings call, a document
 * or collection deleted while a batch is being written, an embeddings upstream that fails part-way through a
 * large document, and small documents indexed several at a time (indexer-batch.ts), each keeping its own outcome
 * and counts. Indexers with gated stand-ins for the gateway or the vector store hold a job at a chosen point.
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
/** Inputs of the embeddings requests the upstream answered; from `failFrom` inputs on, it fails every request. */
const embedded: string[] = []
let failFrom: number | undefined

beforeAll(async () => {
  up = await startUpstream({
    models: ['emb'],
    embed: (text, dims) => {
      if (failFrom !== undefined && embedded.length >= failFrom) throw new Error('embeddings backend down')
      embedded.push(text)
      return Float32Array.from({ length: dims }, (_, i) => Number(BigInt(Bun.hash(`${text}:${i}`)) % 1000n) / 1000 + 0.001)
    },
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

async function collection(body: Record<string, unknown> = {}): Promise<string> {
  const res = await env.call('POST', `${R}/collections`, {
    token: owner.token,
    body: { name: `c-${crypto.randomUUID().slice(0, 8)}`, embedding_model: 'emb', chunk_tokens: 50, chunk_overlap: 0, ...body },
  })
  expect(res.status).toBe(201)
  return res.body.id
}

async function uploadMany(collectionId: string, files: File[]): Promise<{ status: number; body: any }> {
  const form = new FormData()
  for (const f of files) form.append('files', f)
  const res = await env.app.handle(
    new Request(`http://localhost${R}/collections/${collectionId}/documents`, { method: 'POST', headers: { authorization: `Bearer ${owner.token}` }, body: form }),
  )
  return { status: res.status, body: await res.json() }
}

async function upload(collectionId: string, name: string, text: string): Promise<string> {
  const res = await uploadMany(collectionId, [new File([text], name)])
  expect(res.status).toBe(202)
  return res.body.accepted[0].id
}

const doc = async (id: string) => (await env.call('GET', `${R}/documents/${id}`, { token: owner.token })).body
const collectionRow = async (id: string) => (await env.s.sql<{ chunk_count: number; term_count: string }[]>`SELECT chunk_count, term_count FROM rag_collections WHERE id = ${id}`)[0]
const storedChunks = async (documentId: string) =>
  (await env.s.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rag_chunks WHERE document_id = ${documentId}`)[0]!.n

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 30_000
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(20)
  }
}

function gate() {
  let arrive!: () => void
  let release!: () => void
  const arrived = new Promise<void>((r) => (arrive = r))
  const released = new Promise<void>((r) => (release = r))
  return { arrived, release, pass: async () => (arrive(), released) }
}

const vectorsFor = (input: string[]) => input.map((_, i) => Float32Array.from([1, i + 1, 0.5, 0.25]))
const instantGateway = { embed: async (_c: unknown, _m: string, input: string[]) => vectorsFor(input) } as unknown as GatewayService

/** The real vector store, with every upsert waiting at the gate first. */
function heldAtUpsert(held: ReturnType<typeof gate>): VectorStore {
  const real = env.s.rag.vectors
  return {
    kind: real.kind,
    upsert: async (col, items, tx) => (await held.pass(), real.upsert(col, items, tx)),
    search: (col, v, k, f) => real.search(col, v, k, f),
    deleteDocument: (col, d) => real.deleteDocument(col, d),
    deleteCollection: (col) => real.deleteCollection(col),
    clear: (col, tx) => real.clear(col, tx),
  }
}

function indexer(overrides: { gateway?: GatewayService; vectors?: VectorStore }): Indexer {
  return new Indexer({ ...env.s.rag.indexer.deps, gateway: instantGateway, ...overrides })
}

/** What the queue does when a worker claims the documents' jobs (claiming again is a takeover: attempts go up). */
async function claimAll(documentIds: string[], worker: string): Promise<Job<{ documentId: string }>[]> {
  return env.s.sql<Job<{ documentId: string }>[]>`
    UPDATE jobs SET status = 'processing', attempts = attempts + 1, locked_by = ${worker}, lease_until = now() + interval '1 hour'
    WHERE id IN (SELECT job_id FROM rag_documents WHERE id IN ${env.s.sql(documentIds)})
    RETURNING id, kind, payload, attempts, max_attempts`
}
const claim = async (documentId: string, worker: string) => (await claimAll([documentId], worker))[0]!

const control = (): JobControl => ({ signal: new AbortController().signal, progress: async () => {} })

/** On PostgreSQL, until a statement on the RAG tables waits for a row lock; the embedded store runs one at a time. */
async function someoneWaitsForALock(): Promise<void> {
  if (backend !== 'postgres') return
  await waitFor('a lock wait', async () => {
    const [row] = await env.s.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%rag_%'`
    return row!.n > 0
  })
}

/** Made-up words, one per document, so a search can name the document it must find. */
const word = (i: number) => `zq${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}vex`

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
  // The BM25 rows: one per chunk that has terms, each term once in it, its frequencies adding up to the chunk's length.
  const [index] = await env.s.sql<{ rows: number; chunks: number; repeated: number; lengths: string; mismatched: number }[]>`
    SELECT count(*)::int AS rows, count(DISTINCT t.chunk_id)::int AS chunks,
      count(*) FILTER (WHERE (SELECT count(DISTINCT x) FROM unnest(t.terms) x) <> cardinality(t.terms))::int AS repeated,
      coalesce(sum(t.length), 0)::text AS lengths,
      count(*) FILTER (WHERE (SELECT sum(f) FROM unnest(t.tfs) f) <> t.length OR c.terms <> t.length)::int AS mismatched
    FROM rag_chunk_terms t JOIN rag_chunks c ON c.id = t.chunk_id WHERE t.collection_id = ${collectionId}`
  const [withTerms] = await env.s.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rag_chunks WHERE collection_id = ${collectionId} AND terms > 0`
  expect(c!.chunk_count).toBe(rows!.chunks)
  expect(c!.term_count).toBe(rows!.terms)
  expect(c!.document_count).toBe(docs!.n)
  expect(c!.bytes).toBe(docs!.bytes)
  expect(docs!.chunks).toBe(rows!.chunks)
  expect(index!.rows).toBe(index!.chunks)
  expect(index!.rows).toBe(withTerms!.n)
  expect(index!.repeated).toBe(0)
  expect(index!.mismatched).toBe(0)
  expect(index!.lengths).toBe(rows!.terms)
}

const search = async (collectionId: string, query: string) =>
  (await env.call('POST', `${R}/collections/${collectionId}/search`, { token: owner.token, body: { query, top_k: 3, mode: 'lexical' } })).body


describe('a job held mid-way', () => {
  beforeAll(() => env.s.rag.queue.stop())
  afterAll(() => env.s.rag.queue.start())

  test('a worker whose lease was taken over while it waited on embeddings writes nothing', async () => {
    const c = await collection()
    const id = await upload(c, 'a.txt', 'Lighthouses guide ships along the rocky coast at night.')
    const slow = gate()
    const gatedGateway = { embed: async (_c: unknown, _m: string, input: string[]) => (await slow.pass(), vectorsFor(input)) } as unknown as GatewayService
    const first = indexer({ gateway: gatedGateway }).run(await claim(id, 'A'), control())
    await slow.arrived
    // A's lease ran out; B claims the job and indexes the document completely.
    await indexer({}).run(await claim(id, 'B'), control())
    slow.release()
    await first
    const d = await doc(id)
    expect(d.status).toBe('indexed')
    expect(await storedChunks(id)).toBe(d.chunk_count)
    expect((await collectionRow(c))!.chunk_count).toBe(d.chunk_count)
  })

  test("deleting a document while a batch of its chunks is being written neither deadlocks nor leaves wrong counts", async () => {
    const c = await collection()
    const id = await upload(c, 'b.txt', 'Honey bees pollinate crops and live in colonies ruled by a queen.')
    const held = gate()
    const run = indexer({ vectors: heldAtUpsert(held) }).run(await claim(id, 'A'), control())
    await held.arrived
    const deleting = env.s.rag.documents.delete(actor(), id)
    await someoneWaitsForALock()
    held.release()
    await Promise.all([run, deleting])
    expect(await storedChunks(id)).toBe(0)
    expect(await collectionRow(c)).toEqual({ chunk_count: 0, term_count: '0' })
  })

  test('deleting a collection while a batch is being written neither deadlocks nor fails', async () => {
    const c = await collection()
    const id = await upload(c, 'c.txt', 'Ocean tides follow the pull of the moon and the sun.')
    const held = gate()
    const run = indexer({ vectors: heldAtUpsert(held) }).run(await claim(id, 'A'), control())
    await held.arrived
    const deleting = env.s.rag.deleteCollection(actor(), c)
    await someoneWaitsForALock()
    held.release()
    await Promise.all([run, deleting])
    expect(await collectionRow(c)).toBeUndefined()
    expect(await storedChunks(id)).toBe(0)
  })

  test('a document deleted while its batch is written, and one taken over before, are left to their new owners; the rest are indexed once', async () => {
    const c = await collection()
    const res = await uploadMany(c, Array.from({ length: 5 }, (_, i) => smallFile(200 + i)))
    const ids: string[] = res.body.accepted.map((d: { id: string }) => d.id)
    const jobs = await claimAll(ids, 'A')
    expect(jobs).toHaveLength(5)
    expect(jobs.every((j) => (j.payload as { small?: boolean }).small === true)).toBe(true)
    // Document 2's job is taken over by B before A writes: A must leave it alone.
    const [takenOver] = await claimAll([ids[2]!], 'B')

    const held = gate()
    const a = indexer({ vectors: heldAtUpsert(held) })
    expect(a.batch.size).toBe(INGEST_BATCH)
    const running = a.batch.run(jobs, control)
    await held.arrived
    // Document 0 is deleted while the batch's transaction holds it: the delete waits, then counts its chunks off.
    const deleting = env.s.rag.documents.delete(actor(), ids[0]!)
    await someoneWaitsForALock()
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
    await indexer({}).run(takenOver!, control())
    expect(await status(ids[2]!)).toBe('indexed')
    await expectCountsAgree(c)
  })
})

describe('embeddings failing part-way', () => {
  test('the retry continues where the failed attempt stopped: no chunk is embedded (and charged) twice', async () => {
    const c = await collection()
    const words = Array.from({ length: 12_000 }, (_, i) => `w${i}`).join(' ')
    embedded.length = 0
    // The first write batch (128 chunks, two requests of 64) goes through, then the upstream fails.
    failFrom = 128
    const id = await upload(c, 'big.txt', words)
    await waitFor('a scheduled retry', async () => {
      const d = await doc(id)
      return d.status === 'queued' && /retrying/.test(d.error ?? '')
    })
    failFrom = undefined
    await env.s.sql`UPDATE jobs SET run_after = now() WHERE id = (SELECT job_id FROM rag_documents WHERE id = ${id})`
    env.s.rag.queue.wake()
    await waitFor('the document to be indexed', async () => (await doc(id)).status !== 'queued' && (await doc(id)).status !== 'processing')
    const d = await doc(id)
    expect(d.status).toBe('indexed')
    expect(d.chunk_count).toBeGreaterThan(128)
    expect(embedded.length).toBe(d.chunk_count)
    expect(new Set(embedded).size).toBe(d.chunk_count)
    expect(await storedChunks(id)).toBe(d.chunk_count)
    expect((await collectionRow(c))!.chunk_count).toBe(d.chunk_count)
    const search = await env.call('POST', `${R}/collections/${c}/search`, { token: owner.token, body: { query: 'w11999', mode: 'lexical', top_k: 1 } })
    expect(search.body.results[0].text).toContain('w11999')
  })
})

describe('progress events', () => {
  test('a document that finishes while the stream is being set up is never left showing as unfinished', async () => {
    const c = await collection()
    const id = await upload(c, 'd.txt', 'Photovoltaic panels convert sunlight into electricity.')
    await waitFor('the document to be indexed', async () => (await doc(id)).status === 'indexed')
    await env.s.sql`UPDATE rag_documents SET status = 'processing', progress = 0.5 WHERE id = ${id}`
    const events = env.s.rag.events
    const subscribe = events.subscribe
    // The worker finishes the document just as the stream subscribes.
    events.subscribe = async (collectionId, handler) => {
      const [row] = await env.s.sql<any[]>`UPDATE rag_documents SET status = 'indexed', progress = 1 WHERE id = ${id} RETURNING *`
      events.publish(row)
      return subscribe.call(events, collectionId, handler)
    }
    let res: Response
    try {
      res = await fetch(`${env.listen()}${R}/collections/${c}/events`, { headers: { authorization: `Bearer ${owner.token}` } })
    } finally {
      events.subscribe = subscribe
    }
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    const seen: { id: string; status: string }[] = []
    let buffered = ''
    let sentinelSent = false
    while (!seen.some((e) => e.id === 'sentinel')) {
      const { value, done } = await reader.read()
      if (done) break
      buffered += decoder.decode(value, { stream: true })
      if (!sentinelSent && buffered.includes(': open')) {
        sentinelSent = true
        events.publish({ id: 'sentinel', collection_id: c, filename: 's', status: 'queued', progress: 0, error: null, chunk_count: 0 })
      }
      for (const m of buffered.matchAll(/data: (.+)\n/g)) seen.push(JSON.parse(m[1]!))
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1)
    }
    await reader.cancel()
    const last = seen.filter((e) => e.id === id).at(-1)
    expect(last?.status ?? 'indexed').toBe('indexed')
  })
})

describe('small documents, several at a time', () => {
  test('a hundred small files in one upload: one answer in the files’ order, each indexed once, batched, findable at once', async () => {
    const c = await collection({ embedding_model: undefined })
    const files = Array.from({ length: 80 }, (_, i) => smallFile(i))
    const corrupt = new File(['{"text": "no closing brace"'], 'broken.jsonl')
    const big = new File([`The large one speaks of ${word(500)}. ` + 'Glaciers carve valleys slowly. '.repeat(3000)], 'large.txt')
    const again = new File([await files[3]!.text()], 'copy-of-3.txt')
    const res = await uploadMany(c, [...files.slice(0, 40), corrupt, again, big, ...files.slice(40)])
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
    const c = await collection()
    const res = await uploadMany(c, Array.from({ length: 24 }, (_, i) => smallFile(100 + i)))
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
})
