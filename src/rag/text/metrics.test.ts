import { describe, expect, test } from 'bun:test'
import { evaluateRuns, ndcgAtK, parseQrels, recallAtK } from './metrics.ts'

describe('ndcgAtK', () => {
  // Relevant: a (grade 2), b (grade 1), c (grade 1). Ranking: x, a, c, y, b.
  // DCG@10  = 2/log2(3) + 1/log2(4) + 1/log2(6)  = 1.261860 + 0.5 + 0.386853 = 2.148713
  // IDCG@10 = 2/log2(2) + 1/log2(3) + 1/log2(4)  = 2 + 0.630930 + 0.5        = 3.130930
  const judged = new Map([['a', 2], ['b', 1], ['c', 1], ['z', 0]])
  const ranked = ['x', 'a', 'c', 'y', 'b']

  test('hand-computed graded example', () => {
    expect(ndcgAtK(ranked, judged, 10)).toBeCloseTo(2.148713 / 3.13093, 5)
  })

  test('cut-off drops hits below k but keeps the ideal at k', () => {
    // DCG@2 = 2/log2(3) = 1.261860; IDCG@2 = 2 + 1/log2(3) = 2.630930
    expect(ndcgAtK(ranked, judged, 2)).toBeCloseTo(1.26186 / 2.63093, 5)
  })

  test('perfect and empty rankings', () => {
    expect(ndcgAtK(['a', 'b', 'c'], judged, 10)).toBeCloseTo(1, 10)
    expect(ndcgAtK([], judged, 10)).toBe(0)
    expect(ndcgAtK(['a'], new Map(), 10)).toBe(0)
  })
})

describe('recallAtK', () => {
  test('counts only grades > 0 and only the first k', () => {
    const judged = new Map([['a', 1], ['b', 1], ['z', 0]])
    expect(recallAtK(['z', 'a', 'q'], judged, 100)).toBe(0.5)
    expect(recallAtK(['q', 'a', 'b'], judged, 2)).toBe(0.5)
    expect(recallAtK(['b', 'a'], judged, 2)).toBe(1)
  })
})

test('evaluateRuns averages over judged queries; a missing run scores 0', () => {
  const qrels = parseQrels('query-id\tcorpus-id\tscore\n1\ta\t1\n2\tb\t1\n')
  const scores = evaluateRuns(new Map([['1', ['a']], ['3', ['b']]]), qrels)
  expect(scores).toEqual({ ndcg10: 0.5, recall100: 0.5, queries: 2 })
})
