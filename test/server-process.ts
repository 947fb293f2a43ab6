/** Starts the real server process (`bun src/index.ts`) for tests that need one or several. */
import { join } from 'node:path'
import postgres from 'postgres'
import type { Subprocess } from 'bun'

export const ROOT = join(import.meta.dir, '..')

export interface Server {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  url: string
  lines: string[]
  /** Resolves with the exit code once the process ended and all its output was read. */
  exited: Promise<number>
}

/** Extra environment so the server uses a fresh schema and cache namespace of its own. */
export async function storeEnv(schema: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {}
  const url = process.env.DATABASE_URL
  if (url) {
    const admin = postgres(url, { max: 1, onnotice: () => {} })
    await admin.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    await admin.end()
    const u = new URL(url)
    u.searchParams.set('search_path', schema)
    env.DATABASE_URL = u.toString()
  }
  if (process.env.REDIS_URL) {
    env.REDIS_URL = process.env.REDIS_URL
    env.REDIS_PREFIX = `test:${schema}:`
  }
  return env
}

export async function startServer(env: Record<string, string>): Promise<Server> {
  const proc = Bun.spawn(['bun', 'src/index.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const lines: string[] = []
  let resolveUrl: (url: string) => void = () => {}
  const urlPromise = new Promise<string>((resolve) => (resolveUrl = resolve))
  const reading = (async () => {
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of proc.stdout) {
      buffered += decoder.decode(chunk, { stream: true })
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        lines.push(line)
        const url = /"url":"(http:\/\/[^"]+)"/.exec(line)?.[1]
        if (url) resolveUrl(url)
      }
    }
  })()
  const exited = Promise.all([proc.exited, reading]).then(([code]) => code)
  const url = await Promise.race([
    urlPromise,
    exited.then(async (code) => {
      throw new Error(`server exited with ${code}: ${await new Response(proc.stderr).text()}\n${lines.join('\n')}`)
    }),
  ])
  return { proc, url, lines, exited }
}

