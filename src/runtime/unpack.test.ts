import { afterAll, expect, test } from 'bun:test'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BinaryAssets } from './binary.ts'
import { isIntact, RuntimeUnpackError, runtimeDefaults, unpackRuntime } from './unpack.ts'

const dir = mkdtempSync(join(tmpdir(), 'enclava-unpack-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A runtime archive as scripts/build.ts packs one: a zstd-compressed tar, its sha256 and its files. */
async function archive(files: Record<string, { text: string; mode: number }>): Promise<BinaryAssets['runtime']> {
  const tar = await new Bun.Archive(Object.fromEntries(Object.entries(files).map(([path, f]) => [path, f.text]))).bytes()
  const packed = Bun.zstdCompressSync(tar)
  const path = join(dir, `archive-${Bun.randomUUIDv7()}.tar.zst`)
  writeFileSync(path, packed)
  return {
    path,
    sha256: new Bun.CryptoHasher('sha256').update(packed).digest('hex'),
    files: Object.entries(files).map(([p, f]) => ({ path: p, size: Buffer.byteLength(f.text), mode: f.mode })),
  }
}

const TREE = {
  'node_modules/node/bin/node': { text: '#!/bin/sh\necho node\n', mode: 0o755 },
  'sandbox/main.ts': { text: 'export {}\n', mode: 0o644 },
  'web/dist/index.html': { text: '<!doctype html>', mode: 0o644 },
}

test('unpacked once, with its modes; an intact tree is used as it is; a damaged one is replaced', async () => {
  const runtime = await archive(TREE)
  const dataDir = join(dir, 'data1')
  const first = await unpackRuntime(dataDir, runtime)
  expect(first).toMatchObject({ dir: join(dataDir, 'runtime', runtime.sha256), unpacked: true })
  expect(statSync(join(first.dir, 'node_modules/node/bin/node')).mode & 0o777).toBe(0o755)
  expect(readFileSync(join(first.dir, 'sandbox/main.ts'), 'utf8')).toBe('export {}\n')
  expect(runtimeDefaults(first.dir)).toEqual({
    WEB_DIST_DIR: join(first.dir, 'web/dist'),
    PLUGINS_DIRS: join(first.dir, 'plugins'),
    SANDBOX_DIR: join(first.dir, 'sandbox'),
    SANDBOX_NODE_PATH: join(first.dir, 'node_modules/node/bin/node'),
  })
  expect(await unpackRuntime(dataDir, runtime)).toMatchObject({ unpacked: false })

  for (const damage of [
    () => writeFileSync(join(first.dir, 'sandbox/main.ts'), 'tampered, and longer'),
    () => rmSync(join(first.dir, 'web/dist/index.html')),
    () => chmodSync(join(first.dir, 'node_modules/node/bin/node'), 0o644),
    () => writeFileSync(join(first.dir, '.enclava-runtime-sha256'), 'another archive'),
  ]) {
    damage()
    expect(isIntact(first.dir, runtime)).toBe(false)
    expect(await unpackRuntime(dataDir, runtime)).toMatchObject({ unpacked: true })
    expect(isIntact(first.dir, runtime)).toBe(true)
  }
  // No staging folder is left behind.
  expect(readdirSync(join(dataDir, 'runtime'))).toEqual([runtime.sha256])
})

test('two unpacks at once (replicas sharing a volume) end with the one intact tree', async () => {
  const runtime = await archive(TREE)
  const dataDir = join(dir, 'data2')
  const both = await Promise.all([unpackRuntime(dataDir, runtime), unpackRuntime(dataDir, runtime)])
  expect(both.map((r) => r.dir)).toEqual([join(dataDir, 'runtime', runtime.sha256), join(dataDir, 'runtime', runtime.sha256)])
  expect(isIntact(both[0].dir, runtime)).toBe(true)
  expect(readdirSync(join(dataDir, 'runtime'))).toEqual([runtime.sha256])
})

test('an archive that is not the one the binary was built with is refused, naming the folder', async () => {
  const runtime = await archive(TREE)
  const dataDir = join(dir, 'data3')
  const wrong = { ...runtime, sha256: '0'.repeat(64) }
  const failed = unpackRuntime(dataDir, wrong)
  await expect(failed).rejects.toBeInstanceOf(RuntimeUnpackError)
  await expect(failed).rejects.toThrow(`cannot unpack the runtime into ${join(dataDir, 'runtime')}: the binary's runtime archive is damaged`)
  expect(readdirSync(join(dataDir, 'runtime'))).toEqual([])
})
