import { createHash } from 'node:crypto'
import type { AuditLog } from '../audit/service.ts'
import { ApiError } from '../http/errors.ts'
import type { Logger } from '../log.ts'
import type { Caller } from '../gateway/service.ts'
import type { Tool, ToolContext, ToolProvider, ToolResult, ToolSpec } from './types.ts'

/** The most text of one tool result the model reads; the rest is cut (and says so). */
export const MAX_RESULT_CHARS = 32_000
/** One tool call's wall-clock limit, whatever the kind. */
export const TOOL_TIMEOUT_MS = 60_000
const NAME = /^[a-zA-Z0-9_-]{1,64}$/

export interface ToolCallRecord {
  tool: string
  kind: string
  /** sha256 of the arguments as the model sent them: what was asked, without keeping what it said. */
  argsDigest: string
  outcome: 'ok' | 'error'
  durationMs: number
}

/**
 * Resolves tool specs into tools for a caller (each provider enforces what the caller may reach) and runs tool
 * calls: arguments checked, time bounded, output capped, every call audited (tool, arguments digest, outcome,
 * duration). A tool that fails, throws or times out becomes an error result the model reads, never an exception.
 */
export class ToolEngine {
  readonly #providers = new Map<string, ToolProvider>()

  constructor(readonly deps: { audit: AuditLog; log: Logger }) {}

  register(provider: ToolProvider): void {
    this.#providers.set(provider.kind, provider as ToolProvider)
  }

  /** The tools `specs` stand for, for `caller`; names must be unique (the model calls them by name). */
  async resolve(specs: readonly ToolSpec[], caller: Caller): Promise<Tool[]> {
    const tools: Tool[] = []
    for (const spec of specs) {
      const provider = this.#providers.get(spec.type)
      if (!provider) throw new ApiError('validation_failed', `Tools of type ${spec.type} are not available on this platform`, 'tools')
      tools.push(...(await provider.tools(spec, caller)))
    }
    const seen = new Set<string>()
    for (const t of tools) {
      if (!NAME.test(t.name)) throw new ApiError('validation_failed', `The tool name "${t.name}" is not usable by a model (letters, digits, _ and -, up to 64)`, 'tools')
      if (seen.has(t.name)) throw new ApiError('validation_failed', `Two tools are named "${t.name}"; narrow one server's allowed_tools`, 'tools')
      seen.add(t.name)
    }
    return tools
  }

  /** OpenAI's `tools` for a chat request. */
  static definitions(tools: readonly Tool[]) {
    return tools.map((t) => ({ type: 'function' as const, function: { name: t.name, description: t.description, parameters: t.parameters } }))
  }

  /**
   * Runs one call the model made. `rawArgs` is the model's JSON text: unparseable arguments, an unknown tool, a
   * failure or a timeout come back as an error result for the model to read.
   */
  async call(tools: readonly Tool[], name: string, rawArgs: string, ctx: ToolContext): Promise<{ result: ToolResult; record: ToolCallRecord }> {
    const started = performance.now()
    const tool = tools.find((t) => t.name === name)
    const argsDigest = createHash('sha256').update(rawArgs).digest('hex')
    let result: ToolResult
    if (!tool) result = { content: `There is no tool named "${name}". The tools are: ${tools.map((t) => t.name).join(', ') || 'none'}.`, isError: true }
    else {
      let args: unknown
      try {
        args = rawArgs.trim() === '' ? {} : JSON.parse(rawArgs)
      } catch {
        args = undefined
      }
      if (typeof args !== 'object' || args === null || Array.isArray(args))
        result = { content: `The arguments of ${name} must be a JSON object matching its parameters; got: ${rawArgs.slice(0, 200)}`, isError: true }
      else result = await this.#run(tool, args as Record<string, unknown>, ctx)
    }
    if (result.content.length > MAX_RESULT_CHARS)
      result = { ...result, content: `${result.content.slice(0, MAX_RESULT_CHARS)}\n[cut: the result was ${result.content.length} characters; ${MAX_RESULT_CHARS} are shown]` }
    const record: ToolCallRecord = {
      tool: name,
      kind: tool?.kind ?? 'unknown',
      argsDigest,
      outcome: result.isError ? 'error' : 'ok',
      durationMs: Math.round(performance.now() - started),
    }
    await this.deps.audit
      .record(
        {
          action: 'tool.call',
          outcome: result.isError ? 'failure' : 'success',
          actor: { userId: ctx.caller.userId, apiKeyId: ctx.caller.apiKey?.id ?? null },
          resource: { type: 'tool', id: name },
          details: { kind: record.kind, args_sha256: argsDigest, duration_ms: record.durationMs, source: ctx.caller.source },
        },
        { requestId: ctx.caller.requestId, ip: null, userAgent: null },
      )
      .catch((err) => this.deps.log.warn({ err: (err as Error).message, tool: name }, 'tool call not audited'))
    return { result, record }
  }

  async #run(tool: Tool, args: Record<string, unknown>, ctx: ToolContext): Promise<ToolResult> {
    const timeout = AbortSignal.timeout(TOOL_TIMEOUT_MS)
    const signal = AbortSignal.any([ctx.signal, timeout])
    try {
      return await Promise.race([
        tool.execute(args, { ...ctx, signal }),
        new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
      ])
    } catch (err) {
      if (timeout.aborted) return { content: `${tool.name} did not finish within ${TOOL_TIMEOUT_MS / 1000} s`, isError: true }
      if (ctx.signal.aborted) return { content: `${tool.name} was stopped: the run ended`, isError: true }
      // What the model may read: our own errors say what happened; anything else is named only by its tool.
      const message = err instanceof ApiError ? err.message : `${tool.name} failed`
      if (!(err instanceof ApiError)) this.deps.log.warn({ tool: tool.name, err: (err as Error).message }, 'tool failed')
      return { content: message, isError: true }
    }
  }
}
