import { afterAll, beforeEach, describe, expect, test } from 'bun:test'
import JSZip from 'jszip'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pack, scaffold, validate } from './plugin.ts'

const REPO = resolve(import.meta.dir, '..')
const work = mkdtempSync(join(tmpdir(), 'enclava-plugin-cli-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

let n = 0
let dir: string
beforeEach(() => {
  dir = join(work, `case-${++n}`)
})

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, join(REPO, 'scripts/plugin.ts'), ...args], { cwd: work, stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, stdout, stderr }
}

type Edit = (m: Record<string, unknown>) => void

function editManifest(edit: Edit): void {
  const file = join(dir, 'plugin.json')
  const m = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  edit(m)
  writeFileSync(file, JSON.stringify(m))
}

describe('new → validate → pack', () => {
  test('a scaffolded plugin validates and packs to a zip of its sources', async () => {
    const created = await cli('new', 'my-plugin', dir)
    expect(created.code).toBe(0)

    const validated = await cli('validate', dir)
    expect(validated).toMatchObject({ code: 0, stderr: '' })
    expect(validated.stdout).toContain('my-plugin@0.1.0 is valid')

    // What a pack must leave out: dependencies, dotfiles, tests, earlier packs.
    mkdirSync(join(dir, 'node_modules/dep'), { recursive: true })
    writeFileSync(join(dir, 'node_modules/dep/index.js'), 'export default 1')
    writeFileSync(join(dir, '.env'), 'SECRET=1')
    mkdirSync(join(dir, '.git'))
    writeFileSync(join(dir, '.git/HEAD'), 'ref')
    writeFileSync(join(dir, 'src/index.test.ts'), 'test')
    writeFileSync(join(dir, 'src/util.ts'), 'export const util = 1')
    writeFileSync(join(dir, 'old-0.0.1.zip'), 'zip')

    const packed = await cli('pack', dir)
    expect(packed.code).toBe(0)
    expect(packed.stdout).toContain('packed my-plugin-0.1.0.zip (6 files')
    const bytes = readFileSync(join(work, 'my-plugin-0.1.0.zip'))
    const zip = await JSZip.loadAsync(bytes)
    expect(Object.keys(zip.files).toSorted()).toEqual(['README.md', 'enclava-plugin.d.ts', 'plugin.json', 'src/index.ts', 'src/util.ts', 'tsconfig.json'])
    expect(await zip.file('plugin.json')?.async('string')).toBe(readFileSync(join(dir, 'plugin.json'), 'utf8'))

    // The same sources pack to the same bytes.
    const again = await pack(dir, join(work, 'again.zip'), { load: false })
    expect(Buffer.from(readFileSync(again.path)).equals(bytes)).toBe(true)
  })

  test('the scaffold type-checks on its own', async () => {
    scaffold('typed-plugin', dir)
    const proc = Bun.spawn([join(REPO, 'node_modules/.bin/tsc'), '-p', dir], { stdout: 'pipe', stderr: 'pipe' })
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited])
    expect(out).toBe('')
    expect(code).toBe(0)
  })

  test('pack writes into a folder given as out', async () => {
    scaffold('into-dir', dir)
    mkdirSync(join(work, `out-${n}`))
    const result = await pack(dir, join(work, `out-${n}`), { load: false })
    expect(result.path).toBe(join(work, `out-${n}`, 'into-dir-0.1.0.zip'))
  })

  test('new refuses a bad name and a folder that is not empty', async () => {
    expect(await cli('new', 'Bad_Name', dir)).toMatchObject({ code: 1 })
    scaffold('taken', dir)
    const res = await cli('new', 'taken', dir)
    expect(res.code).toBe(1)
    expect(res.stderr).toContain('already exists and is not empty')
  })

  test('the shipped plugins are valid', async () => {
    for (const name of ['hello', 'zammad']) {
      const { manifest, problems, warnings } = await validate(join(REPO, 'plugins', name))
      expect(problems).toEqual([])
      expect(warnings).toEqual([])
      expect(manifest?.name).toBe(name)
    }
  })
})

