/**
 * Search grouped by document (`group_by: "document"`), on the configured store (embedded PGlite + pgvector, or
 * PostgreSQL + Redis): each document once at its best chunk, in score order, top_k documents even when the best
 * chunks all sit in one document, in every mode, with filters and thresholds; and the request validated.
 *
 * The collection: document A has ten chunks that match "zebra" strongly, B..E one weaker chunk each, F and G none.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { startUpstream, type Upstream } from '../../test/fixtures/upstream.ts'

/** A stand-in embedding model: zebra words share one dimension, every other word is hashed into the rest. */
function zebraEmbed(text: string, dims: number): Float32Array {
  const v = new Float32Array(dims)
  for (const w of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    if (w.startsWith('zebra') || w === 'stripes') v[0]! += 3
    else v[1 + (Number(BigInt(Bun.hash(w)) % BigInt(dims - 1)))]! += 0.3
  }
  return v
}

let env: TestEnv
let up: Upstream
let token: string
let collectionId: string
const idOf: Record<string, string> = {}

const R = '/api-internal/v1/rag'
const record = (text: string, team: string) => JSON.stringify({ text, team })
const FILES: [string, string][] = [
  [
    'a.jsonl',
    // Each chunk one "zebra" more than the one before, so A's chunks rank in the same order lexically and by vector:
    // ten equal vectors left their vector ranks to the index's order of ties, and hybrid's first chunk with them.
    Array.from({ length: 10 }, (_, i) => record(`Zebra ${i}: zebra stripes, a zebra herd, zebras and more zebra stripes.${' zebra'.repeat(i)}`, 'red')).join('\n'),
  ],
  ['b.jsonl', record('A field guide to the savanna: lions, giraffes, elephants and one zebra near the river at dusk.', 'blue')],
  [
    'c.jsonl',
    record('Notes from the park: the warthogs dug, the hippos bathed, the vultures circled, the baboons shrieked, a zebra drank slowly.', 'blue'),
  ],
  ['d.jsonl', record('Travel diary: long roads, dusty camps, cold mornings, warm tea, friendly rangers, a distant zebra on the ridge line.', 'red')],
  [
    'e.jsonl',
    record('Logistics: fuel, tyres, permits, maps, radios, water, spare parts, first aid kits, tents, and a zebra crossing sign in town.', 'red'),
  ],
  ['f.jsonl', record('Quarterly budget review for the marketing department.', 'red')],
  ['g.jsonl', record('Minutes of the annual general meeting of the chess club.', 'blue')],
]

