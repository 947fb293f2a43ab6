/**
 * The single binary's runtime tree on disk. What runs outside the server cannot be read from inside the binary: the
 * plugin sandbox is a Node process that loads its sources, isolated-vm's native addon and esbuild's wasm from real
 * files, and Node itself must be an executable file. So the binary carries them as one archive (with the built
 * dashboard and the shipped plugins) and unpacks it once into DATA_DIR/runtime/<sha256 of the archive>:
 *
 * - into a staging folder beside it, renamed into place when complete, so a crash mid-way leaves no half tree;
 * - a folder at that name is used only when the checksum it recorded is this archive's and every file is there with
 *   the size and mode the build recorded; otherwise it is replaced;
 * - two processes unpacking at once both finish, and the second one uses the first one's tree.
 *
 * A new binary unpacks beside the old tree (another checksum); older trees stay until removed by hand.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ConfigDefaults } from '../config.ts'
import { type BinaryAssets, setRuntimeDir } from './binary.ts'

/** Written last into a complete tree: the sha256 of the archive it came from. */
const CHECKSUM_FILE = '.enclava-runtime-sha256'
/** Staging folders of unpacks that died are removed once they are this old. */
const STALE_STAGING_MS = 60 * 60 * 1000

/** The runtime could not be put in place (a read-only or full DATA_DIR, a damaged binary). */
export class RuntimeUnpackError extends Error {
  override name = 'RuntimeUnpackError'
}

export interface UnpackedRuntime {
  dir: string
  /** False when an intact tree was already there. */
  unpacked: boolean
  ms: number
}

/** Is `dir` a complete, unaltered-looking tree of `runtime`? (Recorded checksum, then each file's size and mode.) */
export function isIntact(dir: string, runtime: BinaryAssets['runtime']): boolean {
  try {
    if (readFileSync(join(dir, CHECKSUM_FILE), 'utf8') !== runtime.sha256) return false
    return runtime.files.every((f) => {
      const st = statSync(join(dir, f.path))
      return st.isFile() && st.size === f.size && (st.mode & 0o777) === f.mode
    })
  } catch {
    return false
  }
}

function removeStaleStaging(root: string): void {
  for (const name of readdirSync(root)) {
    if (!name.startsWith('.staging-')) continue
    const path = join(root, name)
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_STAGING_MS) rmSync(path, { recursive: true, force: true })
    } catch {
      // Another process removed it first.
    }
  }
}

async function extractInto(staging: string, runtime: BinaryAssets['runtime']): Promise<void> {
  const packed = await Bun.file(runtime.path).bytes()
  const sha256 = new Bun.CryptoHasher('sha256').update(packed).digest('hex')
  if (sha256 !== runtime.sha256) throw new Error(`the binary's runtime archive is damaged (sha256 ${sha256}, built as ${runtime.sha256})`)
  await new Bun.Archive(Bun.zstdDecompressSync(packed)).extract(staging)
  for (const f of runtime.files) chmodSync(join(staging, f.path), f.mode)
  writeFileSync(join(staging, CHECKSUM_FILE), runtime.sha256)
  if (!isIntact(staging, runtime)) throw new Error(`the runtime unpacked into ${staging} is incomplete`)
}

/**
 * Makes sure DATA_DIR/runtime/<sha256> holds the binary's runtime tree, unpacking it when it is missing or damaged.
 * @example
 * const { dir } = await unpackRuntime('/data', binaryAssets().runtime)
 */
export async function unpackRuntime(dataDir: string, runtime: BinaryAssets['runtime']): Promise<UnpackedRuntime> {
  const started = performance.now()
  const root = join(dataDir, 'runtime')
  const dir = join(root, runtime.sha256)
  const done = (unpacked: boolean): UnpackedRuntime => {
    setRuntimeDir(dir)
    return { dir, unpacked, ms: Math.round(performance.now() - started) }
  }
  if (isIntact(dir, runtime)) return done(false)

  const staging = join(root, `.staging-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 })
    removeStaleStaging(root)
    await extractInto(staging, runtime)
    // Another process may have put a complete tree there meanwhile: it is identical, keep it.
    if (isIntact(dir, runtime)) return done(false)
    rmSync(dir, { recursive: true, force: true })
    try {
      renameSync(staging, dir)
    } catch (err) {
      if (!isIntact(dir, runtime)) throw err
    }
    return done(true)
  } catch (err) {
    throw new RuntimeUnpackError(`cannot unpack the runtime into ${root}: ${(err as Error).message}`)
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

/** The settings that name files of the tree default to the unpacked copies. */
export function runtimeDefaults(dir: string): ConfigDefaults {
  return {
    WEB_DIST_DIR: join(dir, 'web', 'dist'),
    PLUGINS_DIRS: join(dir, 'plugins'),
    SANDBOX_DIR: join(dir, 'sandbox'),
    SANDBOX_NODE_PATH: join(dir, 'node_modules', 'node', 'bin', 'node'),
  }
}
