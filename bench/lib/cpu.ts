/**
 * How much CPU the rest of the machine used while a phase ran: total busy time from /proc/stat minus the time of
 * the benchmark's own processes (this one, its reaped children such as wrk, the upstream and the server). Linux
 * only; elsewhere the numbers are NaN.
 */
import { readdirSync, readFileSync } from 'node:fs'

const CLK_TCK = 100

export interface CpuSnapshot {
  at: number
  /** Busy jiffies of the whole machine. */
  busy: number
  /** Jiffies of our own processes. */
  ours: number
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return null
  }
}

function procJiffies(pid: number, withChildren: boolean): number {
  const stat = read(`/proc/${pid}/stat`)
  if (!stat) return 0
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number)
  // after "pid (comm) ": state=0 ... utime=11 stime=12 cutime=13 cstime=14
  return (f[11] ?? 0) + (f[12] ?? 0) + (withChildren ? (f[13] ?? 0) + (f[14] ?? 0) : 0)
}

export function cpuSnapshot(childPids: readonly number[]): CpuSnapshot {
  const line = read('/proc/stat')?.split('\n')[0]
  if (!line) return { at: performance.now(), busy: NaN, ours: NaN }
  // cpu user nice system idle iowait irq softirq steal ...
  const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).map(Number)
  const ours = procJiffies(process.pid, true) + childPids.reduce((sum, pid) => sum + procJiffies(pid, false), 0)
  return { at: performance.now(), busy: user + nice + system + irq + softirq + steal, ours }
}

/** Cores used by other processes between two snapshots, and by ours. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): { others: number; ours: number } {
  const seconds = (b.at - a.at) / 1000
  if (seconds <= 0) return { others: NaN, ours: NaN }
  const ours = (b.ours - a.ours) / CLK_TCK / seconds
  return { others: Math.max(0, (b.busy - a.busy) / CLK_TCK / seconds - ours), ours }
}

/** Jiffies per thread of `pid`, keyed by thread id, with the thread's name (/proc/<pid>/task/<tid>/comm). */
export function threadSnapshot(pid: number): { at: number; threads: Map<string, { name: string; jiffies: number }> } {
  const threads = new Map<string, { name: string; jiffies: number }>()
  let tids: string[] = []
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    // not Linux, or the process is gone
  }
  for (const tid of tids) {
    const stat = read(`/proc/${pid}/task/${tid}/stat`)
    if (!stat) continue
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number)
    const name = (read(`/proc/${pid}/task/${tid}/comm`) ?? '?').trim()
    threads.set(tid, { name: tid === String(pid) ? `${name} (main)` : name, jiffies: (f[11] ?? 0) + (f[12] ?? 0) })
  }
  return { at: performance.now(), threads }
}

/** Cores per thread name between two snapshots, busiest first (threads of one name are summed). */
export function threadsBetween(a: ReturnType<typeof threadSnapshot>, b: ReturnType<typeof threadSnapshot>): { name: string; cores: number }[] {
  const seconds = (b.at - a.at) / 1000
  const byName = new Map<string, number>()
  for (const [tid, t] of b.threads) {
    const used = t.jiffies - (a.threads.get(tid)?.jiffies ?? 0)
    byName.set(t.name, (byName.get(t.name) ?? 0) + used / CLK_TCK / seconds)
  }
  return [...byName]
    .map(([name, cores]) => ({ name, cores }))
    .filter((t) => t.cores >= 0.005)
    .sort((x, y) => y.cores - x.cores)
}

/** CPU time (user + system) a process has used so far, all its threads, in ms; NaN when it cannot be read. */
export function processCpuMs(pid: number): number {
  const stat = read(`/proc/${pid}/stat`)
  if (!stat) return Number.NaN
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number)
  return (((f[11] ?? 0) + (f[12] ?? 0)) * 1000) / CLK_TCK
}
