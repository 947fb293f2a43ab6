/**
 * Documents and retrieval end to end, on the configured store (embedded PGlite + pgvector, or PostgreSQL + Redis):
 * collections and ownership, uploads of every format with the bad-file cases, encryption at rest, background
 * indexing with progress events, lexical / vector / hybrid search, deletion, and the public API's key restrictions.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { docx, encode, handmadePdf, PNG_BYTES, pdfLibPdf, workbook } from './extract/testing.ts'
import type { SearchFilter } from './vectors/index.ts'
import { INLINE_ORIGINAL_BYTES } from './file-store.ts'

/**
 * A stand-in for a semantic embedding model: words of one concept share a dimension, so "automobile" is near "car"
 * although the two share no letters. Other words are hashed into the remaining dimensions.
 */
const CONCEPTS: Record<string, number> = {}
for (const [i, words] of [
  ['car', 'cars', 'automobile', 'automobiles', 'vehicle', 'vehicles'],
  ['repair', 'repairs', 'maintenance', 'servicing', 'fix'],
  ['dog', 'dogs', 'puppy', 'canine'],
].entries())
  for (const w of words) CONCEPTS[w] = i
function semanticEmbed(text: string, dims: number): Float32Array {
  const v = new Float32Array(dims)
  for (const w of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    const concept = CONCEPTS[w]
    if (concept !== undefined) v[concept]! += 3
    else v[3 + (Number(BigInt(Bun.hash(w)) % BigInt(dims - 3)))]! += 0.2
  }
  return v
}

let env: TestEnv
let up: Upstream
let owner: Awaited<ReturnType<TestEnv['user']>>
let other: Awaited<ReturnType<TestEnv['user']>>

beforeAll(async () => {
  up = await startUpstream({ models: ['mock-chat', 'sem-embed'], embed: (t, d) => semanticEmbed(t, Math.max(d, 32)) })
  env = await createTestEnv({ OPENAI_COMPAT_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000', RATE_LIMIT_PUBLIC_PER_MINUTE: '5000' })
  owner = await env.user('user')
  other = await env.user('user')
})
afterAll(async () => {
  await env.close()
  await up.stop()
})

const R = '/api-internal/v1/rag'

async function collection(token: string, body: Record<string, unknown> = {}) {
  const res = await env.call('POST', `${R}/collections`, { token, body: { name: `c-${crypto.randomUUID().slice(0, 8)}`, ...body } })
  expect(res.status).toBe(201)
  return res.body as { id: string; name: string }
}

async function upload(auth: { token?: string; apiKey?: string }, collectionId: string, files: [string, Uint8Array | string][], prefix = R) {
  const form = new FormData()
  for (const [name, bytes] of files) form.append('files', new File([typeof bytes === 'string' ? encode(bytes) : bytes], name))
  const res = await env.app.handle(
    new Request(`http://localhost${prefix}/collections/${collectionId}/documents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${auth.token ?? auth.apiKey}` },
      body: form,
    }),
  )
  return { status: res.status, body: (await res.json()) as any }
}

/** Waits until no document of the collection is queued or processing; returns them all. */
async function settled(token: string, collectionId: string): Promise<any[]> {
  const end = Date.now() + 30_000
  for (;;) {
    const res = await env.call('GET', `${R}/collections/${collectionId}/documents?limit=500`, { token })
    expect(res.status).toBe(200)
    if (res.body.data.every((d: any) => d.status === 'indexed' || d.status === 'failed')) return res.body.data
    if (Date.now() > end) throw new Error(`documents did not settle: ${JSON.stringify(res.body.data.map((d: any) => [d.filename, d.status, d.error]))}`)
    await Bun.sleep(50)
  }
}

const search = (token: string, id: string, body: Record<string, unknown>) => env.call('POST', `${R}/collections/${id}/search`, { token, body })

const count = async (table: string, column: string, id: string) =>
  (await env.s.sql.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [id]))[0]!.n

