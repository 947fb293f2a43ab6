/**
 * Uploaded plugin archives: bombs that lie about their sizes, entry names that are not plain relative paths, and
 * the archives a plugin author actually makes (fflate, JSZip with folder entries and data descriptors). Then the
 * install route: a refused archive leaves nothing behind in DATA_DIR/plugins.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { strToU8 } from 'fflate'
import JSZip from 'jszip'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { whileTicking } from '../../test/fixtures/event-loop.ts'
import { declareSizes, zip } from '../../test/fixtures/plugin-archives.ts'
import { createTestEnv, type TestEnv } from '../../test/harness.ts'
import { ApiError } from '../http/errors.ts'
import { ARCHIVE_LIMITS, unpackPluginArchive } from './archive.ts'

const manifest = JSON.stringify({ name: 'uploaded', version: '0.1.0' })
async function refusal(archive: Uint8Array): Promise<ApiError> {
  const err = await unpackPluginArchive(archive).then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ApiError)
  return err as ApiError
}

describe('unpackPluginArchive', () => {
  test('a bomb whose entries declare 1000 bytes is stopped at the cap by the bytes it inflates, off the server thread', async () => {
    const bomb = declareSizes(zip({ 'plugin.json': manifest, 'a.bin': new Uint8Array(16 * 1024 * 1024), 'b.bin': new Uint8Array(16 * 1024 * 1024) }), 1000)
    expect(bomb.length).toBeLessThan(200 * 1024)
    const { result, maxGapMs, ms } = await whileTicking(() => unpackPluginArchive(bomb))
    expect(result.status).toBe('rejected')
    const err = (result as PromiseRejectedResult).reason
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ code: 'payload_too_large', status: 413, param: 'archive' })
    expect(err.message).toContain(`${ARCHIVE_LIMITS.unpackedBytes / 1024 / 1024} MB`)
    expect(ms).toBeLessThan(ARCHIVE_LIMITS.timeoutMs)
    expect(maxGapMs).toBeLessThan(300)
  })

  test('an archive still unpacking at the time limit is refused, and its worker ended', async () => {
    const big = zip({ 'plugin.json': manifest, 'a.bin': new Uint8Array(8 * 1024 * 1024) })
    const err = await unpackPluginArchive(big, 1).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'payload_too_large', message: 'The archive took more than 0.001 s to unpack' })
  })

  test.each([
    ['a NUL', 'p/a\u0000b.ts', 'p/a\\u0000b.ts', 'control character'],
    ['an escape', 'p/a\u001bb.ts', 'p/a\\u001bb.ts', 'control character'],
    ['a DEL', 'p/a\u007fb.ts', 'p/a\\u007fb.ts', 'control character'],
    ['a line break', 'p/line\nbreak.ts', 'p/line\\u000abreak.ts', 'control character'],
    ['a backslash', 'p\\evil.ts', 'p\\evil.ts', 'backslash'],
    ['..', 'p/../../escape.ts', 'p/../../escape.ts', 'outside the plugin folder'],
    ['an absolute path', '/etc/cron.d/evil', '/etc/cron.d/evil', 'outside the plugin folder'],
    ['.', 'p/./a.ts', 'p/./a.ts', 'empty or "." path segment'],
    ['an empty segment', 'p//a.ts', 'p//a.ts', 'empty or "." path segment'],
    ['a segment over 255 bytes', `p/${'x'.repeat(256)}`, `p/${'x'.repeat(198)}…`, 'longer than 255 bytes'],
    ['over 1024 bytes', `p/${'x/'.repeat(520)}a`, 'p/x/x/x', 'longer than 1024 bytes'],
  ])('an entry name with %s is refused, and named in the message', async (_, name, shown, why) => {
    const err = await refusal(zip({ 'p/plugin.json': manifest, [name]: 'x' }))
    expect(err).toMatchObject({ code: 'invalid_request', status: 400, param: 'archive' })
    expect(err.message).toContain(`The archive entry "${shown}`)
    expect(err.message).toContain(why)
    expect(/[\u0000-\u001f\u007f]/.test(err.message)).toBe(false)
  })

  test('more files than the limit, a file that is also a folder, and no plugin.json are refused', async () => {
    const many = Object.fromEntries(Array.from({ length: ARCHIVE_LIMITS.files + 1 }, (_, i) => [`f${i}.txt`, 'x']))
    expect((await refusal(zip({ 'plugin.json': manifest, ...many }))).message).toContain(`more than ${ARCHIVE_LIMITS.files} files`)
    const clash = new JSZip()
    clash.file('plugin.json', manifest).file('src', 'a file').file('src/index.ts', 'x')
    expect((await refusal(await clash.generateAsync({ type: 'uint8array' }))).message).toContain('"src" is both a file and a folder')
    expect((await refusal(zip({ 'a/readme.md': 'x', 'b/plugin.json': manifest }))).message).toContain('no plugin.json')
    expect((await refusal(strToU8('not a zip'))).message).toContain('not a readable zip file')
  })

  test('an archive with plugin.json at its root or in its one top folder unpacks as before', async () => {
    const files = { 'plugin.json': manifest, 'src/index.ts': 'export {}', 'assets/empty.txt': '' }
    const atRoot = await unpackPluginArchive(zip(files))
    expect([...atRoot.keys()].sort()).toEqual(['assets/empty.txt', 'plugin.json', 'src/index.ts'])
    expect(new TextDecoder().decode(atRoot.get('src/index.ts'))).toBe('export {}')
    expect(atRoot.get('assets/empty.txt')).toEqual(new Uint8Array())
    const inFolder = await unpackPluginArchive(zip(Object.fromEntries(Object.entries(files).map(([k, v]) => [`uploaded/${k}`, v]))))
    expect(inFolder).toEqual(atRoot)
  })

  test('JSZip archives with folder entries and data descriptors (streamed, deflated, stored) unpack', async () => {
    const z = new JSZip()
    const big = 'const x = 1\n'.repeat(50_000)
    z.folder('hello')?.file('plugin.json', manifest).file('src/index.ts', big).file('stored.bin', new Uint8Array([1, 2, 3]), { compression: 'STORE' })
    for (const streamFiles of [false, true]) {
      const files = await unpackPluginArchive(await z.generateAsync({ type: 'uint8array', compression: 'DEFLATE', streamFiles }))
      expect([...files.keys()].sort()).toEqual(['plugin.json', 'src/index.ts', 'stored.bin'])
      expect(new TextDecoder().decode(files.get('src/index.ts'))).toBe(big)
      expect(files.get('stored.bin')).toEqual(new Uint8Array([1, 2, 3]))
    }
  })
})

describe('install by upload', () => {
  let env: TestEnv
  let admin: string
  beforeAll(async () => {
    env = await createTestEnv()
    admin = await env.adminToken()
  })
  afterAll(async () => {
    await env?.close()
  })

  const install = async (archive: Uint8Array) => {
    const form = new FormData()
    form.append('archive', new File([archive], 'plugin.zip'))
    const res = await env.app.handle(
      new Request('http://localhost/api-internal/v1/plugin-admin/plugins/install', { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: form }),
    )
    return { status: res.status, error: ((await res.json()) as { error: { code: string; message: string } }).error }
  }
  const leftovers = () => {
    try {
      return readdirSync(join(env.s.config.DATA_DIR, 'plugins'))
    } catch {
      return []
    }
  }
  const code = `import { BasePlugin } from 'enclava:plugin'\nexport default class U extends BasePlugin {}\n`

  test('an entry named with a NUL answers 400 naming it, and leaves no staging folder', async () => {
    const res = await install(zip({ 'uploaded/plugin.json': manifest, 'uploaded/src/index.ts': code, 'uploaded/src/a\u0000.ts': 'x' }))
    expect(res.status).toBe(400)
    expect(res.error).toMatchObject({ code: 'invalid_request' })
    expect(res.error.message).toContain('"uploaded/src/a\\u0000.ts" has a control character')
    expect(leftovers()).toEqual([])
  })

  test('a plugin.json over 256 KB is refused before it is parsed', async () => {
    const padded = JSON.stringify({ name: 'uploaded', version: '0.1.0', description: 'x'.repeat(300 * 1024) })
    const res = await install(zip({ 'plugin.json': padded, 'src/index.ts': code }))
    expect(res.status).toBe(413)
    expect(res.error.message).toContain('plugin.json is larger than 256 KB')
    expect(leftovers()).toEqual([])
  })

  test('a plugin that fails its check after staging leaves no staging folder', async () => {
    const res = await install(zip({ 'plugin.json': manifest, 'src/other.ts': code }))
    expect(res.status).toBe(400)
    expect(res.error.code).toBe('validation_failed')
    expect(leftovers()).toEqual([])
  })
})
