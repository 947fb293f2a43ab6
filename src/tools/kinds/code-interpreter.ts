import type { Caller } from '../../gateway/service.ts'
import { SandboxError } from '../../plugins/sandbox/index.ts'
import type { CodeLimits, CodeResult } from '../../../sandbox/protocol.ts'
import type { CodeSandbox } from '../code-sandbox.ts'
import type { Tool, ToolProvider, ToolResult, ToolSpec } from '../types.ts'

type Spec = Extract<ToolSpec, { type: 'code_interpreter' }>

/** The most code one call takes: a model that writes more is better off splitting the work. */
export const MAX_CODE_CHARS = 100_000

const LIMIT_CODES = new Set(['cpu_time_exceeded', 'memory_limit_exceeded', 'wall_time_exceeded', 'response_too_large'])

/** The limits in words, as the model is told them and reads them again in a limit's error. */
export function limitsInWords(l: CodeLimits): string {
  const kb = l.maxOutputBytes / 1024
  return `${l.memoryMb} MB memory, ${l.cpuMs / 1000} s CPU, ${l.wallMs / 1000} s wall time, ${Number.isInteger(kb) ? `${kb} KB` : `${l.maxOutputBytes} bytes`} output`
}

/** The console lines, and a line saying how many did not fit. */
function consoleText(logs: readonly string[], dropped: number, limits: CodeLimits): string {
  if (logs.length === 0 && dropped === 0) return ''
  const cut = dropped > 0 ? `\n[${dropped} more console line${dropped === 1 ? ' was' : 's were'} dropped: the output limit is ${limits.maxOutputBytes} bytes (maxOutputBytes)]` : ''
  return `${logs.join('\n')}${cut}`
}

/** What the model reads of a run that ended: the console lines first (they came first), then the value. */
export function presentResult(r: CodeResult, limits: CodeLimits): string {
  const shown =
    r.type === 'undefined'
      ? 'Result: undefined (the last expression has no value)'
      : r.type === 'text'
        ? `Result (not representable as JSON, described): ${r.value}`
        : `Result (JSON): ${r.value}`
  const printed = consoleText(r.logs, r.droppedLogs, limits)
  return printed ? `console output:\n${printed}\n\n${shown}` : shown
}

/** Hints for what models often try and this sandbox does not have. */
function hint(message: string): string {
  if (message.includes('await is only valid'))
    return '\nTop-level await is not available, and nothing here needs it: there is no network, timer or file. Write synchronous code.'
  if (message.startsWith('Error: Not supported')) return '\nimport() is not available: there are no modules here, only the JavaScript builtins.'
  return ''
}

/** What the model reads of a run that failed; never a platform fault. */
export function presentError(err: SandboxError, limits: CodeLimits): ToolResult {
  if (err.code === 'code_error') {
    const printed = consoleText(err.logs ?? [], 0, limits)
    return { content: `The code failed: ${err.message}${hint(err.message)}${printed ? `\n\nconsole output before it failed:\n${printed}` : ''}`, isError: true }
  }
  if (LIMIT_CODES.has(err.code))
    return { content: `The code was stopped (${err.code}): ${err.message}. The limits of one run: ${limitsInWords(limits)}.`, isError: true }
  return { content: `The code did not run to its end (${err.code}): ${err.message}.`, isError: true }
}

/**
 * `code_interpreter`: JavaScript run in a fresh isolate per call, in a sandbox process of its own (CodeSandbox),
 * with CPU, memory, wall-clock and output limits and no host access at all: the code is the input, the value of its
 * last expression and its console lines are the output. Whatever a snippet does (loops, bombs, crashes V8, tries to
 * escape) comes back to the model as an error result naming what stopped it.
 */
export function codeInterpreterTools(sandbox: CodeSandbox): ToolProvider<Spec> {
  const limits = sandbox.limits
  return {
    kind: 'code_interpreter',
    async tools(_spec: Spec, _caller: Caller): Promise<Tool[]> {
      return [
        {
          kind: 'code_interpreter',
          name: 'run_javascript',
          description:
            'Runs JavaScript in a fresh, isolated sandbox and returns the value of the last expression (as JSON) and anything written with console.log. ' +
            'Use it to calculate, transform data or check logic. Only the JavaScript builtins are there (Math, JSON, Date, RegExp, Map, typed arrays, …): ' +
            'no network, files, timers, modules or top-level await, so put the data in the code. Nothing persists between runs. ' +
            `Limits of one run: ${limitsInWords(limits)}.`,
          parameters: {
            type: 'object',
            properties: { code: { type: 'string', description: 'JavaScript; the value of its last expression is the result' } },
            required: ['code'],
            additionalProperties: false,
          },
          async execute(args, ctx) {
            const code = typeof args.code === 'string' ? args.code : ''
            if (code.trim() === '') return { content: 'run_javascript needs "code": the JavaScript to run', isError: true }
            if (code.length > MAX_CODE_CHARS)
              return { content: `The code is ${code.length} characters; run_javascript takes at most ${MAX_CODE_CHARS}. Split the work.`, isError: true }
            try {
              return { content: presentResult(await sandbox.run(code, { caller: ctx.caller.userId, signal: ctx.signal }), limits) }
            } catch (err) {
              if (err instanceof SandboxError) return presentError(err, limits)
              throw err
            }
          },
        },
      ]
    },
  }
}