describe('collections', () => {
  test('create, read, update; names unique per owner; settings validated', async () => {
    const c = await collection(owner.token, { name: 'handbook', description: 'HR', chunk_tokens: 200, chunk_overlap: 20 })
    const got = await env.call('GET', `${R}/collections/${c.id}`, { token: owner.token })
    expect(got.body).toMatchObject({ name: 'handbook', description: 'HR', chunk_tokens: 200, chunk_overlap: 20, embedding_model: null, document_count: 0 })
    expect((await env.call('POST', `${R}/collections`, { token: owner.token, body: { name: 'handbook' } })).status).toBe(409)
    const bad = await env.call('POST', `${R}/collections`, { token: owner.token, body: { name: 'x', chunk_tokens: 100, chunk_overlap: 60 } })
    expect(bad.status).toBe(400)
    expect(bad.body.error.param).toBe('chunk_overlap')
    const unknownModel = await env.call('POST', `${R}/collections`, { token: owner.token, body: { name: 'y', embedding_model: 'nope' } })
    expect(unknownModel.status).toBe(404)
    expect(unknownModel.body.error.code).toBe('model_not_found')
    const patched = await env.call('PATCH', `${R}/collections/${c.id}`, { token: owner.token, body: { description: 'People team' } })
    expect(patched.body.description).toBe('People team')
  })

  test("another user's collection is 404 everywhere; an admin sees it", async () => {
    const c = await collection(owner.token)
    for (const [method, path, body] of [
      ['GET', `${R}/collections/${c.id}`, undefined],
      ['PATCH', `${R}/collections/${c.id}`, { description: 'mine now' }],
      ['DELETE', `${R}/collections/${c.id}`, undefined],
      ['GET', `${R}/collections/${c.id}/documents`, undefined],
      ['POST', `${R}/collections/${c.id}/search`, { query: 'anything' }],
    ] as const) {
      const res = await env.call(method, path, { token: other.token, ...(body ? { body } : {}) })
      expect(res.status).toBe(404)
      expect(res.body.error.code).toBe('not_found')
    }
    expect((await upload({ token: other.token }, c.id, [['a.txt', 'hello there']])).status).toBe(404)
    expect((await env.call('GET', `${R}/collections`, { token: other.token })).body.data.map((x: any) => x.id)).not.toContain(c.id)
    expect((await env.call('GET', `${R}/collections/${c.id}`, { token: await env.adminToken() })).status).toBe(200)
  })

  test('read-only users can read but not write', async () => {
    const ro = await env.user('read_only')
    expect((await env.call('GET', `${R}/collections`, { token: ro.token })).status).toBe(200)
    expect((await env.call('POST', `${R}/collections`, { token: ro.token, body: { name: 'z' } })).status).toBe(403)
  })
})

