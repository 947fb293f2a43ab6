/**
 * How the server thread's event loop fared while `work` ran: a 1 ms timer turned as often as the loop let it, and the
 * longest gap between turns is the longest the thread was held. Tests of work moved off the server thread compare
 * that gap with the whole (a ratio within one run, not a time): held on the thread, one synchronous run is most of it.
 *
 * @example
 * const { value, longestGap, turns, took } = await loopTurnsWhile(pool.prepare(big))
 * expect(longestGap).toBeLessThan(took / 4)
 */
export async function loopTurnsWhile<T>(work: Promise<T>): Promise<{ value: T; longestGap: number; turns: number; took: number }> {
  const started = performance.now()
  let last = started
  let longestGap = 0
  let turns = 0
  let done = false
  const settled = work.finally(() => (done = true))
  while (!done) {
    await Bun.sleep(1)
    const now = performance.now()
    longestGap = Math.max(longestGap, now - last)
    last = now
    turns++
  }
  return { value: await settled, longestGap, turns, took: performance.now() - started }
}
