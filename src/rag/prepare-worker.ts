/** Prepares documents for indexing off the server thread (see prepare-pool.ts). */
import { answerCalls } from '../workers/calls.ts'
import { prepareDocument, type Prepared, type PrepareRequest } from './prepare.ts'

declare const self: Worker

answerCalls<PrepareRequest, Prepared>(self, prepareDocument)
