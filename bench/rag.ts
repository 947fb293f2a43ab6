/**
 * Retrieval quality and speed on BEIR SciFact, through the HTTP API of the real server (`bun src/index.ts` in its own
 * process, on a fresh data directory): every abstract is uploaded as a document of its own (a one-record jsonl file,
 * 100 files per request, as a client would), indexed by the background worker, and every query is a
 * `POST /api/v1/rag/collections/{id}/search` with an API key.
 *
 *   bun bench/rag.ts                      embedded PGlite, then PostgreSQL at BENCH_DATABASE_URL (default: the local
 *                                         postgres://postgres@127.0.0.1:5432/test, in a fresh schema dropped after)
 *   BENCH_BACKENDS=embedded bun bench/rag.ts
 *   BENCH_EMBEDDING_URL=http://host/v1 BENCH_EMBEDDING_MODEL=name   adds hybrid mode with that embeddings upstream
 *   BENCH_BM25=k1,b                       BM25 parameters to try (tune on train only; bench/lib/rag-server.ts sets them)
 *   LEXICAL_CACHE_MB=0                    every lexical query answered by SQL instead of the in-memory postings
 *   INGEST_CONCURRENCY=N                  the server's setting (batches of documents indexed at once)
 *   CHUNK_CACHE_MB=0                      every result's row read in SQL (by default the latency runs, after the quality
 *                                         runs, find most rows they show kept from those)
 *   BENCH_KEEP_SCHEMA=1                   keeps the PostgreSQL schema for inspection (EXPLAIN)
 *   BENCH_PROFILE_DIR=<dir>               the server runs under `bun --cpu-prof`, writing <dir>/rag.cpuprofile
 *                                         (bun bench/lib/profile-summary.ts, with --from/--to for the ingestion window)
 *   BENCH_SERVER_ROOT=<dir>               runs another checkout's server (before/after comparisons, as bench/gateway.ts)
 *
 * Prints nDCG@10 / recall@100 on train (the split parameters were tuned on) and test (reported only), from document
 * results (`group_by: "document"`, `top_k: 100`), beside the same metrics from 100 chunks grouped here (what a client
 * got before documents could be asked for); ingestion throughput; and search latency over HTTP, p50/p99 of every
 * query once, sequential, after the quality runs, for four requests: 10 chunks (as an application asks), 10
 * documents, 100 chunks and 100 documents (`wall` is timed by this client from fetch() to the parsed answer, `server` is the
 * answer's own `timing.total_ms`).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import { BM25 } from '../src/rag/search.ts'
import type { SearchMode, SearchResponse } from '../src/rag/model.ts'
import { evaluateRuns, parseQrels, type Qrels, type RunScores } from '../src/rag/text/metrics.ts'
import { codeVersion, ROOT, spawnServer, tail, type Child } from './lib/procs.ts'
import { summarize } from './lib/stats.ts'

const DATA = resolve(import.meta.dir, '../../shared/data/scifact')
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const backends = (process.env.BENCH_BACKENDS ?? 'embedded,postgres').split(',')
const embeddingUrl = process.env.BENCH_EMBEDDING_URL
const embeddingModel = process.env.BENCH_EMBEDDING_MODEL
const tunedBm25 = process.env.BENCH_BM25
const bm25 = tunedBm25 ? tunedBm25.split(',').map(Number) : [BM25.k1, BM25.b]
const ADMIN_EMAIL = 'admin@enclava.local'
const ADMIN_PASSWORD = 'bench-admin-password'
/** Files per upload request: the server's limit. */
const FILES_PER_UPLOAD = 100

const corpus = new TextDecoder()
  .decode(Bun.gunzipSync(await Bun.file(join(DATA, 'corpus.jsonl.gz')).bytes()))
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as { _id: string; title: string; text: string })
const queries = new Map(
  (await Bun.file(join(DATA, 'queries.jsonl')).text())
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { _id: string; text: string })
    .map((q) => [q._id, q.text]),
)
const splits: [string, Qrels][] = [
  ['train', parseQrels(await Bun.file(join(DATA, 'qrels/train.tsv')).text())],
  ['test', parseQrels(await Bun.file(join(DATA, 'qrels/test.tsv')).text())],
]

/** JSON over HTTP with the API key; throws with the answer on any non-2xx. */
function client(base: string, auth: string) {
  return async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${auth}`, ...(body === undefined || body instanceof FormData ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: body instanceof FormData ? body : JSON.stringify(body) }),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`)
    return (text ? JSON.parse(text) : undefined) as T
  }
}
type Call = ReturnType<typeof client>

/** Admin session -> API key that may read and write documents (and embed, for hybrid). */
async function apiKey(base: string): Promise<string> {
  const { access_token } = await client(base, '')<{ access_token: string }>('POST', '/api-internal/v1/auth/login', {
    email: ADMIN_EMAIL,
    password: ADMIN_PASSWORD,
  })
  const key = await client(base, access_token)<{ key: string }>('POST', '/api-internal/v1/api-keys', {
    name: 'bench-rag',
    scopes: ['llm', 'rag:read', 'rag:write'],
  })
  return key.key
}

