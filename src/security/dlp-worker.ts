/** Data-loss prevention of large request bodies, off the server thread (see dlp-pool.ts). */
import { guardChat, guardEmbeddings, type DlpOptions } from './dlp.ts'

declare const self: Worker

self.onmessage = (event: MessageEvent<{ id: number; endpoint: 'chat' | 'embeddings'; body: never; options: DlpOptions }>) => {
  const { id, endpoint, body, options } = event.data
  try {
    self.postMessage({ id, result: endpoint === 'chat' ? guardChat(body, options) : guardEmbeddings(body, options) })
  } catch (err) {
    self.postMessage({ id, error: (err as Error).message })
  }
}
