/** Counts tokens for the gateway off its main thread (see token-pool.ts). */
import { answerCalls } from '../workers/calls.ts'
import { countTokens } from './token-count.ts'

declare const self: Worker

answerCalls<{ texts: string[] }, number[]>(self, ({ texts }) => texts.map(countTokens))
