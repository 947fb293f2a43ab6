/**
 * Aggregates a V8/JSC `.cpuprofile` (as written by `bun --cpu-prof`) by function: self time, inclusive time, and
 * self time per area (a node_modules package, a src/ directory, native code).
 *
 *   bun bench/lib/profile-summary.ts bench/out/gateway-*.cpuprofile [--top=20]
 */
import { readFileSync } from 'node:fs'
import { fmt, table } from './stats.ts'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
  columnNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
  hitCount?: number
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples?: number[]
  timeDeltas?: number[]
}

export interface FunctionStat {
  name: string
  location: string
  area: string
  selfSamples: number
  totalSamples: number
}

export interface ProfileSummary {
  samples: number
  /** Median sampling interval, ms. */
  intervalMs: number
  /** Profile wall time, s. */
  wallS: number
  functions: FunctionStat[]
  areas: { area: string; selfSamples: number }[]
}

const ROOT_PREFIX = `file://${new URL('../..', import.meta.url).pathname}`

function shortUrl(url: string): string {
  if (!url) return ''
  const noScheme = url.startsWith(ROOT_PREFIX) ? url.slice(ROOT_PREFIX.length) : url.replace(/^file:\/\//, '')
  return noScheme.replace(/^.*node_modules\/(?:\.bun\/[^/]+\/node_modules\/)?/, 'node_modules/')
}

/** Where code lives: a package, a src/ or test/ directory, Bun's built-ins, or native. */
function areaOf(url: string, name: string): string {
  const u = shortUrl(url)
  if (!u) return name.startsWith('(') ? name : '(native / builtin)'
  const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1]
  if (pkg) return pkg
  const src = /^(src\/[^/]+|test\/[^/]+|bench)/.exec(u)?.[1]
  if (src) return src.replace(/\.ts$/, '')
  if (u.startsWith('builtin:') || u.startsWith('node:') || u.startsWith('bun:')) return '(bun builtins)'
  return u
}

export function summarizeProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const n of profile.nodes) byId.set(n.id, n)
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

  const keyOf = (n: ProfileNode): string => `${n.callFrame.functionName}\u0000${n.callFrame.url}\u0000${n.callFrame.lineNumber}`
  const stats = new Map<string, FunctionStat>()
  const statOf = (n: ProfileNode): FunctionStat => {
    const key = keyOf(n)
    let s = stats.get(key)
    if (!s) {
      const url = shortUrl(n.callFrame.url)
      s = {
        name: n.callFrame.functionName || '(anonymous)',
        location: url ? `${url}:${n.callFrame.lineNumber + 1}` : '',
        area: areaOf(n.callFrame.url, n.callFrame.functionName),
        selfSamples: 0,
        totalSamples: 0,
      }
      stats.set(key, s)
    }
    return s
  }

  // Samples per leaf node: from the sample list when present, else from hitCount.
  const hits = new Map<number, number>()
  if (profile.samples?.length) for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1)
  else for (const n of profile.nodes) if (n.hitCount) hits.set(n.id, n.hitCount)

  let samples = 0
  for (const [id, count] of hits) {
    const leaf = byId.get(id)
    if (!leaf) continue
    samples += count
    statOf(leaf).selfSamples += count
    const seen = new Set<FunctionStat>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur)
      if (!node || node.callFrame.functionName === '(root)') break
      const s = statOf(node)
      if (!seen.has(s)) {
        seen.add(s)
        s.totalSamples += count
      }
    }
  }

  const deltas = [...(profile.timeDeltas ?? [])].filter((d) => d > 0).sort((a, b) => a - b)
  const intervalMs = deltas.length ? (deltas[Math.floor(deltas.length / 2)] ?? 1000) / 1000 : 1
  const areas = new Map<string, number>()
  for (const s of stats.values()) areas.set(s.area, (areas.get(s.area) ?? 0) + s.selfSamples)
  return {
    samples,
    intervalMs,
    wallS: (profile.endTime - profile.startTime) / 1e6,
    functions: [...stats.values()],
    areas: [...areas].map(([area, selfSamples]) => ({ area, selfSamples })).sort((a, b) => b.selfSamples - a.selfSamples),
  }
}

export function renderSummary(s: ProfileSummary, top = 20): string {
  const pct = (n: number) => `${fmt((100 * n) / Math.max(1, s.samples), 1)}%`
  const ms = (n: number) => fmt(n * s.intervalMs, 0)
  const bySelf = [...s.functions].sort((a, b) => b.selfSamples - a.selfSamples).slice(0, top)
  const byTotal = [...s.functions]
    .filter((f) => f.area.startsWith('src/'))
    .sort((a, b) => b.totalSamples - a.totalSamples)
    .slice(0, top)
  const out: string[] = []
  out.push(
    `${s.samples} samples (~${fmt(s.samples * s.intervalMs / 1000, 1)} s on-CPU JS/native time sampled, interval ${fmt(s.intervalMs, 3)} ms) over ${fmt(s.wallS, 1)} s wall`,
  )
  out.push('', `Top ${top} functions by self time:`)
  out.push(table([['function', 'self%', 'self ms', 'total%', 'area', 'location'], ...bySelf.map((f) => [f.name, pct(f.selfSamples), ms(f.selfSamples), pct(f.totalSamples), f.area, f.location])]))
  out.push('', 'Self time by area:')
  out.push(table([['area', 'self%', 'self ms'], ...s.areas.slice(0, top).map((a) => [a.area, pct(a.selfSamples), ms(a.selfSamples)])]))
  out.push('', `Top ${top} src/ functions by inclusive time (self + callees):`)
  out.push(table([['function', 'total%', 'self%', 'location'], ...byTotal.map((f) => [f.name, pct(f.totalSamples), pct(f.selfSamples), f.location])]))
  return out.join('\n')
}

export function summarizeFile(path: string, top = 20): string {
  return renderSummary(summarizeProfile(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile), top)
}

if (import.meta.main) {
  const args = Bun.argv.slice(2)
  const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 20)
  const files = args.filter((a) => !a.startsWith('--'))
  if (!files.length) {
    console.error('usage: bun bench/lib/profile-summary.ts <file.cpuprofile> [--top=20]')
    process.exit(2)
  }
  for (const f of files) console.log(`== ${f}\n${summarizeFile(f, top)}\n`)
}
