import type { BunPlugin } from 'bun'
import { builtinModules } from 'node:module'
import { dirname } from 'node:path'

const BUILTINS = new Set(builtinModules)

function isBuiltin(specifier: string): boolean {
  if (specifier.startsWith('node:') || specifier.startsWith('bun:') || specifier === 'bun') return true
  const first = specifier.split('/')[0] ?? specifier
  return BUILTINS.has(specifier) || (!specifier.startsWith('@') && BUILTINS.has(first))
}

/**
 * Bun's browser target quietly swaps Node builtins for polyfills or empty objects and drops unresolvable imports
 * that end up unused; a plugin author would learn of either only at run time, inside the isolate. This refuses both
 * at bundle time.
 */
const guardImports: BunPlugin = {
  name: 'enclava-plugin-imports',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const specifier = args.path
      if (specifier === 'enclava:plugin') return { path: specifier, external: true }
      if (args.kind === 'entry-point-build' || args.kind === 'entry-point-run' || args.importer === '') return undefined
      if (isBuiltin(specifier))
        throw new Error(`${args.importer} imports "${specifier}", a Node/Bun builtin: plugins run in a web-standard isolate without Node or Bun APIs`)
      try {
        Bun.resolveSync(specifier, dirname(args.importer))
      } catch {
        throw new Error(`${args.importer} imports "${specifier}", which cannot be resolved`)
      }
      return undefined
    })
  },
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

/**
 * Bundles a plugin entry into the single ES module the sandbox loads: everything inlined except
 * `enclava:plugin`. Unminified and without source maps, so stack traces and reviews read the real code.
 *
 * @example
 * const code = await bundlePlugin('plugins/hello/index.ts')
 * await sandbox.load('hello', code, limits)
 */
export async function bundlePlugin(entryPath: string): Promise<string> {
  let result: Awaited<ReturnType<typeof Bun.build>>
  try {
    result = await Bun.build({
      entrypoints: [entryPath],
      target: 'browser',
      format: 'esm',
      external: ['enclava:plugin'],
      minify: false,
      sourcemap: 'none',
      splitting: false,
      throw: false,
      plugins: [guardImports],
    })
  } catch (err) {
    throw new PluginBundleError(entryPath, [err instanceof Error ? err.message : String(err)])
  }
  if (!result.success) throw new PluginBundleError(entryPath, result.logs.map((log) => log.message))
  const [output, ...extra] = result.outputs
  if (output === undefined || extra.length > 0)
    throw new PluginBundleError(entryPath, [`expected one output file, got ${result.outputs.length}`])
  return await output.text()
}
