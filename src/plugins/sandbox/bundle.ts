/**
 * Bundling a plugin is hermetic: the server never runs a plugin's code and never reads a file outside its folder
 * on its behalf. Bun.build in this process did both (a `with { type: 'macro' }` import ran code here, and
 * `../../secrets.json` or `/proc/self/environ` were inlined), so each bundle is made by sandbox/bundler.ts in a
 * Node process of its own that may read only the plugin folder and esbuild-wasm (whose browser build has no file
 * system and starts no process), with an empty environment, no writes, no child processes and no workers.
 * Measured on 2 shared cores: about 0.3 s and 135 MB peak RSS per bundle, nearly all of it compiling esbuild's
 * 14 MB wasm (1.8 s without --liftoff-only).
 */
import { createHash } from 'node:crypto'
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync, realpathSync, type Stats } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { SizedLru } from '../../cache/sized-lru.ts'
import { readCapped } from '../../http/read-capped.ts'

const REPO_ROOT = resolve(import.meta.dir, '../../..')
/** The bundler's answer is one JSON line: a 10 MB bundle, escaped. */
const MAX_ANSWER_BYTES = 32 * 1024 * 1024
const MAX_STDERR_CHARS = 2_000
/** Bundler processes at once (each is a Node process of about 135 MB for 0.3 s). */
const MAX_PARALLEL = 2
/** Folders hashed for the cache; a larger one is bundled every time. */
const CACHE_MAX_FILES = 2_000
const CACHE_MAX_BYTES = 10 * 1024 * 1024
/**
 * Characters of bundled code the cache keeps, least recently used dropped first. Sized by bytes, not entries: with
 * a count of 64, a server with 100 plugins had bundled the first ones at discovery and bundled them again, one Node
 * process of 0.3 s each, when they were enabled (`bun bench/plugins.ts`). A plugin's bundle is typically a few KB.
 */
const CACHE_MAX_CHARS = 32 * 1024 * 1024
const MAX_MANIFEST_BYTES = 256 * 1024

export interface BundleOptions {
  /** Node.js >= 24; default `node_modules/.bin/node` of the repository. */
  nodePath?: string
  /** Where bundler.ts lives; default the repository's `sandbox/`. */
  sandboxDir?: string
  /** The bundler process is killed after this long. Default 20 000. */
  timeoutMs?: number
}

/** One ES module whose only import is `enclava:plugin`, and the files it was made of (relative to the folder, sorted). */
export interface PluginBundle {
  code: string
  inputs: string[]
}