/** Every abstract as a one-record jsonl document, then waits until none is queued or processing. */
async function ingest(call: Call, collectionId: string): Promise<{ seconds: number; uploadSeconds: number; failed: number; chunks: number }> {
  const started = performance.now()
  const startedAt = Date.now()
  const R = `/api/v1/rag/collections/${collectionId}`
  for (let i = 0; i < corpus.length; i += FILES_PER_UPLOAD) {
    const form = new FormData()
    for (const d of corpus.slice(i, i + FILES_PER_UPLOAD))
      form.append('files', new File([JSON.stringify({ text: d.text, title: d.title, doc_id: d._id })], `${d._id}.jsonl`))
    const { rejected } = await call<{ rejected: { filename: string; message: string }[] }>('POST', `${R}/documents`, form)
    for (const r of rejected) console.log(`  refused ${r.filename}: ${r.message}`)
  }
  const uploadSeconds = (performance.now() - started) / 1000
  // The windows to cut a profile by (bun bench/lib/profile-summary.ts --from= --to=).
  if (process.env.BENCH_PROFILE_DIR) console.log(`  uploads from ${startedAt} to ${Date.now()} (epoch ms)`)
  const count = async (status: string) => (await call<{ total: number }>('GET', `${R}/documents?status=${status}&limit=1`)).total
  while ((await count('queued')) + (await count('processing')) > 0) await Bun.sleep(250)
  const seconds = (performance.now() - started) / 1000
  if (process.env.BENCH_PROFILE_DIR) console.log(`  indexing done at ${Date.now()} (epoch ms)`)
  const { chunk_count } = await call<{ chunk_count: number }>('GET', R)
  return { seconds, uploadSeconds, failed: await count('failed'), chunks: chunk_count }
}

