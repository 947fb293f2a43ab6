import type { Caller } from '../../gateway/service.ts'
import { ApiError } from '../../http/errors.ts'
import type { PluginIdentity } from '../../plugins/boundary.ts'
import { SandboxError } from '../../plugins/sandbox/index.ts'
import type { PluginService } from '../../plugins/service.ts'
import type { PluginRow } from '../../plugins/store.ts'
import type { ParametersSchema, Tool, ToolProvider, ToolResult, ToolSpec } from '../types.ts'

type Spec = Extract<ToolSpec, { type: 'plugin' }>

/** Bytes of the arguments one call sends into a plugin's sandbox; a model needs far less for any real tool. */
export const MAX_PLUGIN_TOOL_ARGS_BYTES = 64 * 1024

/** Refusals the plugin did not cause, and that may pass: worth another try later. */
const UNAVAILABLE = new Set(['concurrency_limit_exceeded', 'sandbox_unavailable', 'plugin_quarantined', 'isolate_recycled', 'plugin_not_loaded'])

// Rows recorded before manifests had tools (uploads are not rediscovered) declare none.
const declaredTools = (row: PluginRow) => row.manifest.tools ?? []
const granted = (row: PluginRow, tool: string) => row.granted?.tools?.includes(tool) === true

/** What the model reads when a plugin's tool did not answer: what happened, never a platform fault. */
function failure(err: SandboxError, plugin: string, tool: string): ToolResult {
  const what = `The tool ${tool} of plugin "${plugin}"`
  if (err.code === 'plugin_error') return { content: `${what} failed: ${err.message}`, isError: true }
  if (UNAVAILABLE.has(err.code)) return { content: `The plugin "${plugin}" is unavailable right now (${err.code}): ${err.message}; try again shortly.`, isError: true }
  if (err.limit || err.code.endsWith('_exceeded') || err.code.endsWith('_too_large'))
    return { content: `${what} exceeded a limit (${err.code}): ${err.message}`, isError: true }
  return { content: `${what} failed (${err.code}): ${err.message}`, isError: true }
}

/**
 * `plugin`: a tool a plugin declares in its manifest (`tools[]`) and implements in its class, run in the plugin's own
 * sandbox under the plugin's grants (its kv, models, hosts: never the caller's), with who asked as plain data
 * (`ctx.identity`, source `tool`). Only tools an administrator granted to agents (the plugin grant's `tools`)
 * resolve; a disabled or unloaded plugin's tool resolves, and each call says why it cannot run.
 *
 * @example
 * engine.register(pluginTools(services.plugins))
 * await engine.resolve([{ type: 'plugin', plugin: 'hello', tool: 'greet' }], caller)
 */
export function pluginTools(plugins: PluginService): ToolProvider<Spec> {
  /** The plugin's row now: the one loaded on this replica (kept current by sync), else the stored one. */
  const current = (name: string): Promise<PluginRow | undefined> => (plugins.isLoaded(name) ? Promise.resolve(plugins.loaded(name).row) : plugins.store.get(name))

  async function run(plugin: string, tool: string, args: Record<string, unknown>, caller: Caller, signal: AbortSignal): Promise<ToolResult> {
    const row = await current(plugin)
    if (!row) return { content: `The plugin "${plugin}" is no longer installed; its tool ${tool} is gone.`, isError: true }
    if (!row.enabled)
      return {
        content: `The plugin "${plugin}" is disabled${row.disabled_reason ? ` (${row.disabled_reason})` : ''}; its tool ${tool} is unavailable until an administrator enables it again.`,
        isError: true,
      }
    if (!declaredTools(row).some((t) => t.name === tool)) return { content: `The plugin "${plugin}" no longer declares the tool ${tool}.`, isError: true }
    if (!granted(row, tool)) return { content: `The tool ${tool} of plugin "${plugin}" is no longer granted to agents.`, isError: true }
    if (!plugins.isLoaded(plugin))
      return { content: `The plugin "${plugin}" is enabled but not running on this server now (it failed to load, or its sandbox is restarting); try again shortly.`, isError: true }
    const bytes = Buffer.byteLength(JSON.stringify(args))
    if (bytes > MAX_PLUGIN_TOOL_ARGS_BYTES)
      return { content: `The arguments are ${bytes} bytes; a plugin's tool takes at most ${MAX_PLUGIN_TOOL_ARGS_BYTES}.`, isError: true }
    const identity: PluginIdentity = { source: 'tool', user_id: caller.userId, api_key_id: caller.apiKey?.id ?? null, tool }
    let value: unknown
    try {
      value = await plugins.invoke(plugin, 'tool', { name: tool, input: args, identity }, 'tool', undefined, signal)
    } catch (err) {
      if (err instanceof SandboxError) return failure(err, plugin, tool)
      throw err
    }
    // A string is what the tool means the model to read; anything else is data, as JSON.
    return { content: typeof value === 'string' ? value : JSON.stringify(value ?? null) }
  }

  return {
    kind: 'plugin',
    async tools(spec: Spec, _caller: Caller): Promise<Tool[]> {
      const row = await plugins.store.get(spec.plugin)
      if (!row) throw new ApiError('not_found', `Plugin "${spec.plugin}" is not installed`, 'tools')
      const declared = declaredTools(row).find((t) => t.name === spec.tool)
      if (!declared) {
        const names = declaredTools(row).map((t) => t.name)
        throw new ApiError('not_found', `Plugin "${spec.plugin}" declares no tool "${spec.tool}" (${names.length ? `it declares: ${names.join(', ')}` : 'it declares none'})`, 'tools')
      }
      if (!granted(row, spec.tool))
        throw new ApiError(
          'permission_denied',
          `Agents may not use the tool "${spec.tool}" of plugin "${spec.plugin}": an administrator has not granted it (the tools agents may use are listed in the plugin's grant, "tools")`,
          'tools',
        )
      return [
        {
          kind: 'plugin',
          name: declared.name,
          description: declared.description,
          parameters: declared.parameters as ParametersSchema,
          execute: (args, ctx) => run(spec.plugin, spec.tool, args, ctx.caller, ctx.signal),
        },
      ]
    },
  }
}
