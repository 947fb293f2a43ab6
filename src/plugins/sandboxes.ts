import type { Logger } from '../log.ts'
import {
  SandboxClient,
  SandboxError,
  type HostCallName,
  type InvokeArgs,
  type InvokeMethod,
  type Limits,
  type LogLevel,
  type PluginMeta,
  type SandboxCrash,
  type SandboxHealth,
} from './sandbox/index.ts'

const HEALTH_WAIT_MS = 300

/** What every plugin's process needs from the platform. */
export interface SandboxPoolOptions {
  /** Node.js >= 24; default the checkout's node_modules/.bin/node. */
  nodePath?: string
  /** The sandbox's sources (main.ts, runtime/); default the checkout's sandbox/. */
  sandboxDir?: string
  onHostCall: (plugin: string, invocationId: string, name: HostCallName, args: unknown[], ended: AbortSignal) => Promise<unknown>
  onLog: (plugin: string, level: LogLevel, message: string, invocationId?: string) => void
  /** The process of `plugin` came back after a crash: load it again (unless `crash.quarantined` names it). */
  onRestart: (plugin: string, crash: SandboxCrash) => Promise<void>
  logger: Logger
  /**
   * Keep one started, unused process ready once a plugin has been loaded: the next plugin adopts it (a Node start
   * saved, ~120 ms) and another spare starts behind it. It has run no code when adopted, so isolation is as with a
   * fresh process. Default false.
   */
  spare?: boolean
  /** How long after a plugin took the spare (or the first plugin loaded) the next spare starts; default SPARE_DELAY_MS. */
  spareDelayMs?: number
}

/**
 * The next spare starts this long after the last one was taken, not at once: a Node start is ~200 ms of CPU on two
 * cores, and it ran beside the plugin that had just taken the spare, while that plugin loaded and answered its first
 * requests. Measured with `bun bench/plugins.ts`, three pairs back to back, cold start p50 20.0 / 21.1 / 20.2 ms at
 * once against 19.4 / 19.0 / 14.9 with 300 ms; the first plugin (whose load starts the first spare) 197–223 against
 * 166–168 ms. Enabling plugins faster than this finds no spare, as it did while the spare was still starting.
 */
const SPARE_DELAY_MS = 300

/** A started process nobody has used, for the next plugin whose memory ceiling it has. */
interface Spare {
  client: SandboxClient
  ceiling: number
  ready: boolean
}

/**
 * Memory ceiling of one plugin's process: the Node process itself (about 80 MB with isolated-vm loaded) plus
 * headroom for isolated-vm's soft heap limit, which a hostile plugin can overrun two to three times before V8 stops
 * it. Past it the process kills itself, and only this plugin's calls in flight fail.
 */
export function processCeilingMb(limits: Limits): number {
  return Math.max(384, 192 + 4 * limits.memoryMb)
}

/**
 * One sandbox process per enabled plugin. A plugin that crashes V8, outgrows its process or wedges it takes down
 * only its own process: nothing of another plugin is in flight there, so a crash is charged to its author alone and
 * no bystander is quarantined (one shared process failed every plugin in flight and blamed them all). The cost is
 * the Node process itself, about 80 MB RSS per enabled plugin; disabled plugins run nothing.
 */
export class SandboxPool {
  readonly #clients = new Map<string, SandboxClient>()
  readonly #starting = new Map<string, Promise<SandboxClient>>()
  readonly #ceilings = new Map<string, number>()
  #spare: Spare | null = null
  #spareTimer: ReturnType<typeof setTimeout> | undefined
  #stopped = false

  constructor(readonly options: SandboxPoolOptions) {}

