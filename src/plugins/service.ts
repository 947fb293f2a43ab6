import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
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
import { grantCovers, ManifestError, parseManifest, sandboxLimits, secretFields, validateConfig } from './manifest.ts'
import type { Manifest, Permissions } from './model.ts'
import { bundlePlugin, SandboxClient, SandboxError, type InvokeArgs, type InvokeMethod, type PluginMeta } from './sandbox/index.ts'
import { PluginStore, type PluginRow } from './store.ts'

export const PLUGINS_CHANNEL = 'plugins:changed'
/** Bounds how long a missed change message could matter (e.g. one lost while Redis was restarting). */
const RESYNC_MS = 15_000
/** Limit violations within the window after which a plugin is disabled until an administrator enables it again. */
const AUTO_DISABLE_AFTER = 5
const AUTO_DISABLE_WINDOW_MIN = 10

interface InvocationRecord {
  plugin: string
  kind: string
  status: 'ok' | 'error' | 'limit'
  code: string | null
  ms: number
}

interface Loaded {
  row: PluginRow
  code: string
  meta: PluginMeta
}

/**
 * Plugins: discovery on disk, grants, settings, the sandbox they run in, and invocation with stats. Every replica
 * runs its own sandbox; changes made on one replica reach the others over the cache's pub/sub.
 */
