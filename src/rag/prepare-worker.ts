/** Prepares documents for indexing, and reads fetched pages, off the server thread (see prepare-pool.ts). */
import { answerCalls } from '../workers/calls.ts'
import { type PageRequest, type PageText, prepareDocument, type Prepared, type PrepareRequest, readPage } from './prepare.ts'

declare const self: Worker

answerCalls<PrepareRequest | PageRequest, Prepared | PageText>(self, (r) => ('page' in r ? readPage(r) : prepareDocument(r)))