beforeAll(async () => {
  up = await startUpstream({ models: ['mock-chat', 'zebra-embed'], embed: (t, d) => zebraEmbed(t, Math.max(d, 32)) })
  env = await createTestEnv({ OPENAI_COMPAT_URL: up.url, RATE_LIMIT_INTERNAL_PER_MINUTE: '5000' })
  token = (await env.user('user')).token
  const created = await env.call('POST', `${R}/collections`, { token, body: { name: 'savanna', embedding_model: 'zebra-embed' } })
  expect(created.status).toBe(201)
  collectionId = created.body.id
  const form = new FormData()
  for (const [name, text] of FILES) form.append('files', new File([text], name))
  const res = await env.app.handle(
    new Request(`http://localhost${R}/collections/${collectionId}/documents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    }),
  )
  expect(res.status).toBe(202)
  const end = Date.now() + 30_000
  for (;;) {
    const docs = (await env.call('GET', `${R}/collections/${collectionId}/documents`, { token })).body.data as any[]
    if (docs.every((d) => d.status === 'indexed')) {
      for (const d of docs) idOf[d.id] = d.filename[0]!.toUpperCase()
      expect(docs.find((d) => d.filename === 'a.jsonl').chunk_count).toBe(10)
      break
    }
    if (docs.some((d) => d.status === 'failed') || Date.now() > end)
      throw new Error(`not indexed: ${JSON.stringify(docs.map((d) => [d.filename, d.status, d.error]))}`)
    await Bun.sleep(50)
  }
})
afterAll(async () => {
  await env?.close()
  await up?.stop()
})

const search = async (body: Record<string, unknown>) => {
  const res = await env.call('POST', `${R}/collections/${collectionId}/search`, { token, body: { query: 'zebra', ...body } })
  expect(res.status).toBe(200)
  return res.body as { group_by: string; results: any[] }
}
const letters = (results: any[]) => results.map((r) => idOf[r.document_id])

/** The reference: every chunk in chunk mode, each document kept at its first (best) chunk. */
async function firstPerDocument(body: Record<string, unknown>): Promise<any[]> {
  const { results } = await search({ ...body, top_k: 100 })
  const seen = new Set<string>()
  return results.filter((r) => !seen.has(r.document_id) && seen.add(r.document_id))
}

/** Distinct documents, scores never rising, and exactly the reference's best chunks and scores. */
function expectGrouped(results: any[], reference: any[]) {
  expect(new Set(results.map((r) => r.document_id)).size).toBe(results.length)
  for (let i = 1; i < results.length; i++) expect(results[i].score).toBeLessThanOrEqual(results[i - 1].score)
  expect(results.map((r) => [r.document_id, r.chunk_id])).toEqual(reference.slice(0, results.length).map((r) => [r.document_id, r.chunk_id]))
  results.forEach((r, i) => expect(r.score).toBeCloseTo(reference[i].score, 9))
}

describe('group_by document', () => {
  test('chunk mode fills top_k with A; document mode returns A..E once each, at their best chunk', async () => {
    const chunks = await search({ mode: 'lexical', top_k: 5 })
    expect(chunks.group_by).toBe('chunk')
    expect(letters(chunks.results)).toEqual(['A', 'A', 'A', 'A', 'A'])
    expect(chunks.results[0].chunks).toBeUndefined()

    const docs = await search({ mode: 'lexical', top_k: 5, group_by: 'document' })
    expect(docs.group_by).toBe('document')
    expect(letters(docs.results)[0]).toBe('A')
    expect(new Set(letters(docs.results))).toEqual(new Set(['A', 'B', 'C', 'D', 'E']))
    expectGrouped(docs.results, await firstPerDocument({ mode: 'lexical' }))
    expect(docs.results.map((r) => r.chunks)).toEqual([10, 1, 1, 1, 1])
    // The best chunk's own ranks and snippet.
    expect(docs.results[0].scores.lexical_rank).toBe(1)
    expect(docs.results[1].scores.lexical_rank).toBe(11)
    expect(docs.results[1].snippet).toContain('zebra')
  })

  test("grouped in memory from the replica's index exactly as SQL groups them", async () => {
    const view = (results: any[]) => results.map((r) => [r.document_id, r.chunk_id, r.chunks, r.scores.lexical_rank])
    for (const top_k of [1, 2, 5, 100]) {
      const fromMemory = await search({ mode: 'lexical', top_k, group_by: 'document' })
      // No index in memory: BM25 and the grouping are SQL's (and a load starts).
      env.s.rag.lexical.drop(collectionId)
      const fromSql = await search({ mode: 'lexical', top_k, group_by: 'document' })
      await env.s.rag.lexical.settled()
      expect(view(fromMemory.results)).toEqual(view(fromSql.results))
      fromMemory.results.forEach((r, i) => expect(r.score).toBeCloseTo(fromSql.results[i].score, 9))
    }
  })

  test('asks deeper when the first candidates hold too few documents', async () => {
    // Two documents wanted, five chunks asked for first (2.3 chunks per document here), all of them A's: the search
    // asks again deeper and finds the second.
    const docs = await search({ mode: 'lexical', top_k: 2, group_by: 'document' })
    expect(docs.results).toHaveLength(2)
    expect(letters(docs.results)[0]).toBe('A')
    expectGrouped(docs.results, await firstPerDocument({ mode: 'lexical' }))
    // Fewer matching documents than asked: all of them, no padding.
    expect((await search({ mode: 'lexical', top_k: 100, group_by: 'document' })).results).toHaveLength(5)
  })

  test('vector and hybrid (grouped after fusion)', async () => {
    for (const mode of ['vector', 'hybrid'] as const) {
      const docs = await search({ mode, top_k: 5, group_by: 'document' })
      expect(docs.results).toHaveLength(5)
      expect(letters(docs.results)[0]).toBe('A')
      expectGrouped(docs.results, await firstPerDocument({ mode }))
    }
    // Every chunk has a vector score, so documents without the word are ranked too.
    const all = await search({ mode: 'vector', top_k: 100, group_by: 'document' })
    expect(new Set(letters(all.results))).toEqual(new Set(['A', 'B', 'C', 'D', 'E', 'F', 'G']))
    const hybrid = await search({ mode: 'hybrid', top_k: 3, group_by: 'document' })
    expect(hybrid.results[0].scores).toMatchObject({ lexical_rank: 1, vector_rank: expect.any(Number) })
    expect(hybrid.results[0].scores.fused).toBeGreaterThan(0)
  })

  test('document_ids and metadata filters, score_threshold', async () => {
    const ids = Object.entries(idOf)
      .filter(([, l]) => l === 'A' || l === 'C' || l === 'F')
      .map(([id]) => id)
    for (const mode of ['lexical', 'vector', 'hybrid'] as const) {
      const only = await search({ mode, top_k: 5, group_by: 'document', document_ids: ids })
      expect(new Set(letters(only.results))).toEqual(new Set(mode === 'lexical' ? ['A', 'C'] : ['A', 'C', 'F']))
      expectGrouped(only.results, await firstPerDocument({ mode, document_ids: ids }))

      const blue = await search({ mode, top_k: 5, group_by: 'document', metadata: { team: 'blue' } })
      expect(new Set(letters(blue.results))).toEqual(new Set(mode === 'lexical' ? ['B', 'C'] : ['B', 'C', 'G']))
      expectGrouped(blue.results, await firstPerDocument({ mode, metadata: { team: 'blue' } }))

      // A threshold between the second and third documents keeps two.
      const ref = await firstPerDocument({ mode })
      const threshold = (ref[1].score + ref[2].score) / 2
      const kept = await search({ mode, top_k: 5, group_by: 'document', score_threshold: threshold })
      expectGrouped(kept.results, ref)
      expect(kept.results).toHaveLength(2)
    }
  })

  test('an unknown group_by is refused, naming the field', async () => {
    const res = await env.call('POST', `${R}/collections/${collectionId}/search`, { token, body: { query: 'zebra', group_by: 'page' } })
    expect(res.status).toBe(400)
    expect(res.body.error).toMatchObject({ code: 'validation_failed', param: 'group_by' })
    expect(res.body.error.message).toContain('group_by')
  })

  test('the OpenAPI document describes group_by and chunks', async () => {
    const spec = (await env.call('GET', '/api/v1/docs/json')).body
    const post = spec.paths['/api/v1/rag/collections/{id}/search'].post
    const groupBy = post.requestBody.content['application/json'].schema.properties.group_by
    expect(groupBy).toMatchObject({ enum: ['chunk', 'document'], default: 'chunk' })
    expect(groupBy.description).toContain('each document once')
    const result = post.responses['200'].content['application/json'].schema.properties.results.items
    expect(result.properties.chunks.description).toContain('group_by "document" only')
  })
})
