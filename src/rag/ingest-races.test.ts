/**
 * Indexing as production meets it: a worker that lost its lease while waiting on a slow embeddings call, a document
 * or collection deleted while a batch is being written, and an embeddings upstream that fails part-way through a
 * large document. Indexers with gated stand-ins for the gateway or the vector store hold a job at a chosen point.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { backend, createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import type { GatewayService } from '../gateway/service.ts'
import type { Job, JobControl } from '../jobs/queue.ts'
import { Indexer } from './indexer.ts'
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

async function collection(): Promise<string> {
  const res = await env.call('POST', `${R}/collections`, {
    token: owner.token,
    body: { name: `c-${crypto.randomUUID().slice(0, 8)}`, embedding_model: 'emb', chunk_tokens: 50, chunk_overlap: 0 },
  })
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

/** What the queue does when a worker claims the document's job (a takeover bumps the attempt count again). */
async function claim(documentId: string, worker: string): Promise<Job<{ documentId: string }>> {
  const [job] = await env.s.sql<Job<{ documentId: string }>[]>`
    UPDATE jobs SET status = 'processing', attempts = attempts + 1, locked_by = ${worker}, lease_until = now() + interval '1 hour'
    WHERE id = (SELECT job_id FROM rag_documents WHERE id = ${documentId})
    RETURNING id, kind, payload, attempts, max_attempts`
  return job!
}

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
