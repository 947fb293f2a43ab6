/**
 * Aggregates a V8/JSC `.cpuprofile` (as written by `bun --cpu-prof`) by function: self time, inclusive time, and
 * self time per area (a node_modules package, a src/ directory, native code).
 *
 *   bun bench/lib/profile-summary.ts bench/out/gateway-*.cpuprofile [--top=20] [--from=<epoch ms>] [--to=<epoch ms>]
 *
 * --from/--to keep only the samples taken in that wall-clock window (Bun's profile timestamps are epoch µs), e.g.
 * to leave out start-up (PGlite loading its data directory, the tokenizer warming up) and shutdown.
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
  /** For native/builtin frames: the area of the nearest JS caller, which is what the time is really spent for. */
  via: string
  selfSamples: number
  totalSamples: number
}

export interface Window {
  /** Epoch ms. */
  from?: number | undefined
  to?: number | undefined
}

export interface ProfileSummary {
  samples: number
  /** Samples left out by the window. */
  excluded: number
  /** Median sampling interval, ms. */
  intervalMs: number
  /** Profile wall time, s. */
  wallS: number
  functions: FunctionStat[]
  areas: { area: string; selfSamples: number }[]
  /** Self time per area with native/builtin frames charged to their nearest JS caller's area. */
  attributed: { area: string; selfSamples: number }[]
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
  if (/^(builtin|node|bun|internal):/.test(u)) return '(bun builtins)'
  return u
}

const isBuiltinArea = (area: string): boolean => area === '(bun builtins)' || area.startsWith('internal:')

export function summarizeProfile(profile: CpuProfile, window: Window = {}): ProfileSummary {
  const byId = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const n of profile.nodes) byId.set(n.id, n)
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

  /**
   * Area of the nearest frame (this one or an ancestor) from application or package code. Bun's JS built-ins
   * (node:net, streams) are looked through too: a socket write is charged to whoever wrote.
   */
  const viaCache = new Map<number, string>()
  const viaOf = (id: number): string => {
    const cached = viaCache.get(id)
    if (cached !== undefined) return cached
    const n = byId.get(id)
    let via = '(bun runtime, no JS caller)'
    const area = n?.callFrame.url ? areaOf(n.callFrame.url, n.callFrame.functionName) : null
    if (area !== null && !isBuiltinArea(area)) via = area
    else {
      const p = parent.get(id)
      if (p !== undefined) via = viaOf(p)
    }
    viaCache.set(id, via)
    return via
  }

  const stats = new Map<string, FunctionStat>()
  const statOf = (n: ProfileNode): FunctionStat => {
    const native = !n.callFrame.url || isBuiltinArea(areaOf(n.callFrame.url, n.callFrame.functionName))
    const via = native ? viaOf(n.id) : ''
    const key = `${n.callFrame.functionName}\u0000${n.callFrame.url}\u0000${n.callFrame.lineNumber}\u0000${via}`
    let s = stats.get(key)
    if (!s) {
      const url = shortUrl(n.callFrame.url)
      s = {
        name: n.callFrame.functionName || '(anonymous)',
        location: url ? `${url}:${n.callFrame.lineNumber + 1}` : '',
        area: areaOf(n.callFrame.url, n.callFrame.functionName),
        via,
        selfSamples: 0,
        totalSamples: 0,
      }
      stats.set(key, s)
    }
    return s
  }

  // Samples per leaf node: from the sample list when present, else from hitCount.
  const hits = new Map<number, number>()
  let excluded = 0
  if (profile.samples?.length) {
    const fromUs = (window.from ?? -Infinity) * 1000
    const toUs = (window.to ?? Infinity) * 1000
    let t = profile.startTime
    profile.samples.forEach((id, i) => {
      t += profile.timeDeltas?.[i] ?? 0
      if (t < fromUs || t > toUs) excluded++
      else hits.set(id, (hits.get(id) ?? 0) + 1)
    })
  } else for (const n of profile.nodes) if (n.hitCount) hits.set(n.id, n.hitCount)

  let samples = 0
  const attributed = new Map<string, number>()
  for (const [id, count] of hits) {
    const leaf = byId.get(id)
    if (!leaf) continue
    samples += count
    const charged = viaOf(id)
    attributed.set(charged, (attributed.get(charged) ?? 0) + count)
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
    excluded,
    intervalMs,
    wallS: (profile.endTime - profile.startTime) / 1e6,
    functions: [...stats.values()],
    areas: [...areas].map(([area, selfSamples]) => ({ area, selfSamples })).sort((a, b) => b.selfSamples - a.selfSamples),
    attributed: [...attributed].map(([area, selfSamples]) => ({ area, selfSamples })).sort((a, b) => b.selfSamples - a.selfSamples),
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
    `${s.samples} samples (~${fmt((s.samples * s.intervalMs) / 1000, 1)} s of busy main-thread time, interval ${fmt(s.intervalMs, 3)} ms; ` +
      `idle is not sampled) in a ${fmt(s.wallS, 1)} s profile` +
      (s.excluded ? `; ${s.excluded} samples outside the window left out` : ''),
  )
  out.push('', `Top ${top} functions by self time:`)
  out.push(
    table([
      ['function', 'self%', 'self ms', 'total%', 'area (native/builtin: called from)', 'location'],
      ...bySelf.map((f) => [f.name, pct(f.selfSamples), ms(f.selfSamples), pct(f.totalSamples), f.via ? `native <- ${f.via}` : f.area, f.location]),
    ]),
  )
  out.push('', 'Self time by area, native and Bun built-in frames charged to their nearest package/application caller:')
  out.push(table([['area', 'self%', 'self ms'], ...s.attributed.slice(0, top).map((a) => [a.area, pct(a.selfSamples), ms(a.selfSamples)])]))
  out.push('', `Top ${top} src/ functions by inclusive time (self + callees):`)
  out.push(table([['function', 'total%', 'self%', 'location'], ...byTotal.map((f) => [f.name, pct(f.totalSamples), pct(f.selfSamples), f.location])]))
  return out.join('\n')
}

export function summarizeFile(path: string, top = 20, window: Window = {}): string {
  return renderSummary(summarizeProfile(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile, window), top)
}

if (import.meta.main) {
  const args = Bun.argv.slice(2)
  const opt = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
  const top = Number(opt('top') ?? 20)
  const from = opt('from')
  const to = opt('to')
  const window: Window = { from: from === undefined ? undefined : Number(from), to: to === undefined ? undefined : Number(to) }
  const files = args.filter((a) => !a.startsWith('--'))
  if (!files.length) {
    console.error('usage: bun bench/lib/profile-summary.ts <file.cpuprofile> [--top=20]')
    process.exit(2)
  }
  for (const f of files) console.log(`== ${f}\n${summarizeFile(f, top, window)}\n`)
}
