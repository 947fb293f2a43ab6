/**
 * The plugin author's CLI.
 *
 *   bun scripts/plugin.ts new <name> [dir]          scaffold a plugin folder (default ./<name>)
 *   bun scripts/plugin.ts validate <dir> [--no-load]
 *   bun scripts/plugin.ts pack <dir> [out]          validate, then write <name>-<version>.zip (default in the cwd)
 *
 * validate reads and parses plugin.json as the platform does, bundles the entry as the platform does (bundlePlugin:
 * in a separate process that runs none of the plugin's code and reads nothing outside the folder), checks that a
 * pack would carry every bundled file, and, unless --no-load, loads the bundle in a real sandbox to compare the
 * routes, cron jobs, tools, name and version the class declares with the manifest.
 * Every problem names the field or file it is about; any problem exits 1.
 */
import JSZip from 'jszip'
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'
import { ManifestError, parseManifest, sandboxLimits, toolMismatch, validateConfig } from '../src/plugins/manifest.ts'
import type { Manifest } from '../src/plugins/model.ts'
import { type PluginBundle, readManifestText } from '../src/plugins/sandbox/bundle.ts'
import { bundlePlugin, PluginBundleError, SandboxClient, SandboxError } from '../src/plugins/sandbox/index.ts'

const REPO_ROOT = resolve(import.meta.dir, '..')
const PLUGIN_API_TYPES = join(REPO_ROOT, 'src/plugins/sandbox/plugin-api.d.ts')
const NAME = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/
/** Zip entries get this time, so the same sources always pack to the same bytes. */
const ZIP_DATE = new Date('2000-01-01T00:00:00Z')

export interface ValidateOptions {
  /** Load the bundle in a sandbox and compare what the class declares with the manifest. Default true. */
  load?: boolean
}

export interface Validation {
  manifest: Manifest | null
  /** Each names its field (`plugin.json.routes: …`) or file. */
  problems: string[]
  warnings: string[]
}

export interface PackResult {
  path: string
  entries: string[]
  bytes: number
}

export class CliError extends Error {}

// ---- new

const pascal = (name: string) => name.replace(/(^|-)([a-z0-9])/g, (_m, _dash: string, c: string) => c.toUpperCase())

function templates(name: string): Record<string, string> {
  const manifest = {
    name,
    version: '0.1.0',
    description: `The ${name} plugin.`,
    author: '',
    license: '',
    entry: 'src/index.ts',
    permissions: { kv: { quota_kb: 64 } },
    routes: [{ method: 'GET', path: '/hello', auth: 'api_key' }],
    config: {
      type: 'object',
      properties: { greeting: { type: 'string', default: 'Hello', maxLength: 100 } },
      additionalProperties: false,
    },
  }
  return {
    'plugin.json': `${JSON.stringify(manifest, null, 2)}\n`,
    'src/index.ts': `import { BasePlugin, type PluginContext } from 'enclava:plugin'

export default class ${pascal(name)} extends BasePlugin {
  override name = '${name}'
  override version = '0.1.0'

  override routes = {
    'GET /hello': async (_req: Request, ctx: PluginContext) => {
      const greeting = (await ctx.config.get('greeting')) ?? 'Hello'
      const calls = Number((await ctx.kv.get('calls')) ?? 0) + 1
      await ctx.kv.set('calls', calls)
      return { message: \`\${String(greeting)} from ${name}\`, calls }
    },
  }
}
`,
    'README.md': `# ${name}

What the plugin does, the settings it needs and the permissions it asks for (and why).

- \`GET /api/v1/plugins/${name}/hello\` (API key): a greeting and a call counter.

Develop: \`bun scripts/plugin.ts validate <this folder>\`; ship: \`bun scripts/plugin.ts pack <this folder>\`.
See docs/plugins.md in the Enclava repository.
`,
    'tsconfig.json': `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2023',
          module: 'ESNext',
          moduleResolution: 'bundler',
          // DOM for Request, Response and fetch: the isolate has them, but not everything DOM declares (see docs).
          lib: ['ES2023', 'DOM'],
          types: [],
          strict: true,
          noImplicitOverride: true,
          allowImportingTsExtensions: true,
          noEmit: true,
          skipLibCheck: true,
        },
        include: ['src', 'enclava-plugin.d.ts'],
      },
      null,
      2,
    )}\n`,
    // A copy of the platform's types of the one module a plugin may import, so the folder type-checks on its own.
    'enclava-plugin.d.ts': readFileSync(PLUGIN_API_TYPES, 'utf8'),
    '.gitignore': '*.zip\nnode_modules/\n',
  }
}

