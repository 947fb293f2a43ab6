import { unzipSync } from 'fflate'
import { ApiError } from '../http/errors.ts'

const MAX_FILES = 500
const MAX_UNPACKED_BYTES = 20 * 1024 * 1024

/**
 * The files of an uploaded plugin archive (.zip), relative to the folder holding plugin.json (the archive's root or
 * its one top folder). Refuses absolute paths, `..`, backslashes, too many files, and unpacked sizes over the cap,
 * deciding from the archive's directory before inflating anything (a zip bomb never gets expanded).
 */
export function unpackPluginArchive(bytes: Uint8Array): Map<string, Uint8Array> {
  let count = 0
  let total = 0
  let files: Record<string, Uint8Array>
  try {
    files = unzipSync(bytes, {
      filter(file) {
        const name = file.name
        if (name.endsWith('/')) return false
        if (name.startsWith('/') || name.includes('\\') || name.split('/').some((seg) => seg === '..' || seg === '.' || seg === ''))
          throw new ApiError('invalid_request', `The archive entry "${name}" points outside the plugin folder`, 'archive')
        if (++count > MAX_FILES) throw new ApiError('invalid_request', `The archive holds more than ${MAX_FILES} files`, 'archive')
        total += file.originalSize
        if (total > MAX_UNPACKED_BYTES)
          throw new ApiError('payload_too_large', `The archive unpacks to more than ${MAX_UNPACKED_BYTES / 1024 / 1024} MB`, 'archive')
        return true
      },
    })
  } catch (err) {
    if (err instanceof ApiError) throw err
    throw new ApiError('invalid_request', `The archive is not a readable zip file: ${(err as Error).message}`, 'archive')
  }
  const names = Object.keys(files)
  const root = names.includes('plugin.json')
    ? ''
    : (() => {
        const tops = new Set(names.map((n) => n.split('/')[0]))
        const [top] = tops
        if (tops.size === 1 && top && names.includes(`${top}/plugin.json`)) return `${top}/`
        throw new ApiError('invalid_request', 'The archive has no plugin.json at its root or in its one top folder', 'archive')
      })()
  const out = new Map<string, Uint8Array>()
  for (const [name, data] of Object.entries(files)) if (name.startsWith(root)) out.set(name.slice(root.length), data)
  return out
}
