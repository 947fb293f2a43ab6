import type { ErrorCode, Limits, WireError } from '../../../sandbox/protocol.ts'

export type SandboxErrorCode = ErrorCode

/**
 * A plugin invocation (or load) that did not produce a result. `code` is stable; `limit` names the violated limit
 * and its configured value for the *_exceeded / *_too_large codes. `pluginStack` is the plugin's own stack for
 * plugin_error: fit for logs, not for HTTP bodies.
 */
export class SandboxError extends Error {
  readonly code: SandboxErrorCode
  readonly limit?: { name: keyof Limits; value: number }
  readonly pluginStack?: string

  constructor(code: SandboxErrorCode, message: string, limit?: { name: keyof Limits; value: number }, pluginStack?: string) {
    super(message)
    this.name = 'SandboxError'
    this.code = code
    if (limit !== undefined) this.limit = limit
    if (pluginStack !== undefined) this.pluginStack = pluginStack
  }

  static fromWire(error: WireError): SandboxError {
    return new SandboxError(error.code, error.message, error.limit, error.stack)
  }
}
