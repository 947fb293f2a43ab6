/** The top-k selection of a lexical query: the same chunks, in the same order, as sorting every touched chunk. */
import { expect, test } from 'bun:test'
import { best } from './lexical-cache.ts'

function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
}

test('best(k) equals a full sort by score, then id, cut at k: 5,000 random cases with ties, k from 0 past the count', () => {
  const r = rng(7)
  for (let n = 0; n < 5_000; n++) {
    const size = Math.floor(r() * 300)
    // Few distinct scores, so ties are common and the id decides; ids are not in dense order.
    const scores = Float64Array.from({ length: size }, () => Math.floor(r() * 8) / 4)
    const ids = Float64Array.from({ length: size }, (_, i) => (i * 7919) % 10_007)
    const touched = Array.from({ length: size }, (_, i) => i).filter(() => r() < 0.7)
    const k = Math.floor(r() * (size + 20))
    const expected = touched
      .map((c) => ({ chunkId: ids[c]!, score: scores[c]! }))
      .sort((x, y) => y.score - x.score || x.chunkId - y.chunkId)
      .slice(0, k)
    expect(best(touched, scores, ids, k).map(({ at, score }) => ({ chunkId: ids[at]!, score }))).toEqual(expected)
  }
})
