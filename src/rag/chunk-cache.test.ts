/**
 * Rows of chunks kept from earlier searches (CHUNK_CACHE_MB): bounded by bytes, least recently used first out, frozen;
 * and through the API, a search answered from them equals SQL's answer and never shows a chunk deleted since, by this
 * replica or another one.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'
import { ChunkRowCache } from './chunk-cache.ts'

describe('ChunkRowCache', () => {
  const row = (text: string) => ({ text, metadata: { tags: ['a'] as string[] } })

  test('keeps rows within its budget, dropping the least recently used first', () => {
    const cache = new ChunkRowCache(100, (r: { text: string }) => r.text.length)
    cache.set(1, row('x'.repeat(40)))
    cache.set(2, row('y'.repeat(40)))
    expect(cache.get(1)?.text).toBe('x'.repeat(40))
    // 3 pushes out 2, which was used longer ago than 1.
    cache.set(3, row('z'.repeat(40)))
    expect([cache.get(1) !== undefined, cache.get(2) !== undefined, cache.get(3) !== undefined]).toEqual([true, false, true])
    expect(cache.bytes).toBe(80)
    // Set again: counted once.
    cache.set(3, row('z'.repeat(10)))
    expect(cache.bytes).toBe(50)
    expect(cache.size).toBe(2)
  })

  test('keeps nothing with a budget of 0, nor a row larger than the whole budget', () => {
    const none = new ChunkRowCache(0, (r: { text: string }) => r.text.length)
    none.set(1, row('x'))
    expect(none.get(1)).toBeUndefined()
    const small = new ChunkRowCache(10, (r: { text: string }) => r.text.length)
    small.set(1, row('x'.repeat(5)))
    small.set(2, row('x'.repeat(11)))
    expect(small.get(2)).toBeUndefined()
    expect(small.get(1)).toBeDefined()
  })

  test('rows are frozen, their metadata too: a caller cannot change what later searches show', () => {
    const cache = new ChunkRowCache<ReturnType<typeof row>>(1000, () => 1)
    cache.set(1, row('text'))
    const kept = cache.get(1)!
    expect(() => {
      ;(kept as { text: string }).text = 'changed'
    }).toThrow(TypeError)
    expect(() => kept.metadata.tags.push('b')).toThrow(TypeError)
    expect(cache.get(1)).toEqual(row('text'))
  })
})

describe('searches with kept rows', () => {
  let up: Upstream
  let env: TestEnv
  let replica: TestEnv
  let token: string
  let collectionId: string
  const R = '/api-internal/v1/rag'
  const FILES: Record<string, string> = {
    'a.txt': 'The zebra crossed the river at dawn with its herd of zebras.',
    'b.txt': 'A lone zebra grazed near the acacia trees while lions slept.',
    'c.txt': 'Zebra stripes confuse biting flies, a study of zebras found.',
    'd.txt': 'The quarterly budget review for the marketing department.',
  }

  beforeAll(async () => {
    // A stand-in embedding model: one dimension per word, hashed.
    up = await startUpstream({
      models: ['word-embed'],
      embed: (text, dims) => {
        const v = new Float32Array(Math.max(dims, 32))
        for (const w of text.toLowerCase().match(/[a-z]+/g) ?? []) v[Number(BigInt(Bun.hash(w)) % BigInt(v.length))]! += 1
        return v
      },
    })
    const config = { OPENAI_COMPAT_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' }
    env = await createTestEnv(config)
    replica = await createTestEnv(config, env)
    token = (await env.user('user')).token
    collectionId = await env.collection(token, FILES, { embedding_model: 'word-embed' })
  })
  afterAll(async () => {
    await replica?.close()
    await env?.close()
    await up?.stop()
  })

  const search = async (body: Record<string, unknown> = {}) => {
    const res = await env.call('POST', `${R}/collections/${collectionId}/search`, { token, body: { query: 'zebra', mode: 'lexical', top_k: 10, ...body } })
    expect(res.status).toBe(200)
    return res.body.results as { chunk_id: number; document_name: string; text: string; snippet: string; score: number; metadata: unknown }[]
  }

  /** Counts the search service's SQL statements that read chunk rows while `run` runs. */
  async function statements<T>(run: () => Promise<T>): Promise<{ result: T; count: number }> {
    const service = env.s.rag.search as unknown as { sql: unknown }
    const real = service.sql as (...args: unknown[]) => unknown
    let count = 0
    Object.defineProperty(service, 'sql', {
      configurable: true,
      value: new Proxy(real, {
        apply: (target, self, args) => {
          const text = Array.isArray(args[0]) ? (args[0] as string[]).join('?') : ''
          // The statements that read chunk rows, each with its document's name.
          if (text.includes('AS document_name')) count++
          return Reflect.apply(target, self, args)
        },
      }),
    })
    try {
      return { result: await run(), count }
    } finally {
      Object.defineProperty(service, 'sql', { configurable: true, value: real })
    }
  }

  test('a repeated search reads no chunk rows in SQL and answers exactly as the first, grouped or not', async () => {
    await search()
    await env.s.rag.lexical.settled()
    for (const body of [{}, { group_by: 'document' }, { top_k: 2 }]) {
      const first = await search(body)
      expect(first.length).toBeGreaterThan(0)
      const again = await statements(() => search(body))
      expect(again.count).toBe(0)
      expect(again.result).toEqual(first)
    }
    expect(env.s.rag.search.rows.size).toBe(3)
    expect(new Set((await search()).map((r) => r.document_name))).toEqual(new Set(['a.txt', 'b.txt', 'c.txt']))
  })

  test('answered from SQL rows, it is the same answer: without the cache, and without the in-memory index', async () => {
    const cached = await search()
    const rows = env.s.rag.search.rows
    for (const r of cached) rows.delete(r.chunk_id)
    const fromSql = await statements(() => search())
    expect(fromSql.count).toBe(1)
    expect(fromSql.result).toEqual(cached)
    // No index in memory: BM25 in SQL gives no documents with its candidates, so their rows are read in SQL.
    env.s.rag.lexical.drop(collectionId)
    const sqlRanked = await statements(() => search())
    expect(sqlRanked.count).toBe(1)
    expect(sqlRanked.result.map((r) => [r.chunk_id, r.text, r.snippet])).toEqual(cached.map((r) => [r.chunk_id, r.text, r.snippet]))
    await env.s.rag.lexical.settled()
  })

  test('a document deleted on another replica is not shown from the rows kept here, at once and after the reload', async () => {
    const before = await search()
    const b = before.find((r) => r.document_name === 'b.txt')!
    expect(env.s.rag.search.rows.get(b.chunk_id)).toBeDefined()
    const docs = (await replica.call('GET', `${R}/collections/${collectionId}/documents`, { token })).body.data as { id: string; filename: string }[]
    const docB = docs.find((d) => d.filename === 'b.txt')!
    expect((await replica.call('DELETE', `${R}/documents/${docB.id}`, { token })).status).toBe(204)

    const right = after(before, b.chunk_id)
    expect((await search()).map((r) => r.chunk_id)).toEqual(right)
    await env.s.rag.lexical.settled()
    expect((await search()).map((r) => r.chunk_id)).toEqual(right)
    expect((await search({ group_by: 'document' })).map((r) => r.document_name).toSorted()).toEqual(['a.txt', 'c.txt'])
  })

  test("a vector store's candidate is read in SQL: one whose chunk is gone is not shown from a kept row", async () => {
    const before = await search({ mode: 'hybrid' })
    const c = before.find((r) => r.document_name === 'c.txt')!
    expect(env.s.rag.search.rows.get(c.chunk_id)).toBeDefined()
    const docs = (await replica.call('GET', `${R}/collections/${collectionId}/documents`, { token })).body.data as { id: string; filename: string }[]
    expect((await replica.call('DELETE', `${R}/documents/${docs.find((d) => d.filename === 'c.txt')!.id}`, { token })).status).toBe(204)
    await env.s.rag.lexical.settled()
    await search()
    await env.s.rag.lexical.settled()
    // A vector store that has not heard of the delete (as Qdrant may not have, yet): c's chunk still its best.
    const vectors = env.s.rag.vectors
    const real = vectors.search.bind(vectors)
    vectors.search = async (...args) => [{ chunkId: c.chunk_id, score: 1 }, ...(await real(...args)).filter((h) => h.chunkId !== c.chunk_id)]
    try {
      for (const mode of ['vector', 'hybrid']) {
        const results = await search({ mode })
        expect(results.length).toBeGreaterThan(0)
        expect(results.map((r) => r.chunk_id)).not.toContain(c.chunk_id)
      }
    } finally {
      vectors.search = real
    }
  })

  const after = (results: { chunk_id: number }[], gone: number) => results.map((r) => r.chunk_id).filter((id) => id !== gone)
})
