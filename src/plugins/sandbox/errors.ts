import type { ErrorCode, LimitName, WireError } from '../../../sandbox/protocol.ts'

export type SandboxErrorCode = ErrorCode

/**
 * A plugin invocation (or load) that did not produce a result. `code` is stable; `limit` names the violated limit
 * and its configured value for the *_exceeded / *_too_large codes. `pluginStack` is the plugin's own stack for
 * plugin_error: fit for logs, not for HTTP bodies.
 */
export class SandboxError extends Error {
  readonly code: SandboxErrorCode
  readonly limit?: { name: LimitName; value: number }
  readonly pluginStack?: string
  /** code_error (the code interpreter): the console lines the snippet wrote before it failed. */
  readonly logs?: string[]
  /** A wall-clock limit hit while the plugin waited for the platform (see WireError.waitingOnHost). */
  readonly waitingOnHost: boolean

  constructor(code: SandboxErrorCode, message: string, limit?: { name: LimitName; value: number }, pluginStack?: string, waitingOnHost = false, logs?: string[]) {
    super(message)
    this.name = 'SandboxError'
    this.code = code
    if (limit !== undefined) this.limit = limit
    if (pluginStack !== undefined) this.pluginStack = pluginStack
    this.waitingOnHost = waitingOnHost
    if (logs !== undefined) this.logs = logs
  }

  static fromWire(error: WireError): SandboxError {
    const logs = Array.isArray(error.logs) && error.logs.every((l) => typeof l === 'string') ? error.logs : undefined
    return new SandboxError(error.code, error.message, error.limit, error.stack, error.waitingOnHost === true, logs)
  }

  /**
   * Whether the plugin's own code caused this: it ran out of CPU, memory, time (not while waiting for the
   * platform), host calls, timers or result size. Refusals for load (concurrency), a crashed or restarting
   * sandbox, a recycle caused by another invocation and cancellations are not the plugin's doing, and must never
   * count toward disabling it: anyone can cause them.
   */
  get pluginFault(): boolean {
    switch (this.code) {
      case 'cpu_time_exceeded':
      case 'memory_limit_exceeded':
      case 'host_call_limit_exceeded':
      case 'host_call_too_large':
      case 'response_too_large':
      case 'timer_limit_exceeded':
        return true
      case 'wall_time_exceeded':
        return !this.waitingOnHost
      default:
        return false
    }
  }
}
