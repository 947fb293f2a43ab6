/** Data-loss prevention of large request bodies, off the server thread (see dlp-pool.ts). */
import { answerCalls } from '../workers/calls.ts'
import { guardChat, guardEmbeddings, type DlpOptions, type DlpResult } from './dlp.ts'

declare const self: Worker

answerCalls<{ endpoint: 'chat' | 'embeddings'; body: never; options: DlpOptions }, DlpResult<never>>(self, ({ endpoint, body, options }) =>
  endpoint === 'chat' ? guardChat(body, options) : guardEmbeddings(body, options),
)
