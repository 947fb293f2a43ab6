export { SandboxClient, type InvokeOptions, type SandboxClientOptions, type SandboxCrash, type SandboxHealth } from './client.ts'
export { SandboxError, type SandboxErrorCode } from './errors.ts'
export { bundlePlugin, PluginBundleError } from './bundle.ts'
export { toResponse, toWireRequest } from './http.ts'
export {
  DEFAULT_LIMITS,
  type HostCallName,
  type InvokeArgs,
  type InvokeMethod,
  type Limits,
  type LogLevel,
  type PluginMeta,
  type RouteResult,
  type SandboxStats,
  type WireRequest,
} from '../../../sandbox/protocol.ts'
