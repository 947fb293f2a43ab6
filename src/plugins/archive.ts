/**
 * Unpacking an uploaded plugin archive (.zip). The archive is untrusted: its entries may declare 1000 bytes and
 * inflate to 400 MB (unzipSync, trusting the declared sizes, spent 11.7 s of the server's event loop on such an
 * archive). So declared sizes are never trusted: inflateArchive counts the bytes inflation actually produces and
 * stops at the cap, and it runs on a worker thread (archive-worker.ts) under a time limit, so the server only waits.
 */
import { Unzip, UnzipInflate, type UnzipFile } from 'fflate'
import { ApiError, type ErrorCode } from '../http/errors.ts'

export const ARCHIVE_LIMITS = {
  files: 500,
  unpackedBytes: 20 * 1024 * 1024,
  segmentBytes: 255,
  nameBytes: 1024,
  timeoutMs: 10_000,
}

/**
 * How much of the archive is handed to the inflater at a time. Inflation of one piece happens in one call, and
 * DEFLATE expands at most about 1032 to 1, so a piece yields at most ~8 MB before the byte counter looks again.
 */
const PIECE_BYTES = 8 * 1024

/** What the archive worker answers. */
export type ArchiveReply = { ok: true; files: [string, Uint8Array<ArrayBuffer>][] } | { ok: false; code: ErrorCode; message: string }

/**
 * The files of an uploaded plugin archive, relative to the folder holding plugin.json (the archive's root or its
 * one top folder), inflated on a worker thread. Refuses bad entry names, more than 500 files, more than 20 MB
 * unpacked (counted as inflated, whatever the entries declare), and archives that take more than 10 s.
 * @example
 * const files = await unpackPluginArchive(new Uint8Array(await upload.arrayBuffer()))
 * files.get('plugin.json')
 */
export async function unpackPluginArchive(bytes: Uint8Array, timeoutMs = ARCHIVE_LIMITS.timeoutMs): Promise<Map<string, Uint8Array>> {
  const worker = new Worker(new URL('./archive-worker.ts', import.meta.url).href)
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    const reply = await new Promise<ArchiveReply>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new ApiError('payload_too_large', `The archive took more than ${timeoutMs / 1000} s to unpack`, 'archive')),
        timeoutMs,
      )
      worker.onmessage = (e: MessageEvent<ArchiveReply>) => resolve(e.data)
      worker.onerror = (e) => reject(new Error(`The archive worker failed: ${e.message}`))
      worker.postMessage(bytes)
    })
    if (!reply.ok) throw new ApiError(reply.code, reply.message, 'archive')
    return new Map(reply.files)
  } finally {
    clearTimeout(timer)
    worker.terminate()
  }
}

/**
 * Inflates the archive, counting the bytes produced, and finds the plugin's root. Synchronous and CPU-bound for up
 * to the cap: it belongs on the archive worker, never on the server thread.
 */
export function inflateArchive(bytes: Uint8Array): Map<string, Uint8Array<ArrayBuffer>> {
  const files = new Map<string, Uint8Array[]>()
  const finished = new Set<string>()
  let total = 0
  const unzip = new Unzip((file: UnzipFile) => {
    const name = file.name
    checkEntryName(name)
    if (name.endsWith('/')) return // a folder: created with the files inside it
    if (files.has(name)) throw new ApiError('invalid_request', `The archive holds the entry "${shown(name)}" twice`, 'archive')
    if (files.size >= ARCHIVE_LIMITS.files) throw new ApiError('invalid_request', `The archive holds more than ${ARCHIVE_LIMITS.files} files`, 'archive')
    const chunks: Uint8Array[] = []
    files.set(name, chunks)
    file.ondata = (err, data, final) => {
      if (err) throw err
      total += data.length
      if (total > ARCHIVE_LIMITS.unpackedBytes)
        throw new ApiError('payload_too_large', `The archive unpacks to more than ${ARCHIVE_LIMITS.unpackedBytes / 1024 / 1024} MB`, 'archive')
      if (data.length) chunks.push(data)
      if (final) finished.add(name)
    }
    file.start()
  })
  unzip.register(UnzipInflate)
  try {
    if (bytes.length === 0) unzip.push(bytes, true)
    for (let at = 0; at < bytes.length; at += PIECE_BYTES)
      unzip.push(bytes.subarray(at, at + PIECE_BYTES), at + PIECE_BYTES >= bytes.length)
  } catch (err) {
    if (err instanceof ApiError) throw err
    throw new ApiError('invalid_request', `The archive is not a readable zip file: ${(err as Error).message}`, 'archive')
  }
  if (files.size === 0) throw new ApiError('invalid_request', 'The archive is not a readable zip file: it holds no files', 'archive')
  for (const name of files.keys()) {
    if (!finished.has(name)) throw new ApiError('invalid_request', `The archive is not a readable zip file: "${shown(name)}" is cut short`, 'archive')
    const parts = name.split('/')
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/')
      if (files.has(folder)) throw new ApiError('invalid_request', `The archive entry "${shown(folder)}" is both a file and a folder`, 'archive')
    }
  }
  const names = [...files.keys()]
  const root = names.includes('plugin.json')
    ? ''
    : (() => {
        const tops = new Set(names.map((n) => n.split('/')[0]))
        const [top] = tops
        if (tops.size === 1 && top && names.includes(`${top}/plugin.json`)) return `${top}/`
        throw new ApiError('invalid_request', 'The archive has no plugin.json at its root or in its one top folder', 'archive')
      })()
  const out = new Map<string, Uint8Array<ArrayBuffer>>()
  for (const [name, chunks] of files) if (name.startsWith(root)) out.set(name.slice(root.length), concat(chunks))
  return out
}

// Control characters: C0 and DEL are refused in names; C1 is only escaped when a name is shown.
const CONTROL = /[\u0000-\u001f\u007f]/
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f]/g
const utf8 = new TextEncoder()

/** Refuses a name that is not a plain relative path inside the plugin folder. A folder's name ends with '/'. */
export function checkEntryName(name: string): void {
  const refuse = (why: string) => {
    throw new ApiError('invalid_request', `The archive entry "${shown(name)}" ${why}`, 'archive')
  }
  if (CONTROL.test(name)) refuse('has a control character in its name')
  if (name.includes('\\')) refuse('has a backslash in its name (write paths with /)')
  if (name.startsWith('/')) refuse('points outside the plugin folder (an absolute path)')
  const path = name.endsWith('/') ? name.slice(0, -1) : name
  const segments = path.split('/')
  if (segments.includes('..')) refuse('points outside the plugin folder')
  if (segments.some((s) => s === '.' || s === '')) refuse('has an empty or "." path segment')
  if (utf8.encode(name).length > ARCHIVE_LIMITS.nameBytes) refuse(`has a name longer than ${ARCHIVE_LIMITS.nameBytes} bytes`)
  if (segments.some((s) => utf8.encode(s).length > ARCHIVE_LIMITS.segmentBytes)) refuse(`has a path segment longer than ${ARCHIVE_LIMITS.segmentBytes} bytes`)
}

/** A name as it can be shown in a message: control characters escaped, and cut to a readable length. */
function shown(name: string): string {
  const escaped = name.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return escaped.length > 200 ? `${escaped.slice(0, 200)}…` : escaped
}

/** One fresh buffer per file, so it can be transferred to the server thread on its own. */
function concat(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const c of chunks) out.set(c, at), (at += c.length)
  return out
}
