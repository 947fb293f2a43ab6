// The thread that checks settings against a plugin's own JSON Schema (see validateConfig). The schema's patterns
// are the plugin author's regular expressions: one that backtracks runs here, where the server thread can end it.
import { Validator, type Schema } from '@cfworker/json-schema'
import type { ConfigCheck, ConfigReply } from './manifest.ts'

declare const self: Worker

self.onmessage = (e: MessageEvent<ConfigCheck>) => {
  const { id, schema, value } = e.data
  let reply: ConfigReply
  try {
    const result = new Validator(schema as Schema, '2020-12', false).validate(value)
    const problems = result.valid
      ? []
      : result.errors.filter((err) => err.keyword !== 'properties').map((err) => `${err.instanceLocation.replace(/^#/, '') || '/'}: ${err.error}`)
    reply = { type: 'checked', id, problems }
  } catch (err) {
    reply = { type: 'unusable', id, message: (err as Error).message }
  }
  self.postMessage(reply)
}

self.postMessage({ type: 'ready' } satisfies ConfigReply)
