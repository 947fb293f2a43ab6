/**
 * Uploading files one request each, so every file gets its own status and its own refusal reason, and one bad file
 * never costs the others. Files the server would refuse anyway (type, empty, size, content already in the
 * collection) are refused here first: nothing is sent, and the reason shows at once.
 */
import { ApiError, upload } from '../../api.ts'
import { RAG, formatBytes, type Doc, type UploadLimits, type UploadResult } from './types.ts'

export type FileState =
  | { kind: 'waiting' }
  /** `fraction` of the bytes sent so far, 0 to 1. */
  | { kind: 'uploading'; fraction: number }
  | { kind: 'accepted'; doc: Doc }
  /** Refused, by this page or by the server; sending it again would not help. */
  | { kind: 'rejected'; message: string }
  /** The request failed (network, server); trying again may work. */
  | { kind: 'failed'; message: string }

/** How many files are sent at once: enough to keep the line busy, few enough not to starve the page's other calls. */
export const PARALLEL_UPLOADS = 3

function extensionOf(name: string): string | undefined {
  const dot = name.lastIndexOf('.')
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : undefined
}

/** SHA-256 as hex, or null where the browser offers no Web Crypto (plain http other than localhost). */
export async function sha256(file: File): Promise<string | null> {
  if (!globalThis.crypto?.subtle) return null
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer())
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * Why the server would refuse this file, in its words, or null. `known` maps the content hashes already in the
 * collection (or earlier in this batch) to their file names.
 */
export async function precheck(file: File, limits: UploadLimits | undefined, known: Map<string, string>): Promise<string | null> {
  if (limits) {
    const ext = extensionOf(file.name)
    if (ext === undefined || !limits.extensions.includes(ext))
      return `${file.name}: this file type is not supported (supported: ${limits.extensions.map((e) => `.${e}`).join(', ')})`
    if (file.size > limits.max_file_bytes) return `${file.name}: the file is ${formatBytes(file.size)}; the limit is ${formatBytes(limits.max_file_bytes)}`
  }
  if (file.size === 0) return `${file.name}: the file is empty`
  const hash = await sha256(file)
  if (hash === null) return null
  const existing = known.get(hash)
  if (existing !== undefined) return `${file.name}: the same content is already in this collection as "${existing}"`
  known.set(hash, file.name)
  return null
}

/** Sends one file (multipart field "files", as POST /collections/:id/documents expects). */
export async function uploadOne(collectionId: string, file: File, signal: AbortSignal, onProgress: (fraction: number) => void): Promise<FileState> {
  const form = new FormData()
  form.append('files', file, file.name)
  try {
    const result = await upload<UploadResult>(`${RAG}/collections/${collectionId}/documents`, form, (sent, total) => onProgress(sent / total), signal)
    const doc = result.accepted[0]
    if (doc) return { kind: 'accepted', doc }
    return { kind: 'rejected', message: result.rejected[0]?.message ?? `${file.name}: the server did not accept the file` }
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error
    // A refused upload answers 400 with the refusal's message in the error envelope.
    if (error instanceof ApiError && error.status === 400) return { kind: 'rejected', message: error.message }
    if (error instanceof ApiError && error.status === 413) return { kind: 'rejected', message: `${file.name}: the file is too large for the server` }
    return { kind: 'failed', message: error instanceof ApiError ? error.message : 'The upload failed. Try again.' }
  }
}

/** Runs `work` over `items` with at most `limit` running at once. */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++] as T
      await work(item)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}
