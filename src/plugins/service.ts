import { createHash } from 'node:crypto'
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { CacheStore } from '../cache/types.ts'
import type { Config } from '../config.ts'
import type { SecretBox } from '../crypto/secretbox.ts'
import type { Sql } from '../db/client.ts'
import type { GatewayService } from '../gateway/service.ts'
import { ApiError } from '../http/errors.ts'
import type { Logger } from '../log.ts'
import type { ChatbotService } from '../chatbots/service.ts'
import type { RagService } from '../rag/service.ts'
import { unpackPluginArchive } from './archive.ts'
import { CronRunner } from './cron.ts'
import { HostApi } from './host-api.ts'
import { KvCache } from './kv-cache.ts'
import { defaultGrant, grantCovers, ManifestError, parseManifest, sandboxLimits, secretFields, toolMismatch, undeclaredTools, validateConfig } from './manifest.ts'
import type { Grant, Manifest } from './model.ts'
import { PluginRecords } from './records.ts'
import { bundlePlugin, PluginBundleError, SandboxError, type InvokeArgs, type InvokeMethod, type Limits, type PluginMeta, type SandboxCrash } from './sandbox/index.ts'
import { readManifestText, type BundleOptions } from './sandbox/bundle.ts'
import { SandboxPool } from './sandboxes.ts'
import { PluginStore, type PluginRow } from './store.ts'

export const PLUGINS_CHANNEL = 'plugins:changed'
/** Bounds how long a missed change message could matter (e.g. one lost while Redis was restarting). */
const RESYNC_MS = 15_000
/** Limit violations within the window after which a plugin is disabled until an administrator enables it again. */
const AUTO_DISABLE_AFTER = 5
const AUTO_DISABLE_WINDOW_MIN = 10

interface Loaded {
  row: PluginRow
  code: string
  meta: PluginMeta
  limits: Limits
}

/** Why a plugin could not be loaded, as the administrator who tried to enable it should read it. */
function loadFailure(err: unknown): unknown {
  if (err instanceof PluginBundleError || err instanceof ManifestError)
    return new ApiError('plugin_invalid', `The plugin cannot be loaded: ${err.message}`)
  if (err instanceof SandboxError && err.code !== 'sandbox_unavailable')
    return new ApiError('plugin_invalid', `The plugin cannot be loaded (${err.code}): ${err.message}`)
  return err
}

/**
 * Plugins: discovery on disk, grants, settings, the sandbox they run in, and invocation with stats. Every replica
 * runs its own sandbox; changes made on one replica reach the others over the cache's pub/sub.
 */
export class PluginService {
  readonly store: PluginStore
  readonly host: HostApi
  readonly cron: CronRunner
  readonly records: PluginRecords
  readonly #loaded = new Map<string, Loaded>()
  readonly #pool: SandboxPool
  readonly #bundleOptions: BundleOptions
  #unsubscribe: (() => Promise<void>) | undefined
  #resyncTimer: ReturnType<typeof setInterval> | undefined
  readonly #syncs = new Map<string, Promise<void>>()