describe('validate names what is wrong', () => {
  test('a broken manifest fails with the field named, exit code 1', async () => {
    scaffold('broken', dir)
    editManifest((m) => {
      m.routes = [{ method: 'GET', path: '/hello', auth: 'everyone' }]
    })
    const res = await cli('validate', dir)
    expect(res.code).toBe(1)
    expect(res.stderr).toContain('plugin.json.routes.0.auth')
    expect(res.stdout).toBe('')
  })

  const cases: [string, Edit, string][] = [
    ['version', (m) => { m.version = 'one.two.three' }, 'plugin.json.version'],
    ['an unknown permission', (m) => { m.permissions = { disk: true } }, 'plugin.json.permissions'],
    ['a bad host grant', (m) => { m.permissions = { net: ['http://example.com/path'] } }, 'plugin.json.permissions.net'],
    [
      'a signature secret that is not secret',
      (m) => { m.routes = [{ method: 'POST', path: '/hook', auth: 'public', signature: { header: 'X-Sig', algorithm: 'sha256', secret: 'greeting' } }] },
      'signs with "greeting"',
    ],
    ['an entry outside the folder', (m) => { m.entry = '../elsewhere/index.ts' }, 'plugin.json.entry'],
    ['an entry that is missing', (m) => { m.entry = 'src/main.ts' }, 'plugin.json.entry: src/main.ts does not exist'],
  ]
  test.each(cases)('%s', async (_what, edit, fragment) => {
    scaffold('broken', dir)
    editManifest(edit)
    const { problems } = await validate(dir, { load: false })
    expect(problems.join('\n')).toContain(fragment)
  })

  test('plugin.json that is missing or not JSON', async () => {
    mkdirSync(dir)
    expect((await validate(dir)).problems).toEqual([`plugin.json: not found in ${dir}`])
    writeFileSync(join(dir, 'plugin.json'), '{ nope')
    expect((await validate(dir)).problems[0]).toStartWith('plugin.json: not valid JSON')
  })

  test('code that imports a Node builtin fails to bundle, naming the file and line', async () => {
    scaffold('nodey', dir)
    writeFileSync(join(dir, 'src/index.ts'), `import fs from 'node:fs'\n${readFileSync(join(dir, 'src/index.ts'), 'utf8')}\nexport const f = fs`)
    const { problems } = await validate(dir, { load: false })
    expect(problems).toHaveLength(1)
    expect(problems[0]).toStartWith('src/index.ts:1: imports "node:fs", which is a Node/Bun builtin')
  })

  test('code that imports a file from outside the folder is refused', async () => {
    scaffold('leaky', dir)
    writeFileSync(join(work, `shared-${n}.ts`), 'export const shared = 1')
    writeFileSync(join(dir, 'src/index.ts'), `import { shared } from '../../shared-${n}.ts'\n${readFileSync(join(dir, 'src/index.ts'), 'utf8')}\nexport const s = shared`)
    const { problems } = await validate(dir, { load: false })
    expect(problems).toEqual([`src/index.ts:1: imports "../../shared-${n}.ts", which is outside the plugin folder`])
  })

  test('code that bundles a file a pack leaves out', async () => {
    scaffold('unpacked', dir)
    mkdirSync(join(dir, 'node_modules/dep'), { recursive: true })
    writeFileSync(join(dir, 'node_modules/dep/index.js'), 'export const dep = 1')
    writeFileSync(join(dir, 'src/.local.ts'), 'export const local = 1')
    const imports = `import { dep } from '../node_modules/dep/index.js'\nimport { local } from './.local.ts'\n`
    writeFileSync(join(dir, 'src/index.ts'), `${imports}${readFileSync(join(dir, 'src/index.ts'), 'utf8')}\nexport const d = [dep, local]`)
    const { problems } = await validate(dir, { load: false })
    expect(problems).toEqual([
      'node_modules/dep/index.js: is bundled, but a pack leaves it out (node_modules, dotfiles, *.test.* and *.zip are not packed); move it',
      'src/.local.ts: is bundled, but a pack leaves it out (node_modules, dotfiles, *.test.* and *.zip are not packed); move it',
    ])
  })

  test('a macro import is refused and never runs', async () => {
    scaffold('macro', dir)
    const marker = join(work, `macro-ran-${n}`)
    writeFileSync(join(dir, 'src/m.ts'), `export function x() {\n  require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')\n  Bun.write(${JSON.stringify(marker)}, 'ran')\n  return 1\n}\n`)
    writeFileSync(join(dir, 'src/index.ts'), `import { x } from './m.ts' with { type: 'macro' }\n${readFileSync(join(dir, 'src/index.ts'), 'utf8')}\nexport const y = x()`)
    const res = await cli('validate', dir)
    expect(res.code).toBe(1)
    expect(res.stderr).toContain('src/index.ts:1: imports "./m.ts" with { type: "macro" }, which is not allowed')
    expect((await cli('pack', dir, join(work, `macro-${n}.zip`))).code).toBe(1)
    expect(existsSync(marker)).toBe(false)
  })

  test('a plugin.json that is a symbolic link', async () => {
    scaffold('linked-manifest', dir)
    renameSync(join(dir, 'plugin.json'), join(work, `manifest-${n}.json`))
    symlinkSync(join(work, `manifest-${n}.json`), join(dir, 'plugin.json'))
    expect((await validate(dir, { load: false })).problems).toEqual(['plugin.json: is a symbolic link; it must be a file in the plugin folder'])
  })

  test('a plugin.json over 256 KB', async () => {
    scaffold('big-manifest', dir)
    editManifest((m) => { m.description = 'x'.repeat(300 * 1024) })
    expect((await validate(dir, { load: false })).problems).toEqual(['plugin.json: is larger than 256 KB'])
  })

  test('routes and cron jobs must match between the manifest and the class', async () => {
    scaffold('mismatch', dir)
    editManifest((m) => {
      m.routes = [{ method: 'GET', path: '/bye', auth: 'public' }]
      m.cron = [{ name: 'nightly', schedule: '0 3 * * *' }]
    })
    const { problems } = await validate(dir)
    expect(problems).toEqual([
      'plugin.json.routes: "GET /bye" has no handler in the class\'s routes',
      'routes: the class handles "GET /hello", which plugin.json.routes does not declare, so it can never be called',
      'plugin.json.cron.nightly: no handler of that name in the class\'s cron',
    ])
  })

  test('a class whose name disagrees with the manifest', async () => {
    scaffold('named', dir)
    editManifest((m) => { m.name = 'renamed' })
    expect((await validate(dir)).problems).toEqual(['name: the class says "named", plugin.json.name says "renamed"'])
  })
})

describe('pack refuses', () => {
  test('symbolic links, naming them', async () => {
    scaffold('linked', dir)
    symlinkSync('/etc/passwd', join(dir, 'src/passwd.txt'))
    const res = await cli('pack', dir, join(work, 'linked.zip'), '--no-load')
    expect(res.code).toBe(1)
    expect(res.stderr).toContain('src/passwd.txt: is a symbolic link')
  })

  test('an invalid plugin, listing its problems', async () => {
    scaffold('invalid', dir)
    editManifest((m) => { m.version = 'x' })
    const res = await cli('pack', dir, join(work, 'invalid.zip'), '--no-load')
    expect(res.code).toBe(1)
    expect(res.stderr).toContain('plugin.json.version')
  })

  test('unknown commands and flags print the usage', async () => {
    expect((await cli('publish', dir)).code).toBe(2)
    expect((await cli('validate', dir, '--fast')).code).toBe(2)
  })
})
