/** Counts tokens for the gateway off its main thread (see token-pool.ts). */
import { countTokens } from './token-count.ts'

declare const self: Worker

self.onmessage = (event: MessageEvent<{ id: number; texts: string[] }>) => {
  const { id, texts } = event.data
  self.postMessage({ id, counts: texts.map(countTokens) })
}
