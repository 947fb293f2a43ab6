/**
 * Bundles one plugin folder into the single ES module the sandbox loads, without running any of its code and
 * without reading anything outside the folder. The server (src/plugins/sandbox/bundle.ts) starts this as its own
 * Node process for every bundle: an empty environment, Node's permission model with read access to the plugin
 * folder, this file and esbuild-wasm only, no writes, no child processes, no workers.
 *
 *   node bundler.ts <plugin folder> <entry, relative to the folder>
 *
 * prints exactly one JSON line, `{ ok: true, code, inputs }` or `{ ok: false, problems }`, and exits.
 *
 * esbuild-wasm's browser build has no file system and starts no process; macros and plugins it does not know do
 * not exist for it. Every file it sees comes through `pluginFiles` below, which resolves relative imports inside
 * the folder (by realpath, since Node's permission model follows symlinks) and refuses everything else.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild-wasm/esm/browser.js'

const MAX_FILES = 500
const MB = 1024 * 1024
const MAX_SOURCE_BYTES = 10 * MB
const MAX_OUTPUT_BYTES = 10 * MB
const PLUGIN_MODULE = 'enclava:plugin'
const EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.json']
const INDEXES = ['/index.ts', '/index.js']
const LOADERS: Record<string, esbuild.Loader> = { '.ts': 'ts', '.mts': 'ts', '.js': 'js', '.mjs': 'js', '.json': 'json' }
const BUILTINS = new Set(builtinModules)

type BundlerResult = { ok: true; code: string; inputs: string[] } | { ok: false; problems: string[] }

const inside = (root: string, path: string) => path === root || path.startsWith(root + sep)

/** Why a specifier that is neither relative nor enclava:plugin is refused. */
function foreign(specifier: string): string {
  const first = specifier.split('/')[0] ?? specifier
  if (/^(node|bun):/.test(specifier) || specifier === 'bun' || BUILTINS.has(specifier) || BUILTINS.has(first))
    return 'a Node/Bun builtin: plugins run in a web-standard isolate without Node or Bun APIs'
  if (isAbsolute(specifier)) return 'an absolute path: import the files of the plugin folder with relative paths (./, ../)'
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier)) return `a URL or "${specifier.split(':')[0]}:" module: only files of the plugin folder and ${PLUGIN_MODULE} can be imported`
  return 'an npm package: packages are not bundled (a pack leaves node_modules out); copy the code you need into the plugin folder and import it with a relative path'
}

/** Only `with { type: "json" }`: a macro would run code at bundle time, file/text would read what the plugin names. */
function refusedAttributes(attributes: Record<string, string>): string | null {
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'type' && value === 'json') continue
    const why = key === 'type' && value === 'macro' ? ' (a macro runs code at bundle time)' : ''
    return `with { ${key}: "${value}" }, which is not allowed${why}; the only import attribute allowed is type: "json"`
  }
  return null
}

/** A regular file at a realpath (so no link on the way), at most `budget` bytes; its bytes, or why not. */
function readSource(path: string, budget: number): Uint8Array | 'not a regular file' | 'too large' {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) return 'not a regular file'
    if (stat.size > budget) return 'too large'
    const bytes = new Uint8Array(stat.size)
    let read = 0
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, read)
      if (n === 0) break
      read += n
    }
    return bytes.subarray(0, read)
  } finally {
    closeSync(fd)
  }
}

/**
 * The only way esbuild reaches files: relative specifiers resolved inside `root` (a realpath), loaded by
 * extension, within the caps. Everything else is an error naming the importing file and the specifier.
 */
