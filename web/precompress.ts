import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import type { Plugin } from 'vite'

/** What is worth compressing: text. Images other than SVG, fonts in WOFF2 and the like are compressed already. */
const COMPRESSIBLE = /\.(js|mjs|css|html|svg|json|txt|map|webmanifest)$/
/** Below this a compressed copy saves less than its headers cost. */
const MIN_BYTES = 1024

/**
 * Writes `<file>.br` and `<file>.gz` beside every compressible file of the built dashboard, at the highest levels
 * (done once at build, so the server never compresses per request; see src/web/dashboard.ts). A copy that is not
 * smaller than the file is not written.
 */
export function precompress(dir: string): { files: number; bytes: number; brotli: number; gzip: number } {
  const total = { files: 0, bytes: 0, brotli: 0, gzip: 0 }
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const file = join(dir, name)
    if (!COMPRESSIBLE.test(name) || !statSync(file).isFile()) continue
    const bytes = readFileSync(file)
    if (bytes.byteLength < MIN_BYTES) continue
    const br = brotliCompressSync(bytes, {
      params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength },
    })
    const gz = gzipSync(bytes, { level: 9 })
    total.files++
    total.bytes += bytes.byteLength
    if (br.byteLength < bytes.byteLength) writeFileSync(`${file}.br`, br)
    if (gz.byteLength < bytes.byteLength) writeFileSync(`${file}.gz`, gz)
    total.brotli += Math.min(br.byteLength, bytes.byteLength)
    total.gzip += Math.min(gz.byteLength, bytes.byteLength)
  }
  return total
}

/** The Vite plugin: precompresses the output folder once the bundle is written. */
export function precompressed(): Plugin {
  let outDir = ''
  return {
    name: 'enclava-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir.startsWith('/') ? config.build.outDir : join(config.root, config.build.outDir)
    },
    closeBundle() {
      precompress(outDir)
    },
  }
}
