import { readFileSync } from 'node:fs'

/**
 * How the server thread's event loop fared while `work` ran: a 1 ms timer turned as often as the loop let it, and the
 * longest gap between turns is the longest the thread was held. Tests of work moved off the server thread compare
 * that gap with the whole (a ratio within one run, not a time): held on the thread, one synchronous run is most of it.
 *
 * A gap does not count the time the thread was ready but waited for a CPU (Linux's schedstat run delay): on a loaded
 * machine the kernel can leave it off both cores for tens of milliseconds, which is the machine's load, not work held
 * on the thread (a probe beside six busy loops: gaps of 5–16 ms, all but 0–3 ms of each such waiting). Time the thread
 * spent blocked (on a lock, a synchronous wait for another thread) still counts, as does a collection's pause.
 *
 * @example
 * const { value, longestGap, turns, took } = await loopTurnsWhile(pool.prepare(big))
 * expect(longestGap).toBeLessThan(took / 4)
 */
export async function loopTurnsWhile<T>(work: Promise<T>): Promise<{ value: T; longestGap: number; turns: number; took: number }> {
  const started = performance.now()
  let last = started
  let lastWait = runDelayMs()
  let longestGap = 0
  let turns = 0
  let done = false
  const settled = work.finally(() => (done = true))
  while (!done) {
    await Bun.sleep(1)
    const now = performance.now()
    const wait = runDelayMs()
    longestGap = Math.max(longestGap, now - last - Math.max(0, wait - lastWait))
    last = now
    lastWait = wait
    turns++
  }
  return { value: await settled, longestGap, turns, took: performance.now() - started }
}

/** Milliseconds this thread has spent ready to run but waiting for a CPU (0 where the kernel does not say). */
function runDelayMs(): number {
  try {
    // /proc/<pid>/task/<pid> is the main thread, which runs JavaScript; the second field is its run delay in ns.
    const fields = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')
    return Number(fields[1]) / 1e6 || 0
  } catch {
    return 0
  }
}
