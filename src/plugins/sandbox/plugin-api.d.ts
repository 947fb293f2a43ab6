/**
 * Types of the one module a plugin may import. The implementation is the sandbox runtime
 * (sandbox/runtime/plugin.js); the argument shapes of the host calls are the server's host API, which receives
 * each call's arguments as an array, exactly as the plugin passed them.
 */
declare module 'enclava:plugin' {
  export interface PluginContext<Input = unknown> {
    readonly invocationId: string
    /**
     * Who is calling, as plain data (the caller's token, key or cookies never reach a plugin):
     * `internal` (jwt routes) with the user's id and role, `api` (api_key routes) with the key's owner, id and
     * scopes, `tool` (an agent's model called one of its tools) with the user the agent runs for and the tool,
     * `public` and `cron` with no user.
     */
    readonly identity:
      | { readonly source: 'internal'; readonly user_id: string; readonly role: string }
      | { readonly source: 'api'; readonly user_id: string; readonly api_key_id: string; readonly scopes: readonly string[] }
      | { readonly source: 'tool'; readonly user_id: string; readonly api_key_id: string | null; readonly tool: string }
      | { readonly source: 'public' | 'cron'; readonly user_id: null }
      | null
    /** execute: the caller's input; a tool: its arguments (also its handler's first parameter). */
    readonly input: Input
    /** route: `:name` segments (and `*`) of the matched route key. */
    readonly params: Readonly<Record<string, string>>
    readonly kv: {
      get(key: string): Promise<unknown>
      set(key: string, value: unknown, options?: { ttlSeconds?: number }): Promise<void>
      delete(key: string): Promise<void>
      list(prefix?: string): Promise<unknown>
    }
    readonly config: { get(key?: string): Promise<unknown> }
    readonly llm: { chat(request: unknown): Promise<unknown>; embed(request: unknown): Promise<unknown> }
    readonly rag: { search(request: unknown): Promise<unknown> }
    readonly chatbots: { invoke(request: unknown): Promise<unknown> }
    log(level: 'debug' | 'info' | 'warn' | 'error', message: string, data?: unknown): Promise<void>
    /** Same as the global fetch, charged to this invocation exactly. */
    fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>
  }

  /** A route handler. Return a Response; any other value is sent as JSON, undefined as 204. */
  export type RouteHandler = (req: Request, ctx: PluginContext) => unknown
  export type CronHandler = (ctx: PluginContext) => unknown
  /**
   * A tool an agent's model may call: `args` are the arguments as the model sent them (a JSON object, not checked
   * against the manifest's `parameters`: check what you use). The result is sent to the model as JSON (a string as
   * it is); a thrown Error's message reaches the model too.
   */
  export type ToolHandler = (args: Record<string, unknown>, ctx: PluginContext) => unknown

  /**
   * Extend and `export default` the class. Route keys are "METHOD /path" with `:param` segments and a final `*`
   * (METHOD: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or ALL); exact paths win over patterns, patterns match
   * in declaration order.
   *
   * @example
   * export default class Hello extends BasePlugin {
   *   name = 'hello'
   *   version = '1.0.0'
   *   routes = { 'GET /hello/:who': (req: Request, ctx: PluginContext) => Response.json({ hi: ctx.params.who }) }
   *   cron = { nightly: async (ctx: PluginContext) => ctx.kv.set('last', Date.now()) }
   *   async execute(ctx: PluginContext) { return { echo: ctx.input } }
   * }
   */
  export class BasePlugin {
    name?: string
    version?: string
    routes?: Record<string, RouteHandler>
    cron?: Record<string, CronHandler>
    /** Tools for agents, by the names plugin.json `tools` declares (exactly those). */
    tools?: Record<string, ToolHandler>
    execute(ctx: PluginContext): Promise<unknown>
    onEnable?(ctx: PluginContext): unknown
    onDisable?(ctx: PluginContext): unknown
  }
}
