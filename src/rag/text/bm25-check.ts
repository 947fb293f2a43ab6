/**
 * Reference BM25 over SciFact with the product analyzer: the numbers the SQL implementation is checked against.
 *
 *   bun src/rag/text/bm25-check.ts [k1=1.2] [b=0.5] [data dir=../shared/data/scifact]
 *
 * Scoring is Lucene's BM25 (idf = ln(1 + (N - df + 0.5) / (df + 0.5)), no (k1 + 1) factor, which does not change the
 * ranking), title and text as one field, query terms with repeats, ties broken by corpus id. Document lengths are
 * exact (Lucene rounds them to one byte), as a SQL implementation would store them.
 */
import { resolve } from 'node:path'
import { analyze } from './analyzer.ts'
import { evaluateRuns, parseQrels, type Qrels, type RunScores } from './metrics.ts'

export interface Bm25Index {
  ids: string[]
  lengths: Float64Array
  avgLength: number
  postings: Map<string, { docs: number[]; tfs: number[] }>
}

export function buildIndex(docs: readonly { id: string; text: string }[], analyzer = analyze): Bm25Index {
  const postings: Bm25Index['postings'] = new Map()
  const lengths = new Float64Array(docs.length)
  let total = 0
  docs.forEach((doc, d) => {
    const terms = analyzer(doc.text)
    lengths[d] = terms.length
    total += terms.length
    const tf = new Map<string, number>()
    for (const t of terms) tf.set(t, (tf.get(t) ?? 0) + 1)
    for (const [t, n] of tf) {
      let p = postings.get(t)
      if (!p) postings.set(t, (p = { docs: [], tfs: [] }))
      p.docs.push(d)
      p.tfs.push(n)
    }
  })
  return { ids: docs.map((d) => d.id), lengths, avgLength: docs.length ? total / docs.length : 0, postings }
}

export function search(index: Bm25Index, query: string, k1: number, b: number, topK = 100, analyzer = analyze): string[] {
  const n = index.ids.length
  const scores = new Float64Array(n)
  for (const term of analyzer(query)) {
    const p = index.postings.get(term)
    if (!p) continue
    const idf = Math.log(1 + (n - p.docs.length + 0.5) / (p.docs.length + 0.5))
    for (let i = 0; i < p.docs.length; i++) {
      const d = p.docs[i] as number
      const tf = p.tfs[i] as number
      scores[d] = (scores[d] as number) + (idf * tf) / (tf + k1 * (1 - b + (b * (index.lengths[d] as number)) / index.avgLength))
    }
  }
  const hits: number[] = []
  for (let d = 0; d < n; d++) if ((scores[d] as number) > 0) hits.push(d)
  const id = (d: number) => index.ids[d] as string
  hits.sort((x, y) => (scores[y] as number) - (scores[x] as number) || (id(x) < id(y) ? -1 : id(x) > id(y) ? 1 : 0))
  return hits.slice(0, topK).map(id)
}

export interface SciFact {
  docs: { id: string; text: string }[]
  queries: Map<string, string>
  train: Qrels
  test: Qrels
}

export async function loadSciFact(dir: string): Promise<SciFact> {
  const corpus = new TextDecoder().decode(Bun.gunzipSync(await Bun.file(resolve(dir, 'corpus.jsonl.gz')).bytes()))
  const docs = jsonLines<{ _id: string; title: string; text: string }>(corpus).map((d) => ({
    id: d._id,
    text: `${d.title}\n${d.text}`,
  }))
  const queries = new Map(jsonLines<{ _id: string; text: string }>(await Bun.file(resolve(dir, 'queries.jsonl')).text()).map((q) => [q._id, q.text]))
  const train = parseQrels(await Bun.file(resolve(dir, 'qrels/train.tsv')).text())
  const test = parseQrels(await Bun.file(resolve(dir, 'qrels/test.tsv')).text())
  return { docs, queries, train, test }
}

export function evaluateSplit(index: Bm25Index, data: SciFact, qrels: Qrels, k1: number, b: number, analyzer = analyze): RunScores {
  const runs = new Map<string, string[]>()
  for (const qid of qrels.keys()) runs.set(qid, search(index, data.queries.get(qid) ?? '', k1, b, 100, analyzer))
  return evaluateRuns(runs, qrels)
}

function jsonLines<T>(text: string): T[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T)
}

if (import.meta.main) {
  const [k1 = 1.2, b = 0.5] = Bun.argv.slice(2, 4).map(Number)
  const dir = Bun.argv[4] ?? resolve(import.meta.dir, '../../../../shared/data/scifact')
  const data = await loadSciFact(dir)
  const started = performance.now()
  const index = buildIndex(data.docs)
  const built = performance.now()
  const fmt = (s: RunScores) => `nDCG@10 ${s.ndcg10.toFixed(4)}  recall@100 ${s.recall100.toFixed(4)}  (${s.queries} queries)`
  console.log(`SciFact BM25 k1=${k1} b=${b}: ${data.docs.length} docs, ${index.postings.size} terms, indexed in ${(built - started).toFixed(0)} ms`)
  console.log(`train  ${fmt(evaluateSplit(index, data, data.train, k1, b))}`)
  console.log(`test   ${fmt(evaluateSplit(index, data, data.test, k1, b))}`)
}