/** Creates a plugin folder; refuses a folder that exists and is not empty. Returns the files written. */
export function scaffold(name: string, dir = name): string[] {
  if (!NAME.test(name)) throw new CliError(`name: "${name}" must be 3-40 lower-case letters, digits and dashes, starting with a letter`)
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) throw new CliError(`${dir} already exists and is not empty`)
  const files = templates(name)
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    writeFileSync(join(dir, file), content)
  }
  return Object.keys(files)
}

// ---- validate

const inside = (root: string, path: string) => path === root || path.startsWith(root + sep)

function readManifest(dir: string, problems: string[]): Manifest | null {
  const file = join(dir, 'plugin.json')
  if (!existsSync(file)) {
    problems.push(`plugin.json: not found in ${dir}`)
    return null
  }
  let text: string
  try {
    text = readManifestText(dir)
  } catch (err) {
    problems.push(`plugin.json: ${(err as Error).message}`)
    return null
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    problems.push(`plugin.json: not valid JSON (${(err as Error).message})`)
    return null
  }
  try {
    return parseManifest(raw)
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err
    problems.push(err.message)
    return null
  }
}

/**
 * Whether a pack leaves out this bundled file (relative to the folder, `/`-separated): the installed plugin would
 * not bundle. bundlePlugin already refuses files outside the folder.
 */
function leftOutOfPack(file: string): boolean {
  const parts = file.split('/')
  const name = parts.pop() ?? file
  return name.startsWith('.') || excludedFile(name) || parts.some((dir) => dir.startsWith('.') || EXCLUDED_DIRS.has(dir))
}

async function compareWithSandbox(m: Manifest, code: string, problems: string[], warnings: string[]): Promise<void> {
  const sandbox = new SandboxClient({
    onHostCall: async (_plugin, _id, name) => {
      throw Object.assign(new Error(`${name} is not available while validating`), { code: 'permission_denied' })
    },
    onLog: () => {},
  })
  try {
    await sandbox.start()
  } catch (err) {
    warnings.push(`the sandbox could not start (${(err as Error).message}); routes and cron were not compared with the code`)
    return
  }
  try {
    const meta = await sandbox.load(m.name, code, sandboxLimits(m))
    if (meta.name !== null && meta.name !== m.name) problems.push(`name: the class says "${meta.name}", plugin.json.name says "${m.name}"`)
    if (meta.version !== null && meta.version !== m.version) problems.push(`version: the class says "${meta.version}", plugin.json.version says "${m.version}"`)
    const declared = m.routes.map((r) => `${r.method} ${r.path}`)
    for (const key of declared)
      if (!meta.routes.includes(key)) problems.push(`plugin.json.routes: "${key}" has no handler in the class's routes`)
    for (const key of meta.routes)
      if (!declared.includes(key)) problems.push(`routes: the class handles "${key}", which plugin.json.routes does not declare, so it can never be called`)
    const jobs = m.cron.map((c) => c.name)
    for (const job of jobs) if (!meta.cron.includes(job)) problems.push(`plugin.json.cron.${job}: no handler of that name in the class's cron`)
    for (const job of meta.cron) if (!jobs.includes(job)) warnings.push(`cron: the class has a handler "${job}" that plugin.json.cron never schedules`)
    // The platform refuses to load a plugin whose tools differ from its manifest's (PluginService): a problem here too.
    problems.push(...toolMismatch(m, meta.tools))
  } catch (err) {
    if (!(err instanceof SandboxError)) throw err
    problems.push(`${m.entry}: the sandbox refused the plugin (${err.code}): ${err.message}`)
  } finally {
    await sandbox.stop()
  }
}

/**
 * Everything the platform will check when the plugin is installed, and what a pack needs.
 * @example
 * const { problems } = await validate('plugins/hello')
 */
