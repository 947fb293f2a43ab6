/** Reads what bench/lib/server-probe.ts wrote from inside the server, cut to a phase of a benchmark. */
import { existsSync, readFileSync } from 'node:fs'

export interface ProbeLine {
  t: number
  loop: { n: number; p50: number; p99: number; p999: number; max: number }
  mem: {
    rss: number
    heapUsed: number
    heapTotal: number
    external: number
    arrayBuffers: number
  }
  /** Gaps of the probe's 1 ms timer over BENCH_PROBE_STALL_MS, with the main thread's CPU time in each. */
  stalls?: { at: number; ms: number; cpuMs: number }[]
  /** With BENCH_PROBE_HEAP=1 only (bun:jsc heapStats). */
  heap?: { size: number; capacity: number; extra: number; objects: number }
  types?: Record<string, number>
}

export function readProbe(file: string): ProbeLine[] {
  if (!existsSync(file)) return []
  const out: ProbeLine[] = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue
    try {
      out.push(JSON.parse(line) as ProbeLine)
    } catch {
      // a line cut short by a read during the write
    }
  }
  return out
}

export interface LoopSummary {
  /** One-second windows in the phase. */
  windows: number
  /** The longest event-loop delay seen (ms): the longest stall of the main thread. */
  longest: number
  /** The worst window's p99 and p99.9 of the delay (ms). */
  p99: number
  p999: number
  /** Windows whose longest delay exceeded `overMs`. */
  over: number
  overMs: number
  /**
   * The longest stall the main thread spent working (its CPU time in the gap, ms), and how many stalls over `overMs`
   * were mostly work (CPU at least half the gap) rather than the process waiting for a core.
   */
  longestBusy: number
  busyStalls: number
  stallsSeen: number
  /** Resident set size at the end of the phase and its highest value in it (bytes). */
  rssEnd: number
  rssMax: number
  /** The five stalls the main thread spent most computing: when each ended (epoch ms), its length and CPU (ms). */
  worst: { at: number; ms: number; cpuMs: number }[]
}

/**
 * The probe's lines of the windows that ended within [fromMs, toMs] (epoch ms), summarised. A window overlapping the
 * phase's start is left out (it measured the time before); the last one may include up to a second after the end.
 */
export function probeBetween(file: string, fromMs: number, toMs: number, overMs = 5): LoopSummary {
  const lines = readProbe(file).filter((l) => l.t >= fromMs + 1000 && l.t <= toMs + 1000)
  const max = (f: (l: ProbeLine) => number) => lines.reduce((m, l) => Math.max(m, f(l)), Number.NEGATIVE_INFINITY)
  return {
    windows: lines.length,
    longest: lines.length ? max((l) => l.loop.max) : Number.NaN,
    p99: lines.length ? max((l) => l.loop.p99) : Number.NaN,
    p999: lines.length ? max((l) => l.loop.p999) : Number.NaN,
    over: lines.filter((l) => l.loop.max > overMs).length,
    overMs,
    longestBusy: lines.length ? max((l) => Math.max(0, ...(l.stalls ?? []).map((s) => s.cpuMs))) : Number.NaN,
    busyStalls: lines.reduce((n, l) => n + (l.stalls ?? []).filter((s) => s.ms > overMs && s.cpuMs >= s.ms / 2).length, 0),
    stallsSeen: lines.reduce((n, l) => n + (l.stalls ?? []).filter((s) => s.ms > overMs).length, 0),
    rssEnd: lines.at(-1)?.mem.rss ?? Number.NaN,
    rssMax: lines.length ? max((l) => l.mem.rss) : Number.NaN,
    worst: lines
      .flatMap((l) => l.stalls ?? [])
      .sort((a, b) => b.cpuMs - a.cpuMs)
      .slice(0, 5),
  }
}