async function run(backend: string): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'enclava-bench-rag-'))
  const logPath = join(dataDir, 'server.log')
  const schema = `bench_rag_${Date.now()}`
  let admin: postgres.Sql | undefined
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    RATE_LIMIT_PUBLIC_PER_MINUTE: '100000000',
    RATE_LIMIT_INTERNAL_PER_MINUTE: '1000000',
  }
  if (process.env.LEXICAL_CACHE_MB) env.LEXICAL_CACHE_MB = process.env.LEXICAL_CACHE_MB
  if (process.env.CHUNK_CACHE_MB) env.CHUNK_CACHE_MB = process.env.CHUNK_CACHE_MB
  if (process.env.INGEST_CONCURRENCY) env.INGEST_CONCURRENCY = process.env.INGEST_CONCURRENCY
  if (tunedBm25) env.BENCH_BM25 = tunedBm25
  if (backend === 'postgres') {
    admin = postgres(PG_URL, { max: 1, onnotice: () => {} })
    await admin.unsafe(`CREATE SCHEMA ${schema}`)
    const u = new URL(PG_URL)
    u.searchParams.set('search_path', schema)
    env.DATABASE_URL = u.toString()
  }
  if (embeddingUrl) env.OPENAI_COMPAT_URL = embeddingUrl
  let server: Child | undefined
  try {
    server = await spawnServer({ env, logPath, root: process.env.BENCH_SERVER_ROOT || undefined, ...(tunedBm25 ? { entry: 'bench/lib/rag-server.ts' } : {}), ...(process.env.BENCH_PROFILE_DIR ? { cpuProfile: { dir: process.env.BENCH_PROFILE_DIR, name: 'rag.cpuprofile', intervalUs: 1000 } } : {}) })
    const call = client(server.url, await apiKey(server.url))
    const cache = process.env.LEXICAL_CACHE_MB ?? 'default'
    const rowCache = process.env.CHUNK_CACHE_MB ?? 'default'
    console.log(`\n== ${backend} (server ${server.url}, BM25 k1=${bm25[0]} b=${bm25[1]}, lexical cache ${cache} MB, chunk row cache ${rowCache} MB) ==`)

    const collections: [SearchMode, string][] = []
    collections.push(['lexical', (await call<{ id: string }>('POST', '/api/v1/rag/collections', { name: 'scifact' })).id])
    if (embeddingUrl && embeddingModel) {
      const hybrid = await call<{ id: string }>('POST', '/api/v1/rag/collections', { name: 'scifact-hybrid', embedding_model: embeddingModel })
      collections.push(['hybrid', hybrid.id])
    }

    for (const [mode, collectionId] of collections) {
      const { seconds, uploadSeconds, failed, chunks } = await ingest(call, collectionId)
      console.log(
        `ingest ${mode}: ${corpus.length} documents -> ${chunks} chunks in ${seconds.toFixed(1)} s = ${(corpus.length / seconds).toFixed(0)} docs/s` +
          ` (the uploads, ${FILES_PER_UPLOAD} files per request, took ${uploadSeconds.toFixed(1)} s; indexing ended ${(seconds - uploadSeconds).toFixed(1)} s after them)` +
          (failed ? ` (${failed} failed)` : ''),
      )
      const search = (query: string, body: Record<string, unknown>) =>
        call<SearchResponse>('POST', `/api/v1/rag/collections/${collectionId}/search`, { query, mode, ...body })
      const abstracts = (res: SearchResponse) => res.results.map((r) => String(r.metadata.doc_id))
      const asked = {
        documents: async (q: string) => abstracts(await search(q, { top_k: 100, group_by: 'document' })),
        // What a client could do before: 100 chunks, each abstract at the rank of its best chunk.
        chunks: async (q: string) => [...new Set(abstracts(await search(q, { top_k: 100 })))],
      }

      // The first queries after indexing, timed one by one: the replica's in-memory postings are not current yet.
      const firsts: number[] = []
      for (const q of [...queries.values()].slice(0, 5)) {
        const t0 = performance.now()
        await search(q, { top_k: 10 })
        firsts.push(performance.now() - t0)
      }
      console.log(`${mode.padEnd(7)} first queries after indexing (10 chunks): ${firsts.map((f) => f.toFixed(1)).join(', ')} ms`)
      targets.push(`first query after indexing <= 200 ms (${backend}, ${mode}): ${firsts[0]!.toFixed(1)} ms -> ${firsts[0]! <= 200 ? 'PASS' : 'FAIL'}`)
      if (backend === 'embedded')
        targets.push(`ingestion >= 1000 documents/s (embedded, ${mode}): ${(corpus.length / seconds).toFixed(0)} -> ${corpus.length / seconds >= 1000 ? 'PASS' : 'FAIL'}`)
      // Warm-up: the first queries also start loading the replica's in-memory postings.
      for (const q of [...queries.values()].slice(0, 20)) await asked.documents(q)
      for (const [split, qrels] of splits) {
        const line: string[] = []
        for (const [name, rank] of Object.entries(asked)) {
          const runs = new Map<string, string[]>()
          for (const qid of qrels.keys()) runs.set(qid, await rank(queries.get(qid) ?? ''))
          const s: RunScores = evaluateRuns(runs, qrels)
          line.push(`${name.padEnd(9)} nDCG@10 ${s.ndcg10.toFixed(4)}  recall@100 ${s.recall100.toFixed(4)}`)
        }
        console.log(`${mode.padEnd(7)} ${split.padEnd(5)} ${line.join('  |  ')}  (${qrels.size} queries)`)
      }

      // On a shared machine, latencies under a high load average are not comparable.
      console.log(`${mode.padEnd(7)} load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} before the latency runs`)
      for (const [label, body] of [
        ['10 chunks', { top_k: 10 }],
        ['10 documents', { top_k: 10, group_by: 'document' }],
        ['100 chunks', { top_k: 100 }],
        ['100 documents', { top_k: 100, group_by: 'document' }],
      ] as const) {
        const wall: number[] = []
        const total: number[] = []
        const lexicalMs: number[] = []
        for (const q of queries.values()) {
          const t0 = performance.now()
          const res = await search(q, body)
          wall.push(performance.now() - t0)
          total.push(res.timing.total_ms)
          if (res.timing.lexical_ms !== null) lexicalMs.push(res.timing.lexical_ms)
        }
        const [w, s, l] = [summarize(wall), summarize(total), summarize(lexicalMs)]
        if (mode === 'lexical') targets.push(`lexical search p99 <= 10 ms warm (${backend}, ${label}): ${w.p99.toFixed(2)} ms -> ${w.p99 <= 10 ? 'PASS' : 'FAIL'}`)
        console.log(
          `${mode.padEnd(7)} latency ${label.padEnd(13)} wall p50 ${w.p50.toFixed(2)} ms  p99 ${w.p99.toFixed(2)} ms | ` +
            `server p50 ${s.p50.toFixed(2)} ms  p99 ${s.p99.toFixed(2)} ms | ` +
            `BM25 p50 ${l.p50.toFixed(2)} ms  p99 ${l.p99.toFixed(2)} ms  (${w.n} queries)`,
        )
      }
    }
    if (!embeddingUrl || !embeddingModel) console.log('hybrid: not run (no embedding model here; set BENCH_EMBEDDING_URL and BENCH_EMBEDDING_MODEL)')
  } catch (err) {
    console.error(`--- server log tail ---\n${tail(logPath)}\n${tail(`${logPath}.stderr`)}`)
    throw err
  } finally {
    await server?.stop()
    rmSync(dataDir, { recursive: true, force: true })
    if (admin && process.env.BENCH_KEEP_SCHEMA) console.log(`kept schema ${schema}`)
    else if (admin) {
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`)
      await admin.end()
    }
  }
}

/** The issue's targets (20), each with the figure it is judged on, printed at the end. */
const targets: string[] = []
console.log(`SciFact: ${corpus.length} abstracts, ${queries.size} queries; server code ${codeVersion(ROOT) ?? 'unknown'}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
for (const backend of backends) await run(backend)
console.log(`\nTargets (issue 20), beside the figures (load average now ${loadavg().map((l) => l.toFixed(2)).join(' ')}):\n  ${targets.join('\n  ')}`)
