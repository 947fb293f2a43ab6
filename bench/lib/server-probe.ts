/**
 * Preloaded into the server by the benchmarks (`bun --preload bench/lib/server-probe.ts src/index.ts`), never by
 * production: every BENCH_PROBE_INTERVAL_MS (1000) it appends one JSON line to BENCH_PROBE_FILE with the main
 * thread's event-loop delay over that window (node:perf_hooks' histogram, 1 ms resolution: a request's handler, a GC
 * pause, a long synchronous write or a large batch of results all show here as the delay of the next timer) and the
 * process's memory. The benches cut these lines by phase (`probeBetween` in bench/lib/probe.ts).
 *
 *
 * A delay is not always the server's own work: on a shared machine the OS may not run the process for a while. So a
 * second, 1 ms timer measures each gap between its ticks together with the CPU the main thread used in it
 * (process.threadCpuUsage): a stall the thread spent computing is the server's; one it spent descheduled (CPU far
 * below the gap) is the machine's. The line lists the stalls over BENCH_PROBE_STALL_MS (5) of the window.
 *
 * With BENCH_PROBE_HEAP=1 the line also counts the JS heap's objects by type (bun:jsc heapStats): a walk of the whole
 * heap, 15 ms and more on the main thread per line, so for the footprint bench only, never for latency runs.
 */
import { appendFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { heapStats } from 'bun:jsc'

const file = process.env.BENCH_PROBE_FILE
const intervalMs = Number(process.env.BENCH_PROBE_INTERVAL_MS ?? 1000)
const withHeap = process.env.BENCH_PROBE_HEAP === '1'
const stallMs = Number(process.env.BENCH_PROBE_STALL_MS ?? 5)
const threadCpuMs = (): number => {
  const u = process.threadCpuUsage()
  return (u.user + u.system) / 1000
}

if (file) {
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const ms = (ns: number) => Math.round(ns / 1e4) / 100
  const round = (x: number) => Math.round(x * 100) / 100
  let stalls: { at: number; ms: number; cpuMs: number }[] = []
  let lastTick = performance.now()
  let lastCpu = threadCpuMs()
  const ticker = setInterval(() => {
    const now = performance.now()
    const cpu = threadCpuMs()
    const gap = now - lastTick - 1
    if (gap > stallMs && stalls.length < 50) stalls.push({ at: Date.now(), ms: round(gap), cpuMs: round(Math.min(gap, cpu - lastCpu)) })
    lastTick = now
    lastCpu = cpu
  }, 1)
  ticker.unref()
  const tick = setInterval(() => {
    // process.memoryUsage() costs microseconds; heapStats() walks the heap.
    const m = process.memoryUsage()
    const line: Record<string, unknown> = {
      t: Date.now(),
      loop: { n: loop.count, p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), p999: ms(loop.percentile(99.9)), max: ms(loop.max) },
      mem: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers },
      stalls,
    }
    stalls = []
    if (withHeap) {
      const h = heapStats()
      line.heap = { size: h.heapSize, capacity: h.heapCapacity, extra: h.extraMemorySize, objects: h.objectCount }
      line.types = Object.fromEntries(
        Object.entries(h.objectTypeCounts)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 12),
      )
    }
    appendFileSync(file, `${JSON.stringify(line)}\n`)
    loop.reset()
  }, intervalMs)
  tick.unref()
}
