import type { AuditLog } from '../audit/service.ts'
import type { CacheStore } from '../cache/types.ts'
import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import type { Logger } from '../log.ts'
import { LiveState } from '../settings/live.ts'
import type { Caller } from '../gateway/service.ts'
import type { Tool, ToolProvider, ToolSpec } from '../tools/types.ts'

export const MODULES = ['chatbots', 'rag', 'agents', 'plugins', 'playground'] as const
export type ModuleName = (typeof MODULES)[number]
export const isModule = (name: string): name is ModuleName => (MODULES as readonly string[]).includes(name)

export const MODULES_CHANNEL = 'modules:changed'

/** What each module is, and where its routes live (path prefixes, matched at a segment boundary). */
export const MODULE_INFO: Record<ModuleName, { title: string; description: string; prefixes: string[] }> = {
  chatbots: {
    title: 'Chatbots',
    description: 'Chatbots, their conversations, the external chat API and the website widget',
    prefixes: ['/api-internal/v1/chatbots', '/api-internal/v1/chatbot', '/api/v1/chatbot', '/api/v1/widget', '/widget.js'],
  },
  rag: {
    title: 'Documents (RAG)',
    description: 'Document collections, uploads, indexing and search; agents’ rag_search tools',
    prefixes: ['/api-internal/v1/rag', '/api/v1/rag'],
  },
  agents: {
    title: 'Agents',
    description: 'Agents and their runs, on both APIs',
    prefixes: ['/api-internal/v1/agents', '/api/v1/agents'],
  },
  plugins: {
    title: 'Plugins',
    description: 'Plugin routes, execute, administration, cron jobs and plugin tools',
    prefixes: ['/api-internal/v1/plugins', '/api/v1/plugins', '/api-internal/v1/plugin-admin'],
  },
  playground: {
    title: 'Playground',
    description: 'Chat and embeddings from the dashboard, charged to the signed-in user',
    prefixes: ['/api-internal/v1/llm/chat', '/api-internal/v1/llm/embeddings'],
  },
}

export interface ModuleState {
  enabled: boolean
  reason: string | null
  updated_at: Date | null
  updated_by: string | null
}

/** A module's background work on this replica: paused while the module is disabled, resumed when it is enabled. */
export interface BackgroundWork {
  pause(): Promise<void> | void
  resume(): Promise<void> | void
  /** For the status: what runs in the background. */
  describe: string
}

const ENABLED: ModuleState = { enabled: true, reason: null, updated_at: null, updated_by: null }

/**
 * Which modules are on, on every replica: rows in `modules` (no row: enabled) held in memory, reloaded when any
 * replica announces a change and every few seconds regardless. The request path asks `disabledFor(path)`, which is
 * free while every module is on. A replica that sees a module go off pauses that module's background work (the
 * document indexing queue, plugin cron) and resumes it when it comes back.
 */
export class ModuleRegistry {
  #state = new Map<ModuleName, ModuleState>()
  #anyDisabled = false
  /** What this replica has applied to background work, so a reload that changes nothing does nothing. */
  readonly #applied = new Map<ModuleName, boolean>()
  readonly #work = new Map<ModuleName, BackgroundWork[]>()
  readonly #live: LiveState
  readonly #sql: Sql
  readonly #audit: AuditLog
  readonly #log: Logger
  #started = false

  constructor(deps: { sql: Sql; cache: CacheStore; log: Logger; audit: AuditLog }) {
    this.#sql = deps.sql
    this.#audit = deps.audit
    this.#log = deps.log
    this.#live = new LiveState({ cache: deps.cache, log: deps.log, channel: MODULES_CHANNEL, reload: () => this.load(), what: 'modules' })
  }

  /** Registers a module's background work on this replica (before start). */
  background(name: ModuleName, work: BackgroundWork): void {
    this.#work.set(name, [...(this.#work.get(name) ?? []), work])
  }