describe('uploads and indexing', () => {
  let c: { id: string }
  let docs: any[]
  let rejected: any[]

  beforeAll(async () => {
    c = await collection(owner.token)
    const res = await upload({ token: owner.token }, c.id, [
      ['notes.txt', 'Plain notes about the quarterly offsite.\n\nThe venue is a lighthouse on the coast.'],
      ['guide.md', '# Setup\n\nInstall the heat pump.\n\n## Safety\n\nNever open the refrigerant circuit.'],
      ['page.html', '<html><head><title>Menu</title><script>var secret = "leak"</script></head><body><h1>Lunch</h1><p>Pumpkin soup today.</p></body></html>'],
      ['report.pdf', await pdfLibPdf(['Page one talks about glaciers.', 'Page two covers volcanoes erupting.'], 'Geology report')],
      ['policy.docx', await docx([['Travel policy', 'Heading1'], ['Economy class for flights under six hours.']])],
      ['budget.xlsx', workbook('xlsx', { Costs: [['Item', 'Amount'], ['Tents', 300], ['Kayaks', 450]] })],
      ['legacy.xls', workbook('xls', { Inventory: [['Part', 'Count'], ['Sprocket', 12]] })],
      ['people.csv', 'name,role\nAda,engineer\nGrace,admiral\n'],
      ['config.json', JSON.stringify({ service: { name: 'billing', owner: 'finance team' } })],
      ['faq.jsonl', [
        JSON.stringify({ text: 'Refunds are processed within 14 days.', title: 'Refunds', source_url: 'https://help.example/refunds' }),
        JSON.stringify({ text: 'Shipping to islands costs extra.', title: 'Shipping', source_url: 'https://help.example/shipping' }),
      ].join('\n')],
      ['program.exe', 'MZ not a document'],
      ['empty.txt', ''],
      ['image.pdf', PNG_BYTES],
      ['secret.pdf', handmadePdf(['classified'], { userPassword: 'hunter2' })],
    ])
    expect(res.status).toBe(202)
    rejected = res.body.rejected
    docs = await settled(owner.token, c.id)
  })

  test('refused up front: unsupported type and empty file, each named with its reason', () => {
    expect(rejected.map((r) => [r.filename, r.reason])).toEqual([
      ['program.exe', 'unsupported_type'],
      ['empty.txt', 'empty'],
    ])
    for (const r of rejected) expect(r.message).toContain(r.filename)
  })

  test('every supported format is indexed; content that does not match or is encrypted fails with a clear error', () => {
    const byName = Object.fromEntries(docs.map((d) => [d.filename, d]))
    for (const name of ['notes.txt', 'guide.md', 'page.html', 'report.pdf', 'policy.docx', 'budget.xlsx', 'legacy.xls', 'people.csv', 'config.json', 'faq.jsonl']) {
      expect(byName[name]?.status).toBe('indexed')
      expect(byName[name]?.chunk_count).toBeGreaterThan(0)
      expect(byName[name]?.progress).toBe(1)
    }
    expect(byName['image.pdf']).toMatchObject({ status: 'failed' })
    expect(byName['image.pdf'].error).toContain('image.pdf')
    expect(byName['secret.pdf']).toMatchObject({ status: 'failed' })
    expect(byName['secret.pdf'].error).toMatch(/secret\.pdf.*(password|encrypted)/i)
    expect(byName['faq.jsonl'].record_count).toBe(2)
    expect(byName['report.pdf'].title).toBe('Geology report')
  })

  test('structure is kept: pages, headings, sheets, jsonl metadata; script text never indexed', async () => {
    const chunksOf = async (name: string) => {
      const d = docs.find((x) => x.filename === name)
      return (await env.call('GET', `${R}/documents/${d.id}/chunks`, { token: owner.token })).body.data as any[]
    }
    expect((await chunksOf('report.pdf')).map((x) => x.page)).toEqual([1, 2])
    expect((await chunksOf('guide.md')).map((x) => x.heading)).toContain('Setup > Safety')
    expect((await chunksOf('budget.xlsx'))[0]).toMatchObject({ sheet: 'Costs' })
    const faq = await chunksOf('faq.jsonl')
    expect(faq.map((x) => x.metadata.source_url)).toEqual(['https://help.example/refunds', 'https://help.example/shipping'])
    expect((await chunksOf('page.html')).map((x) => x.text).join(' ')).not.toContain('leak')
  })

  test('originals are encrypted at rest, small ones in the database and large ones on disk; download decrypts both', async () => {
    const download = (id: string) => env.app.handle(new Request(`http://localhost${R}/documents/${id}/download`, { headers: { authorization: `Bearer ${owner.token}` } }))
    const d = docs.find((x) => x.filename === 'notes.txt')
    const [row] = await env.s.sql<{ body: Buffer }[]>`SELECT body FROM rag_originals WHERE document_id = ${d.id}`
    expect(row!.body.length).toBeGreaterThan(0)
    expect(Buffer.from(row!.body).includes(Buffer.from('lighthouse'))).toBe(false)
    expect(existsSync(join(env.s.config.FILE_STORAGE_DIR!, c.id, `${d.id}.enc`))).toBe(false)
    const res = await download(d.id)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-disposition')).toContain('notes.txt')
    expect(await res.text()).toContain('The venue is a lighthouse on the coast.')
    expect((await env.call('GET', `${R}/documents/${d.id}/download`, { token: other.token })).status).toBe(404)

    const text = 'The archive is kept in a lighthouse. '.repeat(Math.ceil((INLINE_ORIGINAL_BYTES + 1) / 37))
    const big = (await upload({ token: owner.token }, c.id, [['archive.txt', text]])).body.accepted[0]
    const path = join(env.s.config.FILE_STORAGE_DIR!, c.id, `${big.id}.enc`)
    expect(statSync(path).size).toBeGreaterThan(INLINE_ORIGINAL_BYTES)
    expect(readFileSync(path).includes(Buffer.from('lighthouse'))).toBe(false)
    expect((await env.s.sql`SELECT 1 FROM rag_originals WHERE document_id = ${big.id}`).count).toBe(0)
    expect(await (await download(big.id)).text()).toBe(text)
    await settled(owner.token, c.id)
    expect((await env.call('DELETE', `${R}/documents/${big.id}`, { token: owner.token })).status).toBe(204)
  })

  test('a file over the configured size limit is refused by name; the rest of the batch continues', async () => {
    const small = await createTestEnv({ UPLOAD_MAX_FILE_MB: '0.01' }, undefined)
    try {
      const token = await small.adminToken()
      const col = (await small.call('POST', `${R}/collections`, { token, body: { name: 'limits' } })).body
      const form = new FormData()
      form.append('files', new File(['x'.repeat(20_000)], 'big.txt'))
      form.append('files', new File(['small enough'], 'small.txt'))
      const res = await small.app.handle(
        new Request(`http://localhost${R}/collections/${col.id}/documents`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form }),
      )
      const body = (await res.json()) as any
      expect(res.status).toBe(202)
      expect(body.accepted.map((d: any) => d.filename)).toEqual(['small.txt'])
      expect(body.rejected).toEqual([{ filename: 'big.txt', reason: 'too_large', message: 'big.txt: the file is 19.5 KB; the limit is 10.2 KB' }])
    } finally {
      await small.close()
    }
  })

  test('the same content twice in a collection is refused as a duplicate', async () => {
    const res = await upload({ token: owner.token }, c.id, [['notes-copy.txt', 'Plain notes about the quarterly offsite.\n\nThe venue is a lighthouse on the coast.']])
    expect(res.status).toBe(400)
    expect(res.body.rejected[0]).toMatchObject({ filename: 'notes-copy.txt', reason: 'duplicate' })
    expect(res.body.rejected[0].message).toContain('notes.txt')
  })

  test('collection counts follow the documents', async () => {
    const got = (await env.call('GET', `${R}/collections/${c.id}`, { token: owner.token })).body
    expect(got.document_count).toBe(docs.length)
    expect(got.chunk_count).toBe(docs.reduce((n, d) => n + d.chunk_count, 0))
    expect(got.bytes).toBe(docs.reduce((n, d) => n + d.size, 0))
  })
})