export class PluginBundleError extends Error {
  readonly entryPath: string
  readonly problems: string[]
  constructor(entryPath: string, problems: string[]) {
    super(`bundling plugin ${entryPath} failed:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'PluginBundleError'
    this.entryPath = entryPath
    this.problems = problems
  }
}

type BundlerAnswer = { ok: true; code: string; inputs: string[] } | { ok: false; problems: string[] }

/** By folderKey, sized by characters of code. */
const cache = new SizedLru<string, PluginBundle>(CACHE_MAX_CHARS)
let running = 0
const waiting: (() => void)[] = []

/**
 * Bundles a plugin entry into the single ES module the sandbox loads: every file it imports from `root` inlined,
 * `enclava:plugin` left as the only import. Only relative imports inside `root` resolve; npm packages, builtins,
 * absolute paths, links out of the folder and import attributes other than `type: "json"` are refused, each
 * problem naming the importing file. Unminified and without source maps, so stack traces and reviews read the real
 * code. Throws PluginBundleError.
 *
 * @example
 * const { code } = await bundlePlugin('plugins/hello/src/index.ts', 'plugins/hello')
 * await sandbox.load('hello', code, limits)
 */
export async function bundlePlugin(entryPath: string, root = dirname(entryPath), options: BundleOptions = {}): Promise<PluginBundle> {
  const entry = relative(resolve(root), resolve(entryPath))
  if (entry === '' || entry === '..' || entry.startsWith(`..${sep}`) || isAbsolute(entry)) throw new PluginBundleError(entryPath, [`the entry must be a file inside ${root}`])
  let realRoot: string
  try {
    realRoot = realpathSync(root)
  } catch (err) {
    throw new PluginBundleError(entryPath, [`${root}: ${(err as Error).message}`])
  }
  const sandboxDir = options.sandboxDir ?? join(REPO_ROOT, 'sandbox')
  const key = folderKey(realRoot, entry, sandboxDir)
  const cached = key === null ? undefined : cache.get(key)
  if (cached !== undefined) return { code: cached.code, inputs: [...cached.inputs] }

  const answer = await oneAtATime(() => runBundler(realRoot, entry, sandboxDir, options)).catch((err: unknown): BundlerAnswer => {
    return { ok: false, problems: [`the bundler failed: ${err instanceof Error ? err.message : String(err)}`] }
  })
  if (!answer.ok) throw new PluginBundleError(entryPath, answer.problems)
  const bundle = { code: answer.code, inputs: answer.inputs }
  // Cached only when the folder did not change while it was bundled.
  if (key !== null && folderKey(realRoot, entry, sandboxDir) === key) cache.set(key, bundle, bundle.code.length)
  return { code: bundle.code, inputs: [...bundle.inputs] }
}

async function runBundler(root: string, entry: string, sandbox: string, options: BundleOptions): Promise<BundlerAnswer> {
  const sandboxDir = realpathSync(sandbox)
  const bundler = join(sandboxDir, 'bundler.ts')
  const esbuildDir = realpathSync(dirname(Bun.resolveSync('esbuild-wasm/package.json', sandboxDir)))
  const timeoutMs = options.timeoutMs ?? 20_000
  const started = performance.now()
  const proc = Bun.spawn(
    [
      options.nodePath ?? join(REPO_ROOT, 'node_modules/.bin/node'),
      // Read access to the plugin, the bundler and esbuild-wasm only; no writes, processes or workers.
      '--permission',
      `--allow-fs-read=${root}`,
      `--allow-fs-read=${bundler}`,
      `--allow-fs-read=${join(sandboxDir, 'package.json')}`,
      `--allow-fs-read=${esbuildDir}`,
      // V8's baseline wasm compiler only: esbuild's 14 MB module is ready in a fraction of the time (0.3 s, not 1.8 s).
      '--liftoff-only',
      '--max-old-space-size=512',
      bundler,
      root,
      entry,
    ],
    { cwd: sandboxDir, env: {}, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', timeout: timeoutMs, killSignal: 'SIGKILL' },
  )
  const stderr = keepStart(proc.stderr)
  let out: Uint8Array
  try {
    out = await readCapped(proc.stdout, (total) => (total > MAX_ANSWER_BYTES ? new Error(`its answer is larger than ${MAX_ANSWER_BYTES} bytes`) : null))
  } catch (err) {
    proc.kill('SIGKILL')
    throw err
  }
  const code = await proc.exited
  // The answer is the last line (esbuild's Go runtime would print its own complaints to stdout too).
  const text = new TextDecoder().decode(out).trim().split('\n').at(-1) ?? ''
  if (proc.signalCode !== null || code !== 0 || text === '') {
    const timedOut = proc.signalCode === 'SIGKILL' && performance.now() - started >= timeoutMs
    const why = timedOut ? `it was stopped after ${timeoutMs} ms` : `it exited with ${proc.signalCode ?? code}`
    const detail = (await stderr).trim()
    throw new Error(detail === '' ? why : `${why}: ${detail}`)
  }
  const answer = JSON.parse(text) as BundlerAnswer
  if (answer.ok ? typeof answer.code !== 'string' || !Array.isArray(answer.inputs) : !Array.isArray(answer.problems))
    throw new Error('its answer is malformed')
  return answer
}

/** The first characters of a stream, for an error message; the rest is read and dropped. */
async function keepStart(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = ''
  const decoder = new TextDecoder()
  for await (const chunk of stream) if (text.length < MAX_STDERR_CHARS) text += decoder.decode(chunk, { stream: true })
  return text.slice(0, MAX_STDERR_CHARS)
}

async function oneAtATime<T>(run: () => Promise<T>): Promise<T> {
  if (running < MAX_PARALLEL) running++
  else await new Promise<void>((wake) => waiting.push(wake)) // the finishing run hands its slot over
  try {
    return await run()
  } finally {
    const next = waiting.shift()
    if (next === undefined) running--
    else next()
  }
}

/**
 * The cache key of a folder: the bundler, the entry and every directory and regular file under the root (paths and
 * bytes). The bundle is a function of these alone as long as nothing under the root is a link (a link could lead
 * outside, where a change would go unseen) or a special file, so such folders, and large ones, get null: no cache.
 */
function folderKey(root: string, entry: string, sandboxDir: string): string | null {
  const hash = createHash('sha256').update(`${sandboxDir}\0${root}\0${entry}\0`)
  let files = 0
  let bytes = 0
  const walk = (dir: string, prefix: string): boolean => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name)
      const stat = lstatSync(path)
      if (++files > CACHE_MAX_FILES) return false
      if (stat.isDirectory()) {
        hash.update(`d\0${prefix}${name}\0`)
        if (!walk(path, `${prefix}${name}${sep}`)) return false
      } else if (stat.isFile()) {
        const content = readFile(path, CACHE_MAX_BYTES - bytes)
        if (content === null) return false
        bytes += content.length
        hash.update(`f\0${prefix}${name}\0${content.length}\0`).update(content)
      } else return false
    }
    return true
  }
  try {
    return walk(root, '') ? hash.digest('hex') : null
  } catch {
    return null
  }
}

/** A regular file (not through a link), or null when it is not one or is larger than `budget`. */
function readFile(path: string, budget: number): Uint8Array | null {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile() || stat.size > budget) return null
    const bytes = new Uint8Array(stat.size)
    let read = 0
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, read)
      if (n === 0) return null
      read += n
    }
    return bytes
  } finally {
    closeSync(fd)
  }
}

/**
 * The text of a folder's plugin.json, read as the platform reads it: a regular file in the folder itself (a link,
 * which could lead anywhere, is refused), at most 256 KB. Throws an Error saying why not.
 * @example
 * const manifest = parseManifest(JSON.parse(readManifestText('plugins/hello')))
 */
export function readManifestText(folder: string): string {
  const path = join(folder, 'plugin.json')
  let stat: Stats
  try {
    stat = lstatSync(path)
  } catch {
    throw new Error('not found in the plugin folder')
  }
  if (stat.isSymbolicLink()) throw new Error('is a symbolic link; it must be a file in the plugin folder')
  if (!stat.isFile()) throw new Error('is not a regular file')
  if (stat.size > MAX_MANIFEST_BYTES) throw new Error(`is larger than ${MAX_MANIFEST_BYTES / 1024} KB`)
  const bytes = readFile(path, MAX_MANIFEST_BYTES)
  if (bytes === null) throw new Error('changed while it was read')
  return new TextDecoder().decode(bytes)
}