  constructor(
    readonly deps: {
      config: Config
      sql: Sql
      cache: CacheStore
      log: Logger
      box: SecretBox
      gateway: GatewayService
      rag: RagService
      chatbots: ChatbotService
      replica: string
      /** Only this process writes the database (the embedded one): kv reads may be answered from memory. */
      soleWriter: boolean
      /** Hears a plugin the platform disabled on its own (quarantined, or repeated limit violations). */
      onAutoDisabled?: ((name: string, reason: string) => void) | undefined
    },
  ) {
    this.store = new PluginStore(deps.sql)
    const c = deps.config
    // Unset: the checkout's node_modules/.bin/node and sandbox/ (the single binary sets both to its unpacked copies).
    const sandbox = { ...(c.SANDBOX_NODE_PATH ? { nodePath: c.SANDBOX_NODE_PATH } : {}), ...(c.SANDBOX_DIR ? { sandboxDir: c.SANDBOX_DIR } : {}) }
    this.#bundleOptions = sandbox
    this.records = new PluginRecords(
      { sql: deps.sql, log: deps.log },
      { maxLogBytes: c.PLUGIN_LOG_MAX_MB * 1024 * 1024, retentionDays: c.PLUGIN_LOG_RETENTION_DAYS, logBytesPerMinute: c.PLUGIN_LOG_BYTES_PER_MINUTE },
    )
    this.host = new HostApi({
      sql: deps.sql,
      box: deps.box,
      gateway: deps.gateway,
      rag: deps.rag,
      chatbots: deps.chatbots,
      log: deps.log,
      records: this.records,
      kvWritesPerSecond: c.PLUGIN_KV_WRITES_PER_SECOND,
      // Not on PostgreSQL, where other replicas write the same rows.
      kvCache: deps.soleWriter && c.PLUGIN_KV_CACHE_MB > 0 ? new KvCache(c.PLUGIN_KV_CACHE_MB * 1024 * 1024) : null,
      plugin: (n) => this.#loaded.get(n)?.row,
    })
    this.cron = new CronRunner({ plugins: this, sql: deps.sql, log: deps.log, replica: deps.replica })
    this.#pool = new SandboxPool({
      ...sandbox,
      spare: c.PLUGIN_SPARE_SANDBOX,
      onHostCall: (plugin, invocationId, name, args, ended) => this.host.handle(plugin, invocationId, name, args, ended),
      onLog: (plugin, level, message, invocationId) => this.records.log(plugin, level, message, invocationId ?? null),
      onRestart: (plugin, crash) => this.#afterCrash(plugin, crash),
      logger: deps.log,
    })
  }

  get dirs(): string[] {
    return this.deps.config.PLUGINS_DIRS.split(',')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => resolve(d))
  }

  async start(): Promise<void> {
    this.records.start()
    await this.discover()
    this.#unsubscribe = await this.deps.cache.subscribe(PLUGINS_CHANNEL, (name) => {
      void this.#sync(name).catch((err) => this.deps.log.warn({ plugin: name, err: (err as Error).message }, 'plugin sync failed'))
    })
    for (const listed of await this.store.list()) {
      // Uploaded plugins are not rediscovered: their rows written before a version marked a field secret are fixed here.
      const row = await this.#sealSecretSettings(listed)
      if (row.enabled) await this.#sync(row.name).catch(() => {})
    }
    this.#resyncTimer = setInterval(() => {
      void this.resync().catch((err) => this.deps.log.warn({ err: (err as Error).message }, 'plugin resync failed'))
    }, RESYNC_MS)
    this.#resyncTimer.unref()
    this.cron.start()
  }

  /**
   * Stops for good, within a bounded time whatever plugins do: the sandbox processes go first, which fails every
   * invocation in flight (a cron run that hangs included) at once, so nothing below waits for plugin code.
   */
  async stop(): Promise<void> {
    clearInterval(this.#resyncTimer)
    this.cron.pause()
    await this.#pool.stop()
    await this.cron.stop()
    await this.records.stop()
    const unsubscribe = this.#unsubscribe
    this.#unsubscribe = undefined
    await unsubscribe?.()
  }

  /** A plugin's process came back after a crash: load the plugin again, or take it off if it keeps crashing. */
  async #afterCrash(name: string, crash: SandboxCrash): Promise<void> {
    if (crash.quarantined.includes(name)) {
      this.#loaded.delete(name)
      const reason = `quarantined: its sandbox process crashed repeatedly (last: ${crash.reason}); enable it again to retry`
      this.deps.log.error({ plugin: name, reason: crash.reason }, 'plugin quarantined and disabled')
      await this.store.update(name, { enabled: false, disabled_reason: reason }).catch(() => {})
      void this.#pool.unload(name)
      await this.#changed(name)
      this.deps.onAutoDisabled?.(name, reason)
      return
    }
    const loaded = this.#loaded.get(name)
    if (loaded)
      await this.#pool
        .load(name, loaded.code, loaded.limits)
        .catch((err) => this.deps.log.warn({ plugin: name, err: (err as Error).message }, 'plugin reload after a sandbox restart failed'))
  }

  /** The sandbox processes, summed: up when every started one answers. */
  async health(): Promise<{ up: boolean; started: boolean; restarts: number; plugins: number | null; processes: number }> {
    const { rss: _rss, ...h } = await this.#pool.health()
    return h
  }

  /** The pid of a plugin's sandbox process (null when it runs none). */
  sandboxPid(name: string): number | null {
    return this.#pool.pid(name)
  }

  /** Resident memory of every sandbox process together, in bytes. */
  async sandboxRss(): Promise<number> {
    return (await this.#pool.health()).rss
  }

  /**
   * Reads every plugin folder, validates and bundles it, and records it. Problems are logged and skipped. A name
   * found in more than one folder (or in a folder and an upload) belongs to none of them: each is reported, and the
   * row that exists keeps its folder, grant, data and settings.
   */
  async discover(): Promise<{ found: string[]; failed: { path: string; error: string }[] }> {
    const found: string[] = []
    const failed: { path: string; error: string }[] = []
    const folders: { folder: string; name: string | null }[] = []
    for (const dir of this.dirs) {
      if (!existsSync(dir)) continue
      for (const entry of readdirSync(dir)) {
        const folder = join(dir, entry)
        if (!statSync(folder).isDirectory() || !existsSync(join(folder, 'plugin.json'))) continue
        folders.push({ folder, name: manifestName(folder) })
      }
    }
    const byName = new Map<string, string[]>()
    for (const { folder, name } of folders) if (name !== null) byName.set(name, [...(byName.get(name) ?? []), folder])
    // Bundling takes a Node process of its own per plugin (about 0.3 s); bundlePlugin runs two at a time.
    await Promise.all(
      folders.map(async ({ folder, name }) => {
        const twins = name === null ? [] : (byName.get(name) ?? []).filter((f) => f !== folder)
        try {
          if (twins.length > 0)
            throw new ManifestError(`plugin.json.name: "${name}" is also the name of the plugin in ${twins.join(', ')}; a name belongs to one plugin, so neither is loaded`)
          found.push((await this.register(folder, 'bundled')).name)
        } catch (err) {
          failed.push({ path: folder, error: (err as Error).message })
          this.deps.log.warn({ path: folder, err: (err as Error).message }, 'plugin skipped')
        }
      }),
    )
    found.sort()
    return { found, failed }
  }

  /**
   * Validates, bundles and records the plugin in `folder`; a new version asking for more than granted is disabled.
   * A row belongs to the folder it was first found in: another folder with the same name is refused, and a plugin
   * whose own folder moved stays disabled until an administrator enables it again in its new place.
   */
  async register(folder: string, source: PluginRow['source']): Promise<PluginRow> {
    const { manifest, code } = await readPlugin(folder, this.#bundleOptions)
    const codeHash = createHash('sha256').update(code).digest('hex')
    const before = await this.store.get(manifest.name)
    let moved = false
    if (before && resolve(before.path) !== resolve(folder)) {
      if (before.source !== source)
        throw new ManifestError(`a plugin named "${manifest.name}" is already installed from ${before.source === 'bundled' ? 'the plugins folder' : 'an upload'}`)
      if (manifestName(before.path) === manifest.name)
        throw new ManifestError(`plugin.json.name: "${manifest.name}" already belongs to the plugin in ${before.path}; a name belongs to one plugin`)
      moved = true
    }
    let row = await this.#sealSecretSettings(await this.store.upsert({ name: manifest.name, manifest, source, path: folder, codeHash }))
    if (row.enabled && moved) {
      row = (await this.store.update(row.name, { enabled: false, disabled_reason: `found in a new folder (${folder}, was ${before?.path}); enable it again to trust it there` }))!
      this.deps.log.warn({ plugin: row.name, folder, was: before?.path }, 'plugin disabled: its folder moved')
    }
    if (row.enabled && !grantCovers(row.granted, manifest)) {
      row = (await this.store.update(row.name, { enabled: false, disabled_reason: `version ${manifest.version} asks for permissions or limits that were not granted` }))!
      this.deps.log.warn({ plugin: row.name }, 'plugin disabled: its new version needs a new grant')
    }
    if (before && before.updated_at.getTime() !== row.updated_at.getTime()) await this.#changed(row.name)
    return row
  }

  /**
   * Seals the settings the manifest now marks secret that are still stored in clear (an earlier version did not
   * mark them). The reverse is not done: a field that stops being secret stays sealed, because a new version
   * written by the plugin's author must not be able to turn what an administrator entered as a secret into
   * plaintext at rest or in the API, nor unlock it for the plugin: it stays withheld (HostApi.config) until an
   * administrator enters it again as a plain value, which replaces the sealed one.
   */
  async #sealSecretSettings(row: PluginRow): Promise<PluginRow> {
    const fields = secretFields(row.manifest).filter((f) => f in row.config)
    if (fields.length === 0) return row
    const config = { ...row.config }
    const sealed = { ...row.secrets }
    for (const field of fields) {
      const value = config[field]
      delete config[field]
      if (value != null) sealed[field] = this.deps.box.seal(typeof value === 'string' ? value : JSON.stringify(value), `plugin:${row.name}:${field}`)
    }
    await this.store.saveConfig(row.name, config, sealed)
    return (await this.store.get(row.name))!
  }

  /**
   * Installs an uploaded archive into DATA_DIR/plugins/<name> (replacing an earlier upload of the same plugin) and
   * records it, disabled until granted. A plugin shipped in a plugins folder cannot be replaced by an upload.
   */
  async install(archive: Uint8Array): Promise<PluginRow> {
    const manifestMaxBytes = 256 * 1024
    const files = await unpackPluginArchive(archive)
    const rawManifest = files.get('plugin.json') ?? new Uint8Array()
    if (rawManifest.length > manifestMaxBytes)
      throw new ApiError('payload_too_large', `plugin.json is larger than ${manifestMaxBytes / 1024} KB`, 'archive')
    let manifest: Manifest
    try {
      manifest = parseManifest(JSON.parse(new TextDecoder().decode(rawManifest)))
    } catch (err) {
      throw new ApiError('validation_failed', (err as Error).message, 'archive')
    }
    const existing = await this.store.get(manifest.name)
    if (existing?.source === 'bundled') throw new ApiError('conflict', `The plugin "${manifest.name}" ships with the platform and cannot be replaced by an upload`)
    const root = join(this.deps.config.DATA_DIR, 'plugins')
    const target = join(root, manifest.name)
    const staging = join(root, `.${manifest.name}-${crypto.randomUUID()}`)
    try {
      for (const [name, data] of files) {
        mkdirSync(dirname(join(staging, name)), { recursive: true })
        writeFileSync(join(staging, name), data)
      }
      try {
        await readPlugin(staging, this.#bundleOptions)
      } catch (err) {
        throw new ApiError('validation_failed', (err as Error).message, 'archive')
      }
      rmSync(target, { recursive: true, force: true })
      renameSync(staging, target)
    } finally {
      // Whatever failed (a write, the check, the move), no half-written staging folder stays behind; after the
      // move there is nothing left to remove.
      rmSync(staging, { recursive: true, force: true })
    }
    const row = await this.register(target, 'uploaded')
    await this.#sync(row.name)
    return row
  }

  async get(name: string): Promise<PluginRow> {
    const row = await this.store.get(name)
    if (!row) throw new ApiError('not_found', `Plugin ${name} not found`)
    return row
  }

  /** Whether the plugin runs on this replica: enabled, loaded, and its process up or coming back. */
  isLoaded(name: string): boolean {
    return this.#loaded.has(name) && this.#pool.has(name)
  }

  /**
   * Grants the permissions and limits (which must cover what the manifest asks for) and enables the plugin. A
   * quarantined plugin starts again in a fresh process with no crashes counted. A plugin that cannot load (no
   * default export, a top level that loops or exhausts memory, a bundling problem) stays disabled, and the answer
   * says why.
   */
  async enable(name: string, grant: Grant | undefined, adminId: string): Promise<PluginRow> {
    const row = await this.get(name)
    const given = grant ?? defaultGrant(row.manifest)
    if (!grantCovers(given, row.manifest))
      throw new ApiError('invalid_request', 'The grant does not cover every permission and limit the plugin asks for', 'grant')
    const unknownTools = undeclaredTools(given, row.manifest)
    if (unknownTools.length > 0)
      throw new ApiError('invalid_request', `The grant lets agents use tools the plugin does not declare: ${unknownTools.join(', ')}`, 'grant')
    await this.store.update(name, { granted: given, granted_by: adminId, granted_at: new Date(), enabled: true, disabled_reason: null })
    await this.#pool.release(name)
    try {
      await this.#sync(name)
      const loaded = this.#loaded.get(name)
      if (loaded?.meta.hooks.onEnable) await this.#invoke(loaded, 'onEnable', {}, 'lifecycle').catch((err) => this.#logHookFailure(err))
    } catch (err) {
      const failure = loadFailure(err)
      await this.store.update(name, { enabled: false, disabled_reason: (failure as Error).message.slice(0, 2000) })
      await this.#sync(name).catch(() => {})
      throw failure
    }
    await this.#changed(name)
    return this.get(name)
  }

  async disable(name: string, reason: string | null = null): Promise<PluginRow> {
    await this.get(name)
    const loaded = this.#loaded.get(name)
    if (loaded?.meta.hooks.onDisable) await this.#invoke(loaded, 'onDisable', {}, 'lifecycle').catch((err) => this.#logHookFailure(err))
    const row = (await this.store.update(name, { enabled: false, disabled_reason: reason }))!
    await this.#sync(name)
    await this.#changed(name)
    return row
  }

  #logHookFailure(err: unknown): void {
    this.deps.log.warn({ err: (err as Error).message }, 'plugin lifecycle hook failed')
  }

  /** Reads the plugin's folder again (new code or manifest). */
  async reload(name: string): Promise<PluginRow> {
    const row = await this.get(name)
    let fresh: PluginRow
    try {
      fresh = await this.register(row.path, row.source)
    } catch (err) {
      throw err instanceof ApiError ? err : new ApiError('plugin_invalid', `The plugin cannot be reloaded: ${(err as Error).message}`)
    }
    try {
      await this.#sync(name)
    } catch (err) {
      throw loadFailure(err)
    }
    return this.get(fresh.name)
  }

  async uninstall(name: string): Promise<void> {
    const row = await this.get(name)
    await this.disable(name).catch(() => {})
    await this.store.delete(name)
    this.host.forget(name)
    if (row.source === 'uploaded') rmSync(row.path, { recursive: true, force: true })
    await this.#changed(name)
  }

  /** Settings as the dashboard sees them: secrets only as "set" or not. */
  async settings(name: string): Promise<{ values: Record<string, unknown>; secrets: Record<string, boolean>; schema: unknown }> {
    const row = await this.get(name)
    const secret = secretFields(row.manifest)
    return {
      values: Object.fromEntries(Object.entries(row.config).filter(([k]) => !secret.includes(k))),
      secrets: Object.fromEntries(secret.map((f) => [f, Boolean(row.secrets[f])])),
      schema: row.manifest.config,
    }
  }

  /**
   * Replaces the settings. Secret fields are write-only: sent values are sealed; an omitted secret keeps its stored
   * value, and null clears it. The whole result is validated against the plugin's schema.
   */
  async saveSettings(name: string, input: Record<string, unknown>): Promise<void> {
    const row = await this.get(name)
    const secrets = secretFields(row.manifest)
    const values: Record<string, unknown> = {}
    const sealed: Record<string, string> = { ...row.secrets }
    const merged: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(input)) {
      if (!secrets.includes(k)) {
        values[k] = v
        merged[k] = v
        delete sealed[k]
      }
    }
    for (const field of secrets) {
      if (input[field] === null) delete sealed[field]
      else if (typeof input[field] === 'string') sealed[field] = this.deps.box.seal(input[field] as string, `plugin:${name}:${field}`)
      if (sealed[field]) merged[field] = typeof input[field] === 'string' ? input[field] : this.deps.box.open(sealed[field]!, `plugin:${name}:${field}`)
    }
    const problems = await validateConfig(row.manifest, merged).catch((err: unknown) => {
      // A schema recorded before parseManifest refused it ($ref, say): the plugin must be reloaded, not a 500.
      if (err instanceof ManifestError) throw new ApiError('validation_failed', `The plugin's settings schema cannot be used: ${err.message}`, 'config')
      throw err
    })
    if (problems.length) throw new ApiError('validation_failed', `Settings do not match the plugin's schema: ${problems.join('; ')}`, 'config')
    await this.store.saveConfig(name, values, sealed)
    // This replica reads its own write at once; the others follow the published change.
    await this.#sync(name)
    await this.#changed(name)
  }

  /** Brings every plugin on this replica in line with its row, whatever change messages it missed. */
  async resync(): Promise<void> {
    const rows = new Map((await this.store.list()).map((r) => [r.name, r]))
    const stale = [...this.#loaded].filter(([name, l]) => {
      const row = rows.get(name)
      return !row?.enabled || row.updated_at.getTime() !== l.row.updated_at.getTime()
    })
    const missing = [...rows.values()].filter((r) => r.enabled && !this.#loaded.has(r.name))
    for (const name of [...stale.map(([n]) => n), ...missing.map((r) => r.name)])
      await this.#sync(name).catch((err) => this.deps.log.warn({ plugin: name, err: (err as Error).message }, 'plugin sync failed'))
  }

  /**
   * Loads or unloads the plugin in this replica's sandbox to match its row, one sync per plugin at a time: two
   * loads of one plugin (an admin's change, a message from another replica, the resync) would replace each other
   * in the sandbox halfway and fail.
   */
  #sync(name: string): Promise<void> {
    const run = (this.#syncs.get(name) ?? Promise.resolve()).catch(() => {}).then(() => this.#syncNow(name))
    this.#syncs.set(name, run)
    void run
      .catch(() => {})
      .finally(() => {
        if (this.#syncs.get(name) === run) this.#syncs.delete(name)
      })
    return run
  }

  async #syncNow(name: string): Promise<void> {
    const row = await this.store.get(name)
    const current = this.#loaded.get(name)
    if (!row?.enabled) {
      this.#loaded.delete(name)
      if (current || this.#pool.has(name)) await this.#pool.unload(name).catch(() => {})
      return
    }
    // The limits an administrator granted (a manifest-only change can move them) are part of what is loaded.
    const limits = sandboxLimits(row.manifest, row.granted)
    if (current && current.row.code_hash === row.code_hash && sameLimits(current.limits, limits) && this.#pool.has(name)) {
      current.row = row
      return
    }
    const { code } = await readPlugin(row.path, this.#bundleOptions)
    // The folder changed since it was registered: what runs must be what was checked against the grant.
    if (createHash('sha256').update(code).digest('hex') !== row.code_hash) {
      await this.register(row.path, row.source)
      return this.#syncNow(name)
    }
    const meta = await this.#pool.load(name, code, limits)
    const mismatch = toolMismatch(row.manifest, meta.tools)
    if (mismatch.length > 0) {
      this.#loaded.delete(name)
      await this.#pool.unload(name)
      throw new ManifestError(mismatch.join('; '))
    }
    this.#loaded.set(name, { row, code, meta, limits })
  }

  async #changed(name: string): Promise<void> {
    await this.deps.cache.publish(PLUGINS_CHANNEL, name).catch(() => {})
  }

  /**
   * Runs one invocation and records it for the stats. Only faults of the plugin's own code (a CPU, memory, time,
   * host-call or size limit it broke) count toward disabling it automatically; refusals the platform makes (too
   * many calls at once, a sandbox restarting, a recycle another invocation caused) are anyone's to cause.
   */
  async #invoke(loaded: Loaded, method: InvokeMethod, args: InvokeArgs, kind: string, wallMs?: number, signal?: AbortSignal): Promise<unknown> {
    const started = performance.now()
    let status: 'ok' | 'error' | 'limit' | 'refused' = 'ok'
    let code: string | null = null
    try {
      return await this.#pool.invoke(loaded.row.name, method, args, { wallMs: wallMs ?? loaded.limits.wallMs, ...(signal ? { signal } : {}) })
    } catch (err) {
      code = err instanceof SandboxError ? err.code : 'internal_error'
      status = !(err instanceof SandboxError) ? 'error' : err.pluginFault ? 'limit' : REFUSALS.has(err.code) ? 'refused' : 'error'
      throw err
    } finally {
      this.records.invocation({ plugin: loaded.row.name, kind, status, code, ms: performance.now() - started })
      if (status === 'limit') {
        await this.records.flush()
        await this.#maybeDisable(loaded.row.name)
      }
    }
  }

  async #maybeDisable(name: string): Promise<void> {
    const [row] = await this.deps.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM plugin_invocations
      WHERE plugin = ${name} AND status = 'limit' AND created_at > now() - ${AUTO_DISABLE_WINDOW_MIN} * interval '1 minute'`
    if ((row?.n ?? 0) >= AUTO_DISABLE_AFTER) {
      this.deps.log.warn({ plugin: name }, 'plugin disabled after repeated limit violations')
      const reason = `disabled automatically after ${AUTO_DISABLE_AFTER} limit violations within ${AUTO_DISABLE_WINDOW_MIN} minutes`
      await this.disable(name, reason)
      this.deps.onAutoDisabled?.(name, reason)
    }
  }

  /** The plugins enabled and loaded on this replica. */
  enabledPlugins(): Loaded[] {
    return [...this.#loaded.values()]
  }

  loaded(name: string): Loaded {
    const l = this.#loaded.get(name)
    if (!l) throw new ApiError('not_found', `Plugin ${name} not found or not enabled`)
    return l
  }

  /** Runs a method of an enabled plugin; aborting `signal` cancels it (an agent's run ended, say). */
  async invoke(name: string, method: InvokeMethod, args: InvokeArgs, kind: string, wallMs?: number, signal?: AbortSignal): Promise<unknown> {
    return this.#invoke(this.loaded(name), method, args, kind, wallMs, signal)
  }

  async stats(name: string) {
    await this.get(name)
    await this.records.flush()
    const [s] = await this.deps.sql<
      { invocations: number; errors: number; limit_violations: number; p50_ms: number | null; p99_ms: number | null }[]
    >`
      SELECT count(*)::int AS invocations, count(*) FILTER (WHERE status IN ('error', 'refused'))::int AS errors,
        count(*) FILTER (WHERE status = 'limit')::int AS limit_violations,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
        percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms
      FROM plugin_invocations WHERE plugin = ${name} AND created_at > now() - interval '7 days'`
    const live = await this.#pool.stats(name)
    return { ...s!, cpu_ms: live?.cpuMs ?? null, heap_bytes: live?.heapUsed ?? null, recycles: live?.recycles ?? null }
  }
}

const REFUSALS = new Set<string>(['concurrency_limit_exceeded', 'sandbox_unavailable', 'plugin_quarantined', 'cancelled', 'isolate_recycled', 'plugin_not_loaded'])

const sameLimits = (a: Limits, b: Limits) => (Object.keys(a) as (keyof Limits)[]).every((k) => a[k] === b[k])

/** The name a folder's plugin.json claims, without validating the rest (null when it cannot be read). */
function manifestName(folder: string): string | null {
  try {
    const file = join(folder, 'plugin.json')
    if (!lstatSync(file).isFile() || statSync(file).size > 256 * 1024) return null
    const name = (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name
    return typeof name === 'string' ? name : null
  } catch {
    return null
  }
}

/**
 * A plugin folder: its validated manifest and its bundled code. plugin.json must be a regular file in the folder
 * (not a link) of at most 256 KB; bundling runs in a process of its own (bundlePlugin) and reads only the folder.
 */
export async function readPlugin(folder: string, bundleOptions: BundleOptions = {}): Promise<{ manifest: Manifest; code: string }> {
  let raw: unknown
  try {
    raw = JSON.parse(readManifestText(folder))
  } catch (err) {
    throw new ManifestError(`plugin.json: ${(err as Error).message}`)
  }
  const manifest = parseManifest(raw)
  const entry = resolve(folder, manifest.entry)
  if (!entry.startsWith(resolve(folder) + '/')) throw new ManifestError('plugin.json.entry: must stay inside the plugin folder')
  const { code } = await bundlePlugin(entry, folder, bundleOptions)
  return { manifest, code }
}
