/**
 * Retrieval quality and speed on BEIR SciFact, through the real pipeline: the corpus is uploaded as one jsonl file
 * (one record per abstract), indexed by the background worker, and every query runs through the search service.
 *
 *   bun bench/rag.ts                      embedded PGlite, then PostgreSQL at BENCH_DATABASE_URL (default: the local
 *                                         postgres://postgres@127.0.0.1:5432/test, in a fresh schema dropped after)
 *   BENCH_BACKENDS=embedded bun bench/rag.ts
 *   BENCH_EMBEDDING_URL=http://host/v1 BENCH_EMBEDDING_MODEL=name   adds hybrid mode with that embeddings upstream
 *   BENCH_BM25=k1,b                       BM25 parameters to try (tune on train only)
 *   LEXICAL_CACHE_MB=0                    every lexical query answered by SQL instead of the in-memory postings
 *   BENCH_KEEP_SCHEMA=1                   keeps the PostgreSQL schema for inspection (EXPLAIN)
 *
 * Prints nDCG@10 / recall@100 on train (the split parameters were tuned on) and test (reported only), ingestion
 * throughput, and search latency p50/p99 (every query once, top 10 chunks, sequential, after the quality runs).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import { parseConfig, type Config } from '../src/config.ts'
import { createLogger } from '../src/log.ts'
import { openPlatform, type Platform } from '../src/platform.ts'
import type { SearchMode } from '../src/rag/model.ts'
import { BM25 } from '../src/rag/search.ts'
import { evaluateRuns, parseQrels, type Qrels, type RunScores } from '../src/rag/text/metrics.ts'
import { summarize } from './lib/stats.ts'

const DATA = resolve(import.meta.dir, '../../shared/data/scifact')
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const backends = (process.env.BENCH_BACKENDS ?? 'embedded,postgres').split(',')
const embeddingUrl = process.env.BENCH_EMBEDDING_URL
const embeddingModel = process.env.BENCH_EMBEDDING_MODEL
if (process.env.BENCH_BM25) [BM25.k1, BM25.b] = process.env.BENCH_BM25.split(',').map(Number) as [number, number]

const corpus = new TextDecoder()
  .decode(Bun.gunzipSync(await Bun.file(join(DATA, 'corpus.jsonl.gz')).bytes()))
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as { _id: string; title: string; text: string })
const jsonl = corpus.map((d) => JSON.stringify({ text: d.text, title: d.title, doc_id: d._id })).join('\n')
const queries = new Map(
  (await Bun.file(join(DATA, 'queries.jsonl')).text())
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { _id: string; text: string })
    .map((q) => [q._id, q.text]),
)
/** Chunks asked for per quality query: enough to rank 100 distinct abstracts for recall@100. */
const DEPTH = 150
const splits: [string, Qrels][] = [
  ['train', parseQrels(await Bun.file(join(DATA, 'qrels/train.tsv')).text())],
  ['test', parseQrels(await Bun.file(join(DATA, 'qrels/test.tsv')).text())],
]

