/** Data-loss prevention of large request bodies, and injection scores of long messages, off the server thread (see dlp-pool.ts). */
import { answerCalls } from '../workers/calls.ts'
import type { ScanCall } from './dlp-pool.ts'
import { guardChat, guardEmbeddings, type DlpResult } from './dlp.ts'
import { scoreInjection, type InjectionVerdict } from './injection.ts'

declare const self: Worker

answerCalls<ScanCall, DlpResult<never> | InjectionVerdict>(self, (call) => {
  if ('injection' in call) return scoreInjection(call.injection, call.threshold)
  return call.endpoint === 'chat' ? guardChat(call.body as never, call.options) : guardEmbeddings(call.body as never, call.options)
})