  /** Loads (or replaces) the plugin in its own process, starting the process on first need. */
  async load(plugin: string, code: string, limits: Limits): Promise<PluginMeta> {
    // A new memory grant needs a process with a ceiling to match.
    if (this.#ceilings.get(plugin) !== processCeilingMb(limits)) await this.unload(plugin)
    const client = await this.#client(plugin, limits)
    return client.load(plugin, code, limits)
  }

  /** Unloads the plugin and ends its process. */
  async unload(plugin: string): Promise<void> {
    this.#starting.delete(plugin)
    this.#ceilings.delete(plugin)
    const client = this.#clients.get(plugin)
    this.#clients.delete(plugin)
    await client?.stop()
  }

  has(plugin: string): boolean {
    return this.#clients.has(plugin)
  }

  async invoke(plugin: string, method: InvokeMethod, args: InvokeArgs, options: { wallMs?: number; signal?: AbortSignal }): Promise<unknown> {
    const client = this.#clients.get(plugin)
    if (client === undefined) throw new SandboxError('plugin_not_loaded', `plugin ${plugin} is not loaded`)
    return client.invoke(plugin, method, args, options)
  }

  /** Lifts a quarantine: the next load starts a fresh process with no crashes counted. */
  async release(plugin: string): Promise<void> {
    await this.unload(plugin)
  }

  pid(plugin: string): number | null {
    return this.#clients.get(plugin)?.pid ?? null
  }

  /** The spare's process, once it is up and can be adopted; null otherwise. */
  sparePid(): number | null {
    return this.#spare?.ready ? this.#spare.client.pid : null
  }

  async stats(plugin: string) {
    const client = this.#clients.get(plugin)
    if (client === undefined) return null
    const stats = await client.stats().catch(() => null)
    return stats?.plugins.find((p) => p.plugin === plugin) ?? null
  }

  /**
   * Every process's health, summed: up when every started process answers. Readiness asks for it, so a process
   * that does not answer within HEALTH_WAIT_MS counts as down rather than holding the answer up.
   */
  async health(): Promise<{ up: boolean; started: boolean; restarts: number; plugins: number | null; rss: number; processes: number }> {
    const down = (c: SandboxClient): SandboxHealth => ({ up: false, restarts: 0, pid: c.pid, plugins: null, rss: null, quarantined: [] })
    const all = await Promise.all(
      [...this.#clients.values()].map((c) => Promise.race([c.health(), Bun.sleep(HEALTH_WAIT_MS).then(() => down(c))])),
    )
    const up = all.every((h) => h.up)
    return {
      up,
      started: all.length > 0,
      restarts: all.reduce((n, h) => n + h.restarts, 0),
      plugins: up ? all.reduce((n, h) => n + (h.plugins ?? 0), 0) : null,
      rss: all.reduce((n, h) => n + (h.rss ?? 0), 0),
      processes: all.length,
    }
  }

  async healthOf(plugin: string): Promise<SandboxHealth | null> {
    return (await this.#clients.get(plugin)?.health()) ?? null
  }

  /** Ends every process (in parallel: shutdown must not wait for each one in turn). */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#spareTimer)
    const clients = [...this.#clients.values(), ...(this.#spare ? [this.#spare.client] : [])]
    this.#spare = null
    this.#clients.clear()
    this.#starting.clear()
    await Promise.all(clients.map((c) => c.stop()))
  }

  async #client(plugin: string, limits: Limits): Promise<SandboxClient> {
    if (this.#stopped) throw new Error('the plugin sandboxes are stopped')
    const existing = this.#clients.get(plugin)
    if (existing !== undefined) return existing
    let starting = this.#starting.get(plugin)
    if (starting === undefined) {
      const ceiling = processCeilingMb(limits)
      const onRestart = (crash: SandboxCrash) => this.options.onRestart(plugin, crash)
      const logger = this.options.logger.child({ plugin })
      const spare = this.#takeSpare(ceiling)
      spare?.adopt(plugin, { onRestart, logger })
      const client = spare ?? this.#newClient(ceiling, { owner: plugin, onRestart, logger })
      // The spare is started already; its start() returns at once.
      starting = client.start().then(() => {
        if (this.#starting.get(plugin) !== starting) {
          void client.stop()
          throw new Error(`plugin ${plugin} was unloaded while its sandbox started`)
        }
        this.#starting.delete(plugin)
        this.#clients.set(plugin, client)
        this.#ceilings.set(plugin, processCeilingMb(limits))
        return client
      })
      this.#starting.set(plugin, starting)
      starting.catch(() => {
        if (this.#starting.get(plugin) === starting) this.#starting.delete(plugin)
      })
      this.#replenishLater(ceiling)
    }
    return starting
  }

  #newClient(ceiling: number, own: { owner: string; onRestart: (crash: SandboxCrash) => Promise<void>; logger: Logger } | null): SandboxClient {
    return new SandboxClient({
      ...(this.options.nodePath ? { nodePath: this.options.nodePath } : {}),
      ...(this.options.sandboxDir ? { sandboxDir: this.options.sandboxDir } : {}),
      maxRssMb: ceiling,
      onHostCall: this.options.onHostCall,
      onLog: this.options.onLog,
      ...(own ?? { logger: this.options.logger.child({ sandbox: 'spare' }) }),
    })
  }

  /** The spare, when it is up and has the ceiling asked for; it is then no longer the spare. */
  #takeSpare(ceiling: number): SandboxClient | null {
    const spare = this.#spare
    // Not while it is down (a spare's process can die too; its client restarts it).
    if (spare === null || !spare.ready || spare.ceiling !== ceiling || spare.client.pid === null) return null
    this.#spare = null
    return spare.client
  }

  /** Starts a spare behind the one just taken (or the first) once the pool has been quiet for the delay. */
  #replenishLater(ceiling: number): void {
    if (!this.options.spare || this.#stopped || this.#spare !== null) return
    clearTimeout(this.#spareTimer)
    this.#spareTimer = setTimeout(() => this.#replenish(ceiling), this.options.spareDelayMs ?? SPARE_DELAY_MS)
    this.#spareTimer.unref?.()
  }

  /** Starts a spare, unless there is one or spares are off. */
  #replenish(ceiling: number): void {
    if (!this.options.spare || this.#stopped || this.#spare !== null) return
    const spare: Spare = { client: this.#newClient(ceiling, null), ceiling, ready: false }
    this.#spare = spare
    spare.client.start().then(
      () => {
        if (this.#spare === spare) spare.ready = true
        else void spare.client.stop()
      },
      (err: unknown) => {
        if (this.#spare === spare) this.#spare = null
        this.options.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'a spare plugin sandbox did not start')
      },
    )
  }
}