  async load(): Promise<void> {
    const rows = await this.#sql<(ModuleState & { name: string })[]>`SELECT name, enabled, reason, updated_at, updated_by::text FROM modules`
    const next = new Map<ModuleName, ModuleState>()
    for (const r of rows) if (isModule(r.name)) next.set(r.name, { enabled: r.enabled, reason: r.reason, updated_at: r.updated_at, updated_by: r.updated_by })
    this.#state = next
    this.#anyDisabled = [...next.values()].some((s) => !s.enabled)
    if (this.#started) await this.#apply()
  }

  async #apply(): Promise<void> {
    for (const name of MODULES) {
      const enabled = this.enabled(name)
      if (this.#applied.get(name) === enabled) continue
      this.#applied.set(name, enabled)
      for (const work of this.#work.get(name) ?? []) {
        try {
          await (enabled ? work.resume() : work.pause())
        } catch (err) {
          this.#log.error({ module: name, err: (err as Error).message }, `could not ${enabled ? 'resume' : 'pause'} a module's background work`)
        }
      }
      this.#log.info({ module: name, enabled }, enabled ? 'module enabled' : 'module disabled: its routes answer 503 and its background work is paused')
    }
  }

  /**
   * Loads the state and applies it to background work. Modules start enabled (their services' own start ran), so
   * only the disabled ones are paused here.
   */
  async start(): Promise<void> {
    for (const name of MODULES) this.#applied.set(name, true)
    this.#started = true
    await this.#live.start()
  }

  async stop(): Promise<void> {
    this.#started = false
    await this.#live.stop()
  }

  state(name: ModuleName): ModuleState {
    return this.#state.get(name) ?? ENABLED
  }

  enabled(name: ModuleName): boolean {
    return this.state(name).enabled
  }

  /** What background work the module has on this replica (null: none). */
  workOf(name: ModuleName): string | null {
    const work = this.#work.get(name) ?? []
    return work.length === 0 ? null : work.map((w) => w.describe).join('; ')
  }

  /** Whether this replica's background work of the module is running. */
  backgroundRunning(name: ModuleName): boolean {
    return this.#applied.get(name) ?? true
  }

  /** The disabled module whose routes `path` belongs to, if any. Costs nothing while every module is on. */
  disabledFor(path: string): ModuleName | null {
    if (!this.#anyDisabled) return null
    for (const name of MODULES) {
      if (this.enabled(name)) continue
      for (const prefix of MODULE_INFO[name].prefixes)
        if (path.startsWith(prefix) && (path.length === prefix.length || path[prefix.length] === '/' || path[prefix.length] === '?')) return name
    }
    return null
  }

  /** Throws 503 module_disabled when `name` is off (for uses of a module outside its routes: agents' tools). */
  assertEnabled(name: ModuleName): void {
    if (!this.enabled(name)) throw moduleDisabled(name)
  }

  async set(name: string, enabled: boolean, actor: { id: string; email: string }, meta: RequestMeta, reason: string | null = null): Promise<ModuleState> {
    if (!isModule(name)) throw new ApiError('not_found', `There is no module named ${name}; the modules are ${MODULES.join(', ')}`, 'name')
    const before = this.enabled(name)
    await this.#sql`
      INSERT INTO modules (name, enabled, reason, updated_at, updated_by) VALUES (${name}, ${enabled}, ${reason}, now(), ${actor.id})
      ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, reason = excluded.reason, updated_at = now(), updated_by = excluded.updated_by`
    await this.#audit.record(
      {
        action: enabled ? 'module.enable' : 'module.disable',
        outcome: 'success',
        actor: { userId: actor.id, label: actor.email },
        resource: { type: 'module', id: name },
        details: { from: before ? 'enabled' : 'disabled', to: enabled ? 'enabled' : 'disabled', ...(reason ? { reason } : {}) },
      },
      meta,
    )
    await this.#live.changed()
    return this.state(name)
  }
}

export function moduleDisabled(name: ModuleName): ApiError {
  return new ApiError(
    'module_disabled',
    `The ${MODULE_INFO[name].title} module is disabled by an administrator; its routes answer again once it is enabled`,
    undefined,
    { 'retry-after': '60' },
  )
}

/**
 * A tool provider of a module (rag_search, plugin tools) that refuses while the module is disabled: when an agent's
 * tools are resolved (503 module_disabled), and on each call (an error result the model reads), so a run already
 * under way stops using a module that was just turned off.
 */
export function gatedTools<S extends ToolSpec>(modules: ModuleRegistry, name: ModuleName, provider: ToolProvider<S>): ToolProvider<S> {
  return {
    kind: provider.kind,
    async tools(spec: S, caller: Caller): Promise<Tool[]> {
      modules.assertEnabled(name)
      return (await provider.tools(spec, caller)).map((tool) => ({
        ...tool,
        execute: (args, ctx) =>
          modules.enabled(name)
            ? tool.execute(args, ctx)
            : Promise.resolve({ content: `The ${MODULE_INFO[name].title} module is disabled by an administrator`, isError: true }),
      }))
    },
  }
}
