// The thread that inflates an uploaded plugin archive (see unpackPluginArchive): one archive per worker, which the
// server thread terminates when it answers or runs out of time.
import { ApiError } from '../http/errors.ts'
import { inflateArchive, type ArchiveReply } from './archive.ts'

declare const self: Worker

self.onmessage = (e: MessageEvent<Uint8Array>) => {
  let reply: ArchiveReply
  try {
    reply = { ok: true, files: [...inflateArchive(e.data)] }
  } catch (err) {
    reply = err instanceof ApiError ? { ok: false, code: err.code, message: err.message } : { ok: false, code: 'invalid_request', message: `The archive could not be unpacked: ${(err as Error).message}` }
  }
  // Each file has a buffer of its own (see inflateArchive), so they move to the server thread without a copy.
  self.postMessage(reply, reply.ok ? reply.files.map(([, data]) => data.buffer) : [])
}