function pluginFiles(root: string, inputs: Set<string>): esbuild.Plugin {
  const rel = (path: string) => relative(root, path).split(sep).join('/')
  let sourceBytes = 0
  return {
    name: 'enclava-plugin-files',
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        const entry = args.kind === 'entry-point'
        // esbuild puts the importing file and line in front of the message (see `where`).
        const error = (text: string) => ({ errors: [{ text }] })
        const refuse = (why: string) => error(`${entry ? `the entry "${args.path.slice(2)}"` : `imports "${args.path}", which`} ${why}`)
        const attributes = refusedAttributes(args.with)
        if (attributes !== null) return error(`imports "${args.path}" ${attributes}`)
        if (args.path === PLUGIN_MODULE && !entry) return { path: PLUGIN_MODULE, external: true }
        const specifier = args.path
        if (!entry && !/^\.\.?(\/|$)/.test(specifier)) return refuse(`is ${foreign(specifier)}`)
        const base = entry ? root : dirname(args.importer)
        const wanted = resolve(base, specifier)
        if (!inside(root, wanted)) return refuse('is outside the plugin folder')
        const candidates = [wanted, ...EXTENSIONS.map((ext) => wanted + ext), ...INDEXES.map((index) => wanted + index)].filter((c) => inside(root, c))
        for (const candidate of candidates) {
          let real: string
          try {
            real = realpathSync.native(candidate)
          } catch {
            continue
          }
          if (!inside(root, real)) return refuse('leads outside the plugin folder through a symbolic link')
          if (!statSync(real).isFile()) continue
          const loader = LOADERS[extname(real)]
          if (loader === undefined)
            return refuse(`is a ${extname(real) || 'extension-less'} file: only ${Object.keys(LOADERS).join(', ')} files can be imported`)
          if (args.with.type === 'json' && loader !== 'json') return error(`imports "${args.path}" with { type: "json" }, but it is not a .json file`)
          return { path: real, namespace: 'file', pluginData: loader }
        }
        return refuse(`cannot be resolved: no such file in the plugin folder (tried it as is, with ${[...EXTENSIONS, ...INDEXES].join(', ')})`)
      })

      build.onLoad({ filter: /.*/ }, (args) => {
        const path = rel(args.path)
        const loader: unknown = args.pluginData
        if (typeof loader !== 'string' || !(loader in { ts: 1, js: 1, json: 1 }) || !inside(root, args.path))
          return { errors: [{ text: `${path}: not resolved by the plugin resolver` }] }
        const attributes = refusedAttributes(args.with)
        if (attributes !== null) return { errors: [{ text: `${path}: loaded ${attributes}` }] }
        if (!inputs.has(path) && inputs.size >= MAX_FILES)
          return { errors: [{ text: `${path}: the plugin imports more than ${MAX_FILES} files` }] }
        const bytes = readSource(args.path, MAX_SOURCE_BYTES - sourceBytes)
        if (bytes === 'too large') return { errors: [{ text: `${path}: the plugin's sources take more than ${MAX_SOURCE_BYTES / MB} MB together` }] }
        if (bytes === 'not a regular file') return { errors: [{ text: `${path}: not a regular file` }] }
        sourceBytes += bytes.length
        inputs.add(path)
        return { contents: bytes, loader: loader as esbuild.Loader, resolveDir: dirname(args.path) }
      })
    },
  }
}

const where = (message: esbuild.Message) =>
  message.location === null ? '' : `${message.location.file.replace(/^file:/, '')}:${message.location.line}: `

/** Bundles `entry` (relative to `rootDir`) into one ES module whose only import is enclava:plugin. */
async function bundle(rootDir: string, entry: string): Promise<BundlerResult> {
  let root: string
  try {
    root = realpathSync.native(rootDir)
    if (!statSync(root).isDirectory()) return { ok: false, problems: [`${rootDir}: not a folder`] }
  } catch (err) {
    return { ok: false, problems: [`${rootDir}: ${(err as Error).message}`] }
  }
  if (isAbsolute(entry)) return { ok: false, problems: [`the entry "${entry}" must be a path relative to the plugin folder`] }
  const inputs = new Set<string>()
  let result: esbuild.BuildResult<{ write: false; metafile: true }>
  try {
    result = await esbuild.build({
      entryPoints: [`./${entry}`],
      absWorkingDir: root,
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2023',
      minify: false,
      sourcemap: false,
      splitting: false,
      logLevel: 'silent',
      plugins: [pluginFiles(root, inputs)],
    })
  } catch (err) {
    const errors = (err as { errors?: esbuild.Message[] }).errors
    if (!Array.isArray(errors) || errors.length === 0) return { ok: false, problems: [(err as Error).message] }
    return { ok: false, problems: errors.map((e) => `${where(e)}${e.text}`) }
  }
  const [output, ...extra] = result.outputFiles
  if (output === undefined || extra.length > 0) return { ok: false, problems: [`expected one output file, got ${result.outputFiles.length}`] }
  if (output.contents.byteLength > MAX_OUTPUT_BYTES)
    return { ok: false, problems: [`the bundle is larger than ${MAX_OUTPUT_BYTES / MB} MB`] }
  const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path))
  const strays = imports.filter((path) => path !== PLUGIN_MODULE)
  if (strays.length > 0) return { ok: false, problems: [`the bundle still imports ${strays.join(', ')}; only ${PLUGIN_MODULE} may stay`] }
  return { ok: true, code: output.text, inputs: [...inputs].sort() }
}

/** Node's WebAssembly global, which this directory's lib (ESNext, no DOM) does not declare. */
const wasmApi = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WebAssembly.Module> } }).WebAssembly

async function initialize(): Promise<void> {
  // The browser build finds its globals on `self`; in Node that is globalThis. worker: false keeps it on this
  // thread (the process may not start workers).
  Object.assign(globalThis, { self: globalThis })
  const wasm = readFileSync(fileURLToPath(new URL('../esbuild.wasm', import.meta.resolve('esbuild-wasm/esm/browser.js'))))
  await esbuild.initialize({ wasmModule: await wasmApi.compile(wasm), worker: false })
}

async function main(argv: string[]): Promise<BundlerResult> {
  const [root, entry, ...rest] = argv
  if (root === undefined || entry === undefined || rest.length > 0) return { ok: false, problems: ['usage: node bundler.ts <plugin folder> <entry>'] }
  try {
    await initialize()
  } catch (err) {
    return { ok: false, problems: [`esbuild could not start: ${(err as Error).message}`] }
  }
  return await bundle(join(root), entry)
}

if (import.meta.main) {
  const result = await main(process.argv.slice(2)).catch((err: unknown): BundlerResult => ({ ok: false, problems: [`the bundler failed: ${String(err)}`] }))
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0))
}
