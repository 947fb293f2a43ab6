import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { bundlePlugin, PluginBundleError } from './bundle.ts'

const work = mkdtempSync(join(tmpdir(), 'enclava-bundle-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Next to every plugin folder: what a plugin must never get into its bundle. */
const SECRET = `secret-${crypto.randomUUID()}`
writeFileSync(join(work, 'secret.json'), JSON.stringify({ secret: SECRET }))
const MARKER = join(work, 'macro-ran')

const CLASS = `import { BasePlugin } from 'enclava:plugin'\nexport default class P extends BasePlugin {}\n`

let n = 0
/** A plugin folder under `work` with these files (and links: path → target); returns its entry. */
function plugin(files: Record<string, string>, links: Record<string, string> = {}): { entry: string; root: string } {
  const root = join(work, `plugin-${++n}`)
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
  }
  for (const [path, target] of Object.entries(links)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    symlinkSync(target, join(root, path))
  }
  return { entry: join(root, 'index.ts'), root }
}

async function refusal(files: Record<string, string>, links: Record<string, string> = {}): Promise<string[]> {
  const { entry, root } = plugin(files, links)
  const error = await bundlePlugin(entry, root).then(
    () => null,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(PluginBundleError)
  const { problems, message } = error as PluginBundleError
  expect(message).not.toContain(SECRET)
  return problems
}

describe('bundlePlugin refuses', () => {
  const MACRO = {
    'index.ts': `${CLASS}import { x } from './m.ts' with { type: 'macro' }\nexport const y = x()\n`,
    'm.ts': `export function x() {\n  require('fs').writeFileSync(${JSON.stringify(MARKER)}, 'ran')\n  Bun.write(${JSON.stringify(MARKER)}, 'ran')\n  return 1\n}\n`,
  }
  const cases: [string, Record<string, string>, Record<string, string>, string][] = [
    ['a macro import, without running it', MACRO, {}, `index.ts:3: imports "./m.ts" with { type: "macro" }, which is not allowed (a macro runs code at bundle time)`],
    ['a file next to the folder', { 'index.ts': `${CLASS}import s from '../secret.json'\nexport const t = s\n` }, {}, `index.ts:3: imports "../secret.json", which is outside the plugin folder`],
    [
      'a file next to the folder, from a subfolder',
      { 'index.ts': `${CLASS}import './src/a.ts'\n`, 'src/a.ts': `import s from '../../secret.json'\nexport const t = s\n` },
      {},
      `src/a.ts:1: imports "../../secret.json", which is outside the plugin folder`,
    ],
    ['/proc/self/environ', { 'index.ts': `${CLASS}import e from '/proc/self/environ'\nexport const t = e\n` }, {}, 'index.ts:3: imports "/proc/self/environ", which is an absolute path'],
    ['/etc/hostname', { 'index.ts': `${CLASS}import h from '/etc/hostname' with { type: 'json' }\nexport const t = h\n` }, {}, 'index.ts:3: imports "/etc/hostname", which is an absolute path'],
    ['a link to a file outside', { 'index.ts': `${CLASS}import s from './src/config.json'\nexport const t = s\n` }, { 'src/config.json': join(work, 'secret.json') }, 'index.ts:3: imports "./src/config.json", which leads outside the plugin folder through a symbolic link'],
    ['a link to a folder outside', { 'index.ts': `${CLASS}import s from './up/secret.json'\nexport const t = s\n` }, { up: '..' }, 'index.ts:3: imports "./up/secret.json", which leads outside the plugin folder through a symbolic link'],
    ['an npm package', { 'index.ts': `${CLASS}import pad from 'left-pad'\nexport const t = pad\n` }, {}, 'index.ts:3: imports "left-pad", which is an npm package: packages are not bundled'],
    ['a scoped npm package', { 'index.ts': `${CLASS}import z from '@scope/pkg/sub'\nexport const t = z\n` }, {}, 'imports "@scope/pkg/sub", which is an npm package'],
    ['node:fs', { 'index.ts': `${CLASS}import fs from 'node:fs'\nexport const t = fs\n` }, {}, 'index.ts:3: imports "node:fs", which is a Node/Bun builtin'],
    ['fs, without node:', { 'index.ts': `${CLASS}export const t = require('fs')\n` }, {}, 'index.ts:3: imports "fs", which is a Node/Bun builtin'],
    ['bun:sqlite', { 'index.ts': `${CLASS}import { Database } from 'bun:sqlite'\nexport const t = Database\n` }, {}, 'index.ts:3: imports "bun:sqlite", which is a Node/Bun builtin'],
    ['a URL', { 'index.ts': `${CLASS}import x from 'https://example.com/x.js'\nexport const t = x\n` }, {}, 'index.ts:3: imports "https://example.com/x.js", which is a URL'],
    ['an unknown extension', { 'index.ts': `${CLASS}import './style.css'\n`, 'style.css': 'body {}' }, {}, 'index.ts:3: imports "./style.css", which is a .css file: only .ts, .mts, .js, .mjs, .json files can be imported'],
    ['type: text', { 'index.ts': `${CLASS}import t from './notes.txt' with { type: 'text' }\nexport const u = t\n`, 'notes.txt': 'hi' }, {}, 'index.ts:3: imports "./notes.txt" with { type: "text" }, which is not allowed'],
    ['type: file', { 'index.ts': `${CLASS}import t from './a.ts' with { type: 'file' }\nexport const u = t\n`, 'a.ts': 'export {}' }, {}, 'with { type: "file" }, which is not allowed'],
    ['type: json on a .ts file', { 'index.ts': `${CLASS}import t from './a.ts' with { type: 'json' }\nexport const u = t\n`, 'a.ts': 'export {}' }, {}, 'imports "./a.ts" with { type: "json" }, but it is not a .json file'],
    ['a file that does not exist', { 'index.ts': `${CLASS}import './gone'\n` }, {}, 'index.ts:3: imports "./gone", which cannot be resolved: no such file in the plugin folder'],
  ]
  test.each(cases)('%s', async (_what, files, links, fragment) => {
    const problems = await refusal(files, links)
    expect(problems.join('\n')).toContain(fragment)
    expect(existsSync(MARKER)).toBe(false)
  })

  test('more than 500 files', async () => {
    const files: Record<string, string> = { 'index.ts': `${CLASS}${Array.from({ length: 501 }, (_, i) => `import './lib/f${i}.ts'`).join('\n')}\n` }
    for (let i = 0; i < 501; i++) files[`lib/f${i}.ts`] = `globalThis.f${i} = ${i}\n`
    expect((await refusal(files)).join('\n')).toContain('the plugin imports more than 500 files')
  })

  test('more than 10 MB of sources', async () => {
    const big = `export const s = ${JSON.stringify('x'.repeat(6 * 1024 * 1024))}\n`
    const problems = await refusal({ 'index.ts': `${CLASS}import './a.ts'\nimport './b.ts'\n`, 'a.ts': big, 'b.ts': big })
    expect(problems.join('\n')).toContain("the plugin's sources take more than 10 MB together")
  })

  test('an entry outside the folder', async () => {
    const { root } = plugin({ 'index.ts': CLASS })
    expect(bundlePlugin(join(work, 'secret.json'), root)).rejects.toThrow('the entry must be a file inside')
  })
})

describe('bundlePlugin bundles', () => {
  test('nested relative imports and JSON into one module whose only import is enclava:plugin', async () => {
    const { entry, root } = plugin({
      'index.ts': `import { BasePlugin } from 'enclava:plugin'\nimport { greet } from './src/lib/greet.ts'\nimport { helper } from './src/helpers'\nexport default class P extends BasePlugin { override async execute() { return greet(helper) } }\n`,
      'src/lib/greet.ts': `import data from '../../data/words.json' with { type: 'json' }\nimport more from '../../data/more.json'\nexport const greet = (who: string): string => \`\${data.hello} \${who}\${more.mark}\`\n`,
      'src/helpers/index.ts': `import { BasePlugin } from 'enclava:plugin'\nexport const helper = BasePlugin.name\n`,
      'data/words.json': '{ "hello": "Hallo" }',
      'data/more.json': '{ "mark": "!" }',
      'unused.ts': 'this is not even TypeScript',
    })
    const { code, inputs } = await bundlePlugin(entry, root)
    expect(inputs).toEqual(['data/more.json', 'data/words.json', 'index.ts', 'src/helpers/index.ts', 'src/lib/greet.ts'])
    expect(code).toContain('"Hallo"')
    const imported = [...code.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"/gm)].map((m) => m[1])
    expect(imported.length).toBeGreaterThan(0)
    expect(new Set(imported)).toEqual(new Set(['enclava:plugin']))
    expect(code).not.toMatch(/\bimport\s*\(|\brequire\s*\(/)
  })

  test('a plugin whose top level never ends, without running it', async () => {
    const { entry, root } = plugin({ 'index.ts': `${CLASS}while (true) {}\n` })
    const started = performance.now()
    expect((await bundlePlugin(entry, root)).code).toContain('while (true)')
    expect(performance.now() - started).toBeLessThan(10_000)
  })

  test('a changed folder again (the cache follows the files)', async () => {
    const { entry, root } = plugin({ 'index.ts': `${CLASS}export const v = 'one'\n` })
    expect((await bundlePlugin(entry, root)).code).toContain('"one"')
    writeFileSync(entry, `${CLASS}export const v = 'two'\n`)
    expect((await bundlePlugin(entry, root)).code).toContain('"two"')
  })

  test('a server with more plugins than 64 finds the first ones still bundled when they are enabled', async () => {
    // As at discovery: every folder bundled once, more of them than the cache's old limit of 64 entries.
    const folders = Array.from({ length: 70 }, (_, i) => plugin({ 'index.ts': `${CLASS}export const v = ${i}\n` }))
    await Promise.all(folders.map((f) => bundlePlugin(f.entry, f.root)))
    // A bundler that cannot start: only a cached bundle can answer now.
    const noBundler = { nodePath: join(work, 'no-such-node') }
    expect((await bundlePlugin(folders[0]!.entry, folders[0]!.root, noBundler)).code).toContain('v = 0')
    // An unseen folder does need the bundler, which proves the answer above came from the cache.
    const fresh = plugin({ 'index.ts': CLASS })
    await expect(bundlePlugin(fresh.entry, fresh.root, noBundler)).rejects.toThrow(PluginBundleError)
  }, 120_000)
})
