/**
 * Retrieval metrics as trec_eval computes them (the numbers published for BEIR come from pytrec_eval): linear gain,
 * log2 discount, ideal ranking built from every judged document, and the mean taken over the judged queries only.
 */

/** Graded relevance of documents for one query: doc id -> grade; grades <= 0 count as not relevant. */
export type Judgments = ReadonlyMap<string, number>
/** query id -> judgments. */
export type Qrels = ReadonlyMap<string, Judgments>

/**
 * nDCG@k of one ranking.
 * @example ndcgAtK(['d1', 'd9', 'd2'], new Map([['d1', 1], ['d2', 1]]), 10) // (1 + 1/2) / (1 + 1/log2(3))
 */
export function ndcgAtK(ranked: readonly string[], judged: Judgments, k: number): number {
  let dcg = 0
  const depth = Math.min(k, ranked.length)
  for (let i = 0; i < depth; i++) {
    const gain = judged.get(ranked[i] as string) ?? 0
    if (gain > 0) dcg += gain / Math.log2(i + 2)
  }
  const ideal = [...judged.values()].filter((g) => g > 0).sort((a, b) => b - a)
  let idcg = 0
  for (let i = 0; i < Math.min(k, ideal.length); i++) idcg += (ideal[i] as number) / Math.log2(i + 2)
  return idcg === 0 ? 0 : dcg / idcg
}

/**
 * Share of the relevant documents found in the first k of a ranking.
 * @example recallAtK(['d1', 'd9'], new Map([['d1', 1], ['d2', 1]]), 100) // 0.5
 */
export function recallAtK(ranked: readonly string[], judged: Judgments, k: number): number {
  let relevant = 0
  for (const grade of judged.values()) if (grade > 0) relevant++
  if (relevant === 0) return 0
  let found = 0
  const depth = Math.min(k, ranked.length)
  for (let i = 0; i < depth; i++) if ((judged.get(ranked[i] as string) ?? 0) > 0) found++
  return found / relevant
}

export interface RunScores {
  ndcg10: number
  recall100: number
  queries: number
}

/**
 * Mean nDCG@10 and recall@100 over the queries that have judgments; a judged query missing from `runs` scores 0, so
 * a system cannot look better by skipping hard queries.
 */
export function evaluateRuns(runs: ReadonlyMap<string, readonly string[]>, qrels: Qrels): RunScores {
  let ndcg = 0
  let recall = 0
  for (const [qid, judged] of qrels) {
    const ranked = runs.get(qid) ?? []
    ndcg += ndcgAtK(ranked, judged, 10)
    recall += recallAtK(ranked, judged, 100)
  }
  const n = qrels.size
  return { ndcg10: n ? ndcg / n : 0, recall100: n ? recall / n : 0, queries: n }
}

/** BEIR qrels TSV (`query-id<TAB>corpus-id<TAB>score`, one header line). */
export function parseQrels(tsv: string): Qrels {
  const qrels = new Map<string, Map<string, number>>()
  for (const line of tsv.split('\n')) {
    const [qid, docId, score] = line.trim().split('\t')
    if (qid === undefined || docId === undefined || score === undefined) continue
    const grade = Number(score)
    // The header line ("score") and any malformed row fall out here.
    if (!Number.isFinite(grade)) continue
    let judged = qrels.get(qid)
    if (!judged) qrels.set(qid, (judged = new Map()))
    judged.set(docId, grade)
  }
  return qrels
}
