/** Closed-loop saturation runs with wrk (C, event-driven), driven by a generated Lua script. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Target } from './load.ts'

export interface WrkResult {
  requests: number
  durationS: number
  rps: number
  /** Responses with a 2xx status per second. */
  okRps: number
  p50Ms: number
  p99Ms: number
  errors: { connect: number; read: number; write: number; status: number; timeout: number }
}

export function wrkPath(): string | null {
  return Bun.which('wrk')
}

/** wrk's end-of-run hook: one line of JSON the runner parses (counts, errors, p50/p99 in microseconds). */
const DONE = `function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`

/** A Lua string literal: JSON string escapes (\" \\ \n \uXXXX for controls) are valid Lua for ASCII text. */
function luaString(s: string): string {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new Error('wrk script: only printable ASCII is supported in bodies and headers')
  return JSON.stringify(s)
}

function script(target: Target): string {
  const headers = Object.entries(target.headers)
    .map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`)
    .join('\n')
  return `
wrk.method = "POST"
wrk.body = ${luaString(target.body)}
${headers}

${DONE}`
}

export async function runWrk(
  target: Target,
  opts: { connections: number; durationS: number; threads: number; timeoutS: number },
): Promise<WrkResult> {
  const bin = wrkPath()
  if (!bin) throw new Error('wrk is not installed')
  const dir = mkdtempSync(join(tmpdir(), 'enclava-wrk-'))
  const luaPath = join(dir, 'post.lua')
  writeFileSync(luaPath, script(target))
  try {
    const proc = Bun.spawn(
      [
        bin,
        `-t${opts.threads}`,
        `-c${opts.connections}`,
        `-d${opts.durationS}s`,
        `--timeout`,
        `${opts.timeoutS}s`,
        '-s',
        luaPath,
        target.url,
      ],
      { stdout: 'pipe', stderr: 'pipe' },
    )
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '))
    if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${err}\n${out}`)
    const j = JSON.parse(line.slice('BENCH_JSON '.length)) as {
      requests: number
      duration_us: number
      connect: number
      read: number
      write: number
      status: number
      timeout: number
      p50_us: number
      p99_us: number
    }
    const durationS = j.duration_us / 1e6
    return {
      requests: j.requests,
      durationS,
      rps: j.requests / durationS,
      okRps: (j.requests - j.status) / durationS,
      p50Ms: j.p50_us / 1000,
      p99Ms: j.p99_us / 1000,
      errors: { connect: j.connect, read: j.read, write: j.write, status: j.status, timeout: j.timeout },
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * GET requests at saturation, rotating over `paths` of `base` (one path per request, in turn per connection): for
 * comparing routes, e.g. ten plugins against one native route. Same result shape as runWrk.
 */
export async function runWrkPaths(
  base: string,
  paths: readonly string[],
  opts: { connections: number; durationS: number; threads: number; timeoutS: number },
): Promise<WrkResult> {
  const bin = wrkPath()
  if (!bin) throw new Error('wrk is not installed')
  const dir = mkdtempSync(join(tmpdir(), 'enclava-wrk-'))
  const luaPath = join(dir, 'get.lua')
  writeFileSync(
    luaPath,
    `
local paths = { ${paths.map(luaString).join(', ')} }
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

${DONE}`,
  )
  try {
    const proc = Bun.spawn([bin, `-t${opts.threads}`, `-c${opts.connections}`, `-d${opts.durationS}s`, '--timeout', `${opts.timeoutS}s`, '-s', luaPath, base], {
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '))
    if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${err}\n${out}`)
    const j = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>
    const durationS = (j.duration_us ?? 0) / 1e6
    const requests = j.requests ?? 0
    const status = j.status ?? 0
    return {
      requests,
      durationS,
      rps: requests / durationS,
      okRps: (requests - status) / durationS,
      p50Ms: (j.p50_us ?? 0) / 1000,
      p99Ms: (j.p99_us ?? 0) / 1000,
      errors: { connect: j.connect ?? 0, read: j.read ?? 0, write: j.write ?? 0, status, timeout: j.timeout ?? 0 },
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
