import type { HostCallName, Limits, LogLevel } from '../../../sandbox/protocol.ts'
import { SandboxClient, type SandboxClientOptions } from './client.ts'
import { SandboxError } from './errors.ts'

export interface HostCallRecord {
  plugin: string
  invocationId: string
  name: HostCallName
  args: unknown[]
}

/** A real sandbox process with an in-memory stand-in for the server's host API (kv in a Map, fetch scripted). */
export interface SandboxHarness {
  client: SandboxClient
  kv: Map<string, unknown>
  calls: HostCallRecord[]
  logs: { plugin: string; level: LogLevel; message: string; invocationId?: string }[]
  /** Answers `fetch` host calls; default: 200 with the request echoed as JSON. */
  fetch: (request: unknown) => Promise<unknown>
  /** Runs before every host call, e.g. to hold calls open. */
  beforeCall: (record: HostCallRecord) => Promise<void>
  stop(): Promise<void>
}

export const TEST_LIMITS: Limits = {
  memoryMb: 32,
  cpuMs: 250,
  wallMs: 2_000,
  maxConcurrent: 2,
  maxHostCalls: 5,
  maxResponseBytes: 64 * 1024,
  maxTimers: 10,
}

export const GOOD_PLUGIN = `import { BasePlugin } from 'enclava:plugin'
export default class Good extends BasePlugin {
  name = 'good'
  async execute(ctx) { return { ok: true, input: ctx.input ?? null } }
}`

export async function startHarness(options: Partial<SandboxClientOptions> = {}): Promise<SandboxHarness> {
  const harness: SandboxHarness = {
    client: undefined as unknown as SandboxClient,
    kv: new Map(),
    calls: [],
    logs: [],
    fetch: async (request) => ({ status: 200, headers: [['content-type', 'application/json']], body: JSON.stringify({ echo: request }) }),
    beforeCall: async () => {},
    stop: async () => harness.client.stop(),
  }
  harness.client = new SandboxClient({
    onHostCall: async (plugin, invocationId, name, args) => {
      const record = { plugin, invocationId, name, args }
      harness.calls.push(record)
      await harness.beforeCall(record)
      const key = `${plugin}:${String(args[0])}`
      switch (name) {
        case 'kv.get':
          return harness.kv.get(key) ?? null
        case 'kv.set':
          harness.kv.set(key, args[1])
          return null
        case 'kv.delete':
          harness.kv.delete(key)
          return null
        case 'kv.list':
          return [...harness.kv.keys()].filter((k) => k.startsWith(`${plugin}:`)).map((k) => k.slice(plugin.length + 1))
        case 'fetch':
          return harness.fetch(args[0])
        default:
          throw Object.assign(new Error(`${name} is not granted to ${plugin}`), { code: 'permission_denied' })
      }
    },
    onLog: (plugin, level, message, invocationId) => {
      harness.logs.push(invocationId === undefined ? { plugin, level, message } : { plugin, level, message, invocationId })
    },
    ...options,
  })
  await harness.client.start()
  return harness
}

/** A plugin whose execute runs `body` as an async function body with `ctx` in scope. */
export function pluginWith(body: string, extra = ''): string {
  return `import { BasePlugin } from 'enclava:plugin'
export default class P extends BasePlugin {
  ${extra}
  async execute(ctx) {
${body}
  }
}`
}

/** The SandboxError a promise rejects with; anything else (or no rejection) fails the test. */
export async function failure(promise: Promise<unknown>): Promise<SandboxError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof SandboxError) return err
    throw err
  }
  throw new Error('expected a SandboxError')
}