async function run(backend: string): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'enclava-bench-rag-'))
  const schema = `bench_rag_${Date.now()}`
  let admin: postgres.Sql | undefined
  const env: Record<string, string> = { DATA_DIR: dataDir, LOG_LEVEL: 'warn', ADMIN_PASSWORD: 'bench-admin-password' }
  if (process.env.LEXICAL_CACHE_MB) env.LEXICAL_CACHE_MB = process.env.LEXICAL_CACHE_MB
  if (backend === 'postgres') {
    admin = postgres(PG_URL, { max: 1, onnotice: () => {} })
    await admin.unsafe(`CREATE SCHEMA ${schema}`)
    const u = new URL(PG_URL)
    u.searchParams.set('search_path', schema)
    env.DATABASE_URL = u.toString()
  }
  if (embeddingUrl) env.OPENAI_COMPAT_URL = embeddingUrl
  const raw = parseConfig(env)
  const config = { ...raw, JWT_SECRET: 'x'.repeat(48), ENCRYPTION_KEY: 'ab'.repeat(32) } as Config
  const platform: Platform = await openPlatform(config, createLogger('warn'))
  const s = platform.services
  try {
    const owner = (await s.users.byEmail(config.ADMIN_EMAIL))!
    const actor = { userId: owner.id, isAdmin: true }
    console.log(
      `\n== ${backend} (${platform.database.kind}, vectors: ${s.rag.vectors.kind}, BM25 k1=${BM25.k1} b=${BM25.b}, ` +
        `lexical cache ${config.LEXICAL_CACHE_MB} MB) ==`,
    )

    const collections: [SearchMode, string][] = []
    const lexical = await s.rag.collections.create(owner.id, { name: 'scifact' })
    collections.push(['lexical', lexical.id])
    if (embeddingUrl && embeddingModel) {
      const hybrid = await s.rag.collections.create(owner.id, { name: 'scifact-hybrid', embedding_model: embeddingModel })
      collections.push(['hybrid', hybrid.id])
    }

    for (const [mode, collectionId] of collections) {
      const started = performance.now()
      const { accepted } = await s.rag.documents.upload(actor, collectionId, [{ filename: 'scifact.jsonl', contentType: null, bytes: new TextEncoder().encode(jsonl) }])
      const docId = accepted[0]!.id
      for (;;) {
        const { doc } = await s.rag.documents.get(actor, docId)
        if (doc.status === 'indexed') break
        if (doc.status === 'failed') throw new Error(`indexing failed: ${doc.error}`)
        await Bun.sleep(100)
      }
      const seconds = (performance.now() - started) / 1000
      const col = await s.rag.collections.get(actor, collectionId)
      console.log(
        `ingest ${mode}: ${corpus.length} records -> ${col.chunk_count} chunks in ${seconds.toFixed(1)} s = ${(corpus.length / seconds).toFixed(0)} docs/s`,
      )

      const caller = { source: 'rag' as const, userId: owner.id, apiKey: null, requestId: 'bench', startedAt: 0 }
      const search = (query: string, topK: number) =>
        s.rag.search.search(actor, collectionId, { query, mode, top_k: topK }, { ...caller, startedAt: performance.now() })
      // Quality: chunks -> abstracts, each at the rank of its best chunk.
      const rank = async (query: string): Promise<string[]> => {
        const res = await search(query, DEPTH)
        return [...new Set(res.results.map((r) => String(r.metadata.doc_id)))]
      }
      // Warm-up: the first queries also start loading the replica's in-memory postings.
      for (const q of [...queries.values()].slice(0, 20)) await rank(q)
      await s.rag.lexical.settled()
      for (const [split, qrels] of splits) {
        const runs = new Map<string, string[]>()
        for (const qid of qrels.keys()) runs.set(qid, await rank(queries.get(qid) ?? ''))
        const scores: RunScores = evaluateRuns(runs, qrels)
        console.log(`${mode.padEnd(7)} ${split.padEnd(5)} nDCG@10 ${scores.ndcg10.toFixed(4)}  recall@100 ${scores.recall100.toFixed(4)}  (${scores.queries} queries)`)
      }
      // Latency: every query once more, as an application asks (top 10 chunks with snippets), timed end to end.
      const latencies: number[] = []
      const lexicalMs: number[] = []
      for (const q of queries.values()) {
        const t0 = performance.now()
        const res = await search(q, 10)
        latencies.push(performance.now() - t0)
        if (res.timing.lexical_ms !== null) lexicalMs.push(res.timing.lexical_ms)
      }
      const lat = summarize(latencies)
      const bm25 = summarize(lexicalMs)
      console.log(
        `${mode.padEnd(7)} search latency, ${lat.n} queries, top 10: p50 ${lat.p50.toFixed(2)} ms  p99 ${lat.p99.toFixed(2)} ms  ` +
          `max ${lat.max.toFixed(2)} ms (BM25 ranking alone: p50 ${bm25.p50.toFixed(2)} ms  p99 ${bm25.p99.toFixed(2)} ms)`,
      )
    }
    if (!embeddingUrl || !embeddingModel) console.log('hybrid: not run (no embedding model here; set BENCH_EMBEDDING_URL and BENCH_EMBEDDING_MODEL)')
  } finally {
    await platform.close()
    rmSync(dataDir, { recursive: true, force: true })
    if (admin && process.env.BENCH_KEEP_SCHEMA) console.log(`kept schema ${schema}`)
    else if (admin) {
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`)
      await admin.end()
    }
  }
}

console.log(`SciFact: ${corpus.length} abstracts, ${queries.size} queries`)
for (const backend of backends) await run(backend)