export class PluginService {
  readonly store: PluginStore
  readonly host: HostApi
  readonly cron: CronRunner
  readonly #loaded = new Map<string, Loaded>()
  #sandbox: SandboxClient | undefined
  #starting: Promise<SandboxClient> | undefined
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
    },
  ) {
    this.store = new PluginStore(deps.sql)
    this.host = new HostApi({
      sql: deps.sql,
      box: deps.box,
      gateway: deps.gateway,
      rag: deps.rag,
      chatbots: deps.chatbots,
      log: deps.log,
      plugin: (n) => this.#loaded.get(n)?.row,
    })
    this.cron = new CronRunner({ plugins: this, sql: deps.sql, log: deps.log, replica: deps.replica })
  }

  get dirs(): string[] {
    return this.deps.config.PLUGINS_DIRS.split(',')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => resolve(d))
  }

  async start(): Promise<void> {
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

  async stop(): Promise<void> {
    clearInterval(this.#resyncTimer)
    await this.cron.stop()
    await this.#flush()
    await this.#unsubscribe?.()
    await this.#sandbox?.stop()
    this.#sandbox = undefined
    this.#starting = undefined
  }

  /** The sandbox process is started on first need, so a platform without enabled plugins runs no Node at all. */
  async #sandboxClient(): Promise<SandboxClient> {
    if (this.#sandbox) return this.#sandbox
    this.#starting ??= (async () => {
      const client = new SandboxClient({
        ...(this.deps.config.SANDBOX_NODE_PATH ? { nodePath: this.deps.config.SANDBOX_NODE_PATH } : {}),
        onHostCall: (plugin, invocationId, name, args, ended) => this.host.handle(plugin, invocationId, name, args, ended),
        onLog: (plugin, level, message, invocationId) => {
          this.deps.sql`
            INSERT INTO plugin_logs (plugin, invocation_id, level, message) VALUES (${plugin}, ${invocationId ?? null}, ${level}, ${message.slice(0, 4000)})`.catch(() => {})
        },
        onRestart: async () => {
          for (const [name, l] of this.#loaded) await client.load(name, l.code, sandboxLimits(l.row.manifest)).catch((err) => this.deps.log.warn({ plugin: name, err: (err as Error).message }, 'plugin reload after sandbox restart failed'))
        },
        logger: this.deps.log,
      })
      await client.start()
      this.#sandbox = client
      return client
    })()
    try {
      return await this.#starting
    } catch (err) {
      this.#starting = undefined
      throw new ApiError('service_unavailable', `The plugin sandbox is not available: ${(err as Error).message}`)
    }
  }

  async health(): Promise<{ up: boolean; started: boolean; restarts: number; plugins: number | null }> {
    if (!this.#sandbox) return { up: true, started: false, restarts: 0, plugins: 0 }
    const h = await this.#sandbox.health()
    return { up: h.up, started: true, restarts: h.restarts, plugins: h.plugins }
  }

  sandboxPid(): number | null {
    return this.#sandbox?.pid ?? null
  }

  /** Resident memory of the sandbox process in bytes (0 when it is not running). */
  async sandboxRss(): Promise<number> {
    return this.#sandbox ? ((await this.#sandbox.health()).rss ?? 0) : 0
  }

  /** Reads every plugin folder, validates and bundles it, and records it. Problems are logged and skipped. */
  async discover(): Promise<{ found: string[]; failed: { path: string; error: string }[] }> {
    const found: string[] = []
    const failed: { path: string; error: string }[] = []
    for (const dir of this.dirs) {
      if (!existsSync(dir)) continue
      for (const entry of readdirSync(dir)) {
        const folder = join(dir, entry)
        if (!statSync(folder).isDirectory() || !existsSync(join(folder, 'plugin.json'))) continue
        try {
          found.push((await this.register(folder, 'bundled')).name)
        } catch (err) {
          failed.push({ path: folder, error: (err as Error).message })
          this.deps.log.warn({ path: folder, err: (err as Error).message }, 'plugin skipped')
        }
      }
    }
    return { found, failed }
  }

  /** Validates, bundles and records the plugin in `folder`; a new version asking for more than granted is disabled. */
  async register(folder: string, source: PluginRow['source']): Promise<PluginRow> {
    const { manifest, code } = await readPlugin(folder)
    const codeHash = createHash('sha256').update(code).digest('hex')
    const before = await this.store.get(manifest.name)
    if (before && before.source !== source && before.path !== folder)
      throw new ManifestError(`a plugin named "${manifest.name}" is already installed from ${before.source === 'bundled' ? 'the plugins folder' : 'an upload'}`)
    let row = await this.#sealSecretSettings(await this.store.upsert({ name: manifest.name, manifest, source, path: folder, codeHash }))
    if (row.enabled && !grantCovers(row.granted, manifest.permissions)) {
      row = (await this.store.update(row.name, { enabled: false, disabled_reason: `version ${manifest.version} asks for permissions that were not granted` }))!
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
    const files = unpackPluginArchive(archive)
    let manifest: Manifest
    try {
      manifest = parseManifest(JSON.parse(new TextDecoder().decode(files.get('plugin.json'))))
    } catch (err) {
      throw new ApiError('validation_failed', (err as Error).message, 'archive')
    }
    const existing = await this.store.get(manifest.name)
    if (existing?.source === 'bundled') throw new ApiError('conflict', `The plugin "${manifest.name}" ships with the platform and cannot be replaced by an upload`)
    const root = join(this.deps.config.DATA_DIR, 'plugins')
    const target = join(root, manifest.name)
    const staging = join(root, `.${manifest.name}-${crypto.randomUUID()}`)
    for (const [name, data] of files) {
      mkdirSync(dirname(join(staging, name)), { recursive: true })
      writeFileSync(join(staging, name), data)
    }
    try {
      await readPlugin(staging)
    } catch (err) {
      rmSync(staging, { recursive: true, force: true })
      throw new ApiError('validation_failed', (err as Error).message, 'archive')
    }
    rmSync(target, { recursive: true, force: true })
    renameSync(staging, target)
    const row = await this.register(target, 'uploaded')
    await this.#sync(row.name)
    return row
  }

  async get(name: string): Promise<PluginRow> {
    const row = await this.store.get(name)
    if (!row) throw new ApiError('not_found', `Plugin ${name} not found`)
    return row
  }

  isLoaded(name: string): boolean {
    return this.#loaded.has(name)
  }

  /** Grants the permissions (which must cover what the manifest asks for) and enables the plugin. */
  async enable(name: string, grant: Permissions, adminId: string): Promise<PluginRow> {
    const row = await this.get(name)
    if (!grantCovers(grant, row.manifest.permissions))
      throw new ApiError('invalid_request', 'The grant does not cover every permission the plugin asks for', 'grant')
    await this.store.update(name, { granted: grant, granted_by: adminId, granted_at: new Date(), enabled: true, disabled_reason: null })
    this.#sandbox?.release(name)
    try {
      await this.#sync(name)
      const loaded = this.#loaded.get(name)
      if (loaded?.meta.hooks.onEnable) await this.#invoke(loaded, 'onEnable', {}, 'lifecycle').catch((err) => this.#logHookFailure(err))
    } catch (err) {
      await this.store.update(name, { enabled: false, disabled_reason: (err as Error).message })
      throw err
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
    const fresh = await this.register(row.path, row.source)
    await this.#sync(name)
    return fresh
  }

  async uninstall(name: string): Promise<void> {
    const row = await this.get(name)
    await this.disable(name).catch(() => {})
    await this.store.delete(name)
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
    const problems = validateConfig(row.manifest, merged)
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
      if (current) await this.#sandbox?.unload(name).catch(() => {})
      return
    }
    if (current && current.row.code_hash === row.code_hash) {
      current.row = row
      return
    }
    const { code } = await readPlugin(row.path)
    const sandbox = await this.#sandboxClient()
    const meta = await sandbox.load(name, code, sandboxLimits(row.manifest))
    this.#loaded.set(name, { row, code, meta })
  }

  async #changed(name: string): Promise<void> {
    await this.deps.cache.publish(PLUGINS_CHANNEL, name).catch(() => {})
  }

  /** Runs one invocation and records it for the stats; limit violations count toward automatic disabling. */
  async #invoke(loaded: Loaded, method: InvokeMethod, args: InvokeArgs, kind: string, wallMs?: number): Promise<unknown> {
    const sandbox = await this.#sandboxClient()
    const started = performance.now()
    let status: 'ok' | 'error' | 'limit' = 'ok'
    let code: string | null = null
    try {
      return await sandbox.invoke(loaded.row.name, method, args, { wallMs: wallMs ?? sandboxLimits(loaded.row.manifest).wallMs })
    } catch (err) {
      code = err instanceof SandboxError ? err.code : 'internal_error'
      status = err instanceof SandboxError && (err.limit !== undefined || err.code.endsWith('_exceeded')) ? 'limit' : 'error'
      throw err
    } finally {
      this.#record({ plugin: loaded.row.name, kind, status, code, ms: performance.now() - started })
      if (status === 'limit') {
        await this.#flush()
        await this.#maybeDisable(loaded.row.name)
      }
    }
  }

  // Invocation records are written in batches, off the request path.
  #pending: InvocationRecord[] = []
  #flushTimer: ReturnType<typeof setTimeout> | undefined

  #record(entry: InvocationRecord): void {
    this.#pending.push(entry)
    if (this.#pending.length >= 500) void this.#flush()
    else this.#flushTimer ??= setTimeout(() => void this.#flush(), 1000)
  }

  async #flush(): Promise<void> {
    clearTimeout(this.#flushTimer)
    this.#flushTimer = undefined
    const batch = this.#pending.splice(0)
    if (batch.length === 0) return
    await this.deps.sql`
      INSERT INTO plugin_invocations (plugin, kind, status, error_code, duration_ms)
      SELECT * FROM unnest(${batch.map((b) => b.plugin)}::text[], ${batch.map((b) => b.kind)}::text[], ${batch.map((b) => b.status)}::text[],
        ${batch.map((b) => b.code)}::text[], ${batch.map((b) => b.ms)}::real[])`.catch((err) =>
      this.deps.log.warn({ err: (err as Error).message, lost: batch.length }, 'plugin invocation stats not written'),
    )
  }

  async #maybeDisable(name: string): Promise<void> {
    const [row] = await this.deps.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM plugin_invocations
      WHERE plugin = ${name} AND status = 'limit' AND created_at > now() - ${AUTO_DISABLE_WINDOW_MIN} * interval '1 minute'`
    if ((row?.n ?? 0) >= AUTO_DISABLE_AFTER) {
      this.deps.log.warn({ plugin: name }, 'plugin disabled after repeated limit violations')
      await this.disable(name, `disabled automatically after ${AUTO_DISABLE_AFTER} limit violations within ${AUTO_DISABLE_WINDOW_MIN} minutes`)
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

  async invoke(name: string, method: InvokeMethod, args: InvokeArgs, kind: string, wallMs?: number): Promise<unknown> {
    return this.#invoke(this.loaded(name), method, args, kind, wallMs)
  }

  async stats(name: string) {
    await this.get(name)
    await this.#flush()
    const [s] = await this.deps.sql<
      { invocations: number; errors: number; limit_violations: number; p50_ms: number | null; p99_ms: number | null }[]
    >`
      SELECT count(*)::int AS invocations, count(*) FILTER (WHERE status = 'error')::int AS errors,
        count(*) FILTER (WHERE status = 'limit')::int AS limit_violations,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
        percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms
      FROM plugin_invocations WHERE plugin = ${name} AND created_at > now() - interval '7 days'`
    const sandboxStats = this.#sandbox ? await this.#sandbox.stats().catch(() => null) : null
    const live = sandboxStats?.plugins.find((p) => p.plugin === name)
    return { ...s!, cpu_ms: live?.cpuMs ?? null, heap_bytes: live?.heapUsed ?? null, recycles: live?.recycles ?? null }
  }
}

/** A plugin folder: its validated manifest and its bundled code. */
export async function readPlugin(folder: string): Promise<{ manifest: Manifest; code: string }> {
  let raw: unknown
  try {
    raw = JSON.parse(await Bun.file(join(folder, 'plugin.json')).text())
  } catch (err) {
    throw new ManifestError(`plugin.json: ${(err as Error).message}`)
  }
  const manifest = parseManifest(raw)
  const entry = resolve(folder, manifest.entry)
  if (!entry.startsWith(resolve(folder) + '/')) throw new ManifestError('plugin.json.entry: must stay inside the plugin folder')
  return { manifest, code: await bundlePlugin(entry) }
}