describe('search', () => {
  let c: { id: string }
  const corpus: [string, string][] = [
    ['solar.txt', 'Photovoltaic panels convert sunlight into electricity. Solar farms need large open land.'],
    ['bees.txt', 'Honey bees pollinate crops and live in colonies ruled by a queen bee.'],
    ['rust.txt', 'Rust is a systems programming language with ownership and borrowing instead of garbage collection.'],
    ['tides.txt', 'Ocean tides are caused by the gravitational pull of the moon and the sun.'],
    ['garage.txt', 'Our garage offers car repair and brake checks for every vehicle brand.'],
  ]
  const idOf: Record<string, string> = {}

  beforeAll(async () => {
    c = await collection(owner.token, { embedding_model: 'sem-embed' })
    await upload({ token: owner.token }, c.id, corpus)
    for (const d of await settled(owner.token, c.id)) idOf[d.filename] = d.id
  })

  test('lexical (BM25): the known answer ranks first, with a snippet, per-ranker scores and timing', async () => {
    for (const [query, expected] of [
      ['what does the moon do to the ocean', 'tides.txt'],
      ['language without garbage collection', 'rust.txt'],
      ['who rules a bee colony', 'bees.txt'],
      ['electricity from sunlight', 'solar.txt'],
    ] as const) {
      const res = await search(owner.token, c.id, { query, mode: 'lexical', top_k: 3 })
      expect(res.status).toBe(200)
      expect(res.body.mode).toBe('lexical')
      expect(res.body.results[0].document_id).toBe(idOf[expected]!)
      expect(res.body.results[0].document_name).toBe(expected)
      expect(res.body.results[0].scores.lexical).toBeGreaterThan(0)
      expect(res.body.results[0].scores.lexical_rank).toBe(1)
      expect(res.body.results[0].snippet.length).toBeGreaterThan(0)
      expect(res.body.timing.lexical_ms).toBeGreaterThanOrEqual(0)
    }
  })

  test('vector search finds a paraphrase that shares no words; hybrid fuses both rankers', async () => {
    const lexical = await search(owner.token, c.id, { query: 'automobile maintenance', mode: 'lexical' })
    expect(lexical.body.results).toEqual([])
    const vector = await search(owner.token, c.id, { query: 'automobile maintenance', mode: 'vector', top_k: 1 })
    expect(vector.body.results[0].document_name).toBe('garage.txt')
    expect(vector.body.results[0].scores.vector).toBeGreaterThan(0.5)
    const hybrid = await search(owner.token, c.id, { query: 'automobile maintenance brake checks', top_k: 2 })
    expect(hybrid.body.mode).toBe('hybrid')
    const top = hybrid.body.results[0]
    expect(top.document_name).toBe('garage.txt')
    expect(top.scores).toMatchObject({ lexical_rank: 1, vector_rank: 1 })
    expect(top.score).toBeCloseTo(1, 5)
    expect(hybrid.body.timing.embed_ms).toBeGreaterThanOrEqual(0)
  })

  test('filters by document and metadata, threshold, top_k', async () => {
    const only = await search(owner.token, c.id, { query: 'bees moon rust sunlight', mode: 'lexical', top_k: 10, document_ids: [idOf['rust.txt']!] })
    expect(only.body.results.map((r: any) => r.document_name)).toEqual(['rust.txt'])
    const k2 = await search(owner.token, c.id, { query: 'bees moon rust sunlight', mode: 'lexical', top_k: 2 })
    expect(k2.body.results).toHaveLength(2)
    const high = await search(owner.token, c.id, { query: 'bees moon rust sunlight', mode: 'lexical', top_k: 10, score_threshold: 1e6 })
    expect(high.body.results).toEqual([])
    const meta = await search(owner.token, c.id, { query: 'bees', mode: 'lexical', metadata: { source_url: 'nowhere' } })
    expect(meta.body.results).toEqual([])
  })

  test('the in-memory BM25 ranks exactly as the SQL BM25', async () => {
    const col = await env.s.rag.collections.get({ userId: owner.id, isAdmin: false }, c.id)
    env.s.rag.lexical.drop(col.id)
    const query = 'moon sun ocean bees language garbage collection sunlight electricity'
    // No snapshot yet: answered by SQL (and a load starts).
    const fromSql = await env.s.rag.search.bm25(col, query, 10)
    await env.s.rag.lexical.settled()
    expect(env.s.rag.lexical.get(col)).toBeDefined()
    const fromMemory = await env.s.rag.search.bm25(col, query, 10)
    expect(fromMemory.map((h) => h.chunkId)).toEqual(fromSql.map((h) => h.chunkId))
    fromMemory.forEach((h, i) => expect(h.score).toBeCloseTo(fromSql[i]!.score, 9))
    expect(fromSql.length).toBeGreaterThan(3)
  })

  test('filtered searches rank as SQL does, in memory, however deep the passing chunks are', async () => {
    const deep = await collection(owner.token)
    // 260 chunks hold "common"; the one that passes the filter is the longest, so it ranks last: the first 200
    // checked hold none that passes, and the rest must be looked at too. It also holds "null", which an unquoted
    // array literal would have stored as NULL.
    const files: [string, string][] = Array.from({ length: 259 }, (_, i) => [`d${i}.txt`, `common word${i}`])
    files.push(['last.txt', `common null ${Array.from({ length: 40 }, (_, i) => `filler${i}`).join(' ')}`])
    for (let i = 0; i < files.length; i += 100) await upload({ token: owner.token }, deep.id, files.slice(i, i + 100))
    const docs = await settled(owner.token, deep.id)
    const last = docs.find((d) => d.filename === 'last.txt')!
    const col = await env.s.rag.collections.get({ userId: owner.id, isAdmin: false }, deep.id)
    await env.s.rag.search.bm25(col, 'common', 1)
    await env.s.rag.lexical.settled()
    expect(env.s.rag.lexical.get(col)).toBeDefined()
    const cases: [string, number, SearchFilter][] = [
      ['common', 1, { documentIds: [last.id] }],
      ['common', 5, { documentIds: [last.id, docs.find((d) => d.filename === 'd7.txt')!.id] }],
      ['null', 3, { documentIds: [last.id] }],
      ['common word3', 10, { metadata: { nothing: 'here' } }],
    ]
    for (const [query, k, filter] of cases) {
      const fromMemory = await env.s.rag.search.bm25(col, query, k, filter)
      env.s.rag.lexical.drop(col.id)
      const fromSql = await env.s.rag.search.bm25(col, query, k, filter)
      await env.s.rag.lexical.settled()
      expect(env.s.rag.lexical.get(col)).toBeDefined()
      expect(fromMemory.map((h) => h.chunkId)).toEqual(fromSql.map((h) => h.chunkId))
      fromMemory.forEach((h, i) => expect(h.score).toBeCloseTo(fromSql[i]!.score, 9))
    }
    const [lastChunk] = await env.s.sql<{ id: string }[]>`SELECT id FROM rag_chunks WHERE document_id = ${last.id}`
    for (const query of ['common', 'null'])
      expect((await env.s.rag.search.bm25(col, query, 1, { documentIds: [last.id] })).map((h) => h.chunkId)).toEqual([Number(lastChunk!.id)])
    expect(await env.s.rag.search.bm25(col, 'common word3', 10, { metadata: { nothing: 'here' } })).toEqual([])
  })

  test("this replica's own writes keep its in-memory postings current: no reload after indexing, the same ranking as SQL", async () => {
    const fresh = await collection(owner.token)
    // One file at a time, so the writes reach the cache in the order they committed whatever the backend's pool.
    for (const [name, text] of corpus) {
      await upload({ token: owner.token }, fresh.id, [[name, text]])
      await settled(owner.token, fresh.id)
    }
    const col = await env.s.rag.collections.get({ userId: owner.id, isAdmin: false }, fresh.id)
    const query = 'moon sun ocean bees language garbage collection sunlight electricity'
    // Current at once: get() would otherwise answer undefined and start a load.
    const written = env.s.rag.lexical.get(col)!
    expect(written).toBeDefined()
    const fromMemory = await env.s.rag.search.bm25(col, query, 10)
    env.s.rag.lexical.drop(col.id)
    const fromSql = await env.s.rag.search.bm25(col, query, 10)
    await env.s.rag.lexical.settled()
    const reloaded = await env.s.rag.search.bm25(col, query, 10)
    // The memory budget counts the same for a snapshot built by writes as for one loaded.
    expect(written.bytes).toBe(env.s.rag.lexical.get(col)!.bytes)
    expect(fromSql.length).toBeGreaterThan(3)
    for (const other of [fromMemory, reloaded]) {
      expect(other.map((h) => h.chunkId)).toEqual(fromSql.map((h) => h.chunkId))
      other.forEach((h, i) => expect(h.score).toBeCloseTo(fromSql[i]!.score, 9))
    }
    // A write it did not see (a delete moves the version) leaves the snapshot stale, never wrong.
    const [first] = await settled(owner.token, fresh.id)
    expect((await env.call('DELETE', `${R}/documents/${first.id}`, { token: owner.token })).status).toBe(204)
    const after = await env.s.rag.collections.get({ userId: owner.id, isAdmin: false }, fresh.id)
    expect(env.s.rag.lexical.get(after)).toBeUndefined()
  })

  test('a lexical-only collection refuses vector mode clearly', async () => {
    const plain = await collection(owner.token)
    const res = await search(owner.token, plain.id, { query: 'x', mode: 'vector' })
    expect(res.status).toBe(400)
    expect(res.body.error.param).toBe('mode')
  })

  test('the embedding calls are charged to the collection owner', async () => {
    await env.s.ledger.flush()
    const [row] = await env.s.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM usage_records WHERE user_id = ${owner.id} AND source = 'rag' AND endpoint = '/embeddings' AND status = 200`
    expect(row!.n).toBeGreaterThan(0)
  })
})

describe('lifecycle', () => {
  test('progress events stream over SSE until the document is indexed', async () => {
    const c = await collection(owner.token)
    const base = env.listen()
    const res = await fetch(`${base}${R}/collections/${c.id}/events`, { headers: { authorization: `Bearer ${owner.token}` } })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const reader = res.body!.getReader()
    await upload({ token: owner.token }, c.id, [['long.txt', 'word '.repeat(5000)]])
    const seen: string[] = []
    let buffered = ''
    const decoder = new TextDecoder()
    while (!seen.includes('indexed')) {
      const { value, done } = await reader.read()
      if (done) break
      buffered += decoder.decode(value, { stream: true })
      for (const m of buffered.matchAll(/data: (.+)\n/g)) seen.push(JSON.parse(m[1]!).status)
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1)
    }
    await reader.cancel()
    expect(seen[0]).toBe('queued')
    expect(seen).toContain('processing')
    expect(seen.at(-1)).toBe('indexed')
  })

  test('reprocess indexes again; delete leaves no chunks, chunk terms, vectors or original', async () => {
    const c = await collection(owner.token, { embedding_model: 'sem-embed' })
    // a.txt's original is a file (over INLINE_ORIGINAL_BYTES), b.txt's a row.
    await upload({ token: owner.token }, c.id, [['a.txt', 'alpha beta gamma. '.repeat(4000)], ['b.txt', 'delta epsilon']])
    const [a, b] = (await settled(owner.token, c.id)).sort((x, y) => x.filename.localeCompare(y.filename))
    const before = a.chunk_count
    expect((await env.call('POST', `${R}/documents/${a.id}/reprocess`, { token: owner.token })).status).toBe(202)
    const again = (await settled(owner.token, c.id)).find((d) => d.id === a.id)
    expect(again).toMatchObject({ status: 'indexed', chunk_count: before })
    expect(await count('rag_chunks', 'document_id', a.id)).toBe(before)

    const vectorTable = env.s.rag.vectors.kind === 'pgvector' ? 'rag_vectors' : 'rag_embeddings'
    const chunkIds = (await env.s.sql<{ id: string }[]>`SELECT id FROM rag_chunks WHERE document_id = ${a.id}`).map((r) => r.id)
    expect((await env.s.sql.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${vectorTable} WHERE chunk_id = ANY($1::bigint[])`, [chunkIds]))[0]!.n).toBe(before)
    expect(readdirSync(join(env.s.config.FILE_STORAGE_DIR!, c.id))).toEqual([`${a.id}.enc`])
    expect((await env.call('DELETE', `${R}/documents/${a.id}`, { token: owner.token })).status).toBe(204)
    expect(await count('rag_chunks', 'document_id', a.id)).toBe(0)
    expect((await env.s.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rag_chunk_terms WHERE chunk_id = ANY(${chunkIds}::bigint[])`)[0]!.n).toBe(0)
    expect((await env.s.sql.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${vectorTable} WHERE chunk_id = ANY($1::bigint[])`, [chunkIds]))[0]!.n).toBe(0)
    const originals = async () => (await env.s.sql<{ id: string }[]>`SELECT document_id AS id FROM rag_originals WHERE document_id IN (${a.id}, ${b.id})`).map((r) => r.id)
    expect(readdirSync(join(env.s.config.FILE_STORAGE_DIR!, c.id))).toEqual([])
    expect(await originals()).toEqual([b.id])
    const col = (await env.call('GET', `${R}/collections/${c.id}`, { token: owner.token })).body
    expect(col).toMatchObject({ document_count: 1, chunk_count: b.chunk_count, bytes: b.size })

    expect((await env.call('DELETE', `${R}/collections/${c.id}`, { token: owner.token })).status).toBe(204)
    expect(await count('rag_chunks', 'collection_id', c.id)).toBe(0)
    expect(await count('rag_chunk_terms', 'collection_id', c.id)).toBe(0)
    expect(await count('rag_documents', 'collection_id', c.id)).toBe(0)
    expect(readdirSync(env.s.config.FILE_STORAGE_DIR!)).not.toContain(c.id)
    expect(await originals()).toEqual([])
  })
})

