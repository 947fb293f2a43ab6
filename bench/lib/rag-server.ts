/**
 * The real server (src/index.ts) with other BM25 parameters, for tuning them on SciFact's train split through the
 * HTTP API: `BENCH_BM25=k1,b` is read here, never by the server itself.
 */
import { BM25 } from '../../src/rag/search.ts'

const tuned = process.env.BENCH_BM25?.split(',').map(Number)
if (!tuned || tuned.length !== 2 || tuned.some((n) => !Number.isFinite(n) || n < 0))
  throw new Error(`BENCH_BM25 must be k1,b (got ${process.env.BENCH_BM25})`)
;[BM25.k1, BM25.b] = tuned as [number, number]
await import('../../src/index.ts')