export async function validate(dir: string, options: ValidateOptions = {}): Promise<Validation> {
  const problems: string[] = []
  const warnings: string[] = []
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return { manifest: null, problems: [`${dir}: not a folder`], warnings }
  const root = realpathSync(dir)
  const m = readManifest(root, problems)
  if (m === null) return { manifest: null, problems, warnings }

  try {
    await validateConfig(m, {})
  } catch (err) {
    problems.push(`plugin.json.config: not a usable JSON Schema (${(err as Error).message})`)
  }
  const entry = resolve(root, m.entry)
  if (!inside(root, entry)) problems.push(`plugin.json.entry: "${m.entry}" points outside the plugin folder`)
  else if (!existsSync(entry)) problems.push(`plugin.json.entry: ${m.entry} does not exist`)
  else if (!inside(root, realpathSync(entry))) problems.push(`plugin.json.entry: ${m.entry} is a link to a file outside the plugin folder`)
  if (problems.length > 0) return { manifest: m, problems, warnings }

  let bundle: PluginBundle
  try {
    bundle = await bundlePlugin(entry, root)
  } catch (err) {
    if (!(err instanceof PluginBundleError)) throw err
    problems.push(...err.problems)
    return { manifest: m, problems, warnings }
  }
  for (const file of bundle.inputs.filter(leftOutOfPack))
    problems.push(`${file}: is bundled, but a pack leaves it out (node_modules, dotfiles, *.test.* and *.zip are not packed); move it`)
  const { code } = bundle
  if (options.load !== false) await compareWithSandbox(m, code, problems, warnings)
  return { manifest: m, problems, warnings }
}

// ---- pack

const EXCLUDED_DIRS = new Set(['node_modules'])
const excludedFile = (name: string) => /\.test\.[cm]?[jt]s$/.test(name) || name.endsWith('.zip')

/** The files a pack carries, relative to root with `/` separators; refuses links and anything that is not a plain file. */
function packFiles(root: string): string[] {
  const files: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue
      const path = join(dir, name)
      const rel = relative(root, path).split(sep).join('/')
      const stat = lstatSync(path)
      if (stat.isSymbolicLink()) throw new CliError(`${rel}: is a symbolic link; a pack takes plain files only (copy the file in)`)
      if (stat.isDirectory()) {
        if (!EXCLUDED_DIRS.has(name)) walk(path)
      } else if (!stat.isFile()) throw new CliError(`${rel}: is not a regular file`)
      else if (!excludedFile(name)) files.push(rel)
    }
  }
  walk(root)
  return files
}

/**
 * Validates the folder, then zips plugin.json and the sources (not dotfiles, node_modules, tests or zips).
 * @example
 * const { path } = await pack('plugins/zammad', 'dist/')
 */
export async function pack(dir: string, out?: string, options: ValidateOptions = {}): Promise<PackResult> {
  const { manifest, problems } = await validate(dir, options)
  if (manifest === null || problems.length > 0) throw new CliError(`${dir} is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  const root = realpathSync(dir)
  const fileName = `${manifest.name}-${manifest.version}.zip`
  const target = resolve(out === undefined ? fileName : existsSync(out) && statSync(out).isDirectory() ? join(out, fileName) : out)
  const entries = packFiles(root).filter((rel) => resolve(root, rel) !== target)
  const zip = new JSZip()
  for (const rel of entries) zip.file(rel, readFileSync(join(root, rel)), { date: ZIP_DATE, createFolders: false })
  const bytes = await zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE', compressionOptions: { level: 9 }, platform: 'UNIX' })
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, bytes)
  return { path: target, entries, bytes: bytes.byteLength }
}

// ---- command line

const USAGE = `usage:
  bun scripts/plugin.ts new <name> [dir]
  bun scripts/plugin.ts validate <dir> [--no-load]
  bun scripts/plugin.ts pack <dir> [out] [--no-load]`

export async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv.filter((a) => a.startsWith('--')))
  const [command, first, second, ...rest] = argv.filter((a) => !a.startsWith('--'))
  const unknown = [...flags].filter((f) => f !== '--no-load')
  if (first === undefined || rest.length > 0 || unknown.length > 0 || (command === 'validate' && second !== undefined)) {
    console.error(USAGE)
    return 2
  }
  const load = !flags.has('--no-load')
  try {
    switch (command) {
      case 'new': {
        const dir = second ?? first
        const files = scaffold(first, dir)
        console.log(`created ${dir}/ with ${files.join(', ')}\nnext: edit src/index.ts, then bun scripts/plugin.ts validate ${dir}`)
        return 0
      }
      case 'validate': {
        const { manifest, problems, warnings } = await validate(first, { load })
        for (const w of warnings) console.warn(`warning: ${w}`)
        if (problems.length > 0) {
          console.error(`${first} is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
          return 1
        }
        console.log(`${manifest?.name}@${manifest?.version} is valid`)
        return 0
      }
      case 'pack': {
        const result = await pack(first, second, { load })
        console.log(`packed ${basename(result.path)} (${result.entries.length} files, ${(result.bytes / 1024).toFixed(1)} KB) at ${result.path}`)
        return 0
      }
      default:
        console.error(USAGE)
        return 2
    }
  } catch (err) {
    if (!(err instanceof CliError)) throw err
    console.error(err.message)
    return 1
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)))