describe('public API', () => {
  test('scopes and collection restrictions of API keys', async () => {
    const mine = await collection(owner.token)
    const theirs = await collection(owner.token)
    await upload({ token: owner.token }, mine.id, [['m.txt', 'marmalade recipe with oranges']])
    await settled(owner.token, mine.id)
    const key = async (body: Record<string, unknown>) =>
      (await env.call('POST', '/api-internal/v1/api-keys', { token: owner.token, body: { name: 'k', ...body } })).body.key as string
    const reader = await key({ scopes: ['rag:read'], allowed_collections: [mine.id] })
    const writer = await key({ scopes: ['rag:read', 'rag:write'] })
    const llmOnly = await key({ scopes: ['llm'] })

    const found = await env.call('POST', `/api/v1/rag/collections/${mine.id}/search`, { apiKey: reader, body: { query: 'oranges' } })
    expect(found.status).toBe(200)
    expect(found.body.results[0].document_name).toBe('m.txt')
    expect((await env.call('GET', '/api/v1/rag/collections', { apiKey: reader })).body.data.map((x: any) => x.id)).toEqual([mine.id])
    expect((await env.call('GET', `/api/v1/rag/collections/${theirs.id}`, { apiKey: reader })).status).toBe(404)
    const denied = await upload({ apiKey: reader }, mine.id, [['n.txt', 'new']], '/api/v1/rag')
    expect(denied.status).toBe(403)
    expect((await env.call('GET', '/api/v1/rag/collections', { apiKey: llmOnly })).status).toBe(403)
    const up2 = await upload({ apiKey: writer }, theirs.id, [['n.txt', 'nectarines and plums']], '/api/v1/rag')
    expect(up2.status).toBe(202)
    // A key never reaches another user's collections, even one of an admin.
    const adminKey = (await env.call('POST', '/api-internal/v1/api-keys', { token: await env.adminToken(), body: { name: 'a', scopes: ['rag:read'] } })).body.key
    expect((await env.call('GET', `/api/v1/rag/collections/${mine.id}`, { apiKey: adminKey })).status).toBe(404)
  })
})
