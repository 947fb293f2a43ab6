import { Value } from '@sinclair/typebox/value'
import { Cron } from 'croner'
import semver from 'semver'
import { DEFAULT_LIMITS, type Limits } from '../../sandbox/protocol.ts'
import { LIMIT_CAPS, ManifestSchema, type Grant, type GrantedLimits, type Manifest } from './model.ts'
import { parseNetGrant } from './net-guard.ts'

export { LIMIT_CAPS }

export class ManifestError extends Error {}

/** Parses and checks a plugin.json; every problem is named with its path. */
export function parseManifest(raw: unknown): Manifest {
  const withDefaults = Value.Default(ManifestSchema, structuredClone(raw))
  const first = Value.Errors(ManifestSchema, withDefaults).First()
  if (first) throw new ManifestError(`plugin.json${first.path.replaceAll('/', '.') || ''}: ${first.message}`)
  const m = withDefaults as Manifest
  if (!semver.valid(m.version)) throw new ManifestError(`plugin.json.version: "${m.version}" is not a semantic version`)
  try {
    parseNetGrant({ hosts: m.permissions.net ?? [] })
  } catch (err) {
    throw new ManifestError(`plugin.json.permissions.net: ${(err as Error).message}`)
  }
  for (const job of m.cron) {
    if (job.schedule.trim().split(/\s+/).length !== 5)
      throw new ManifestError(`plugin.json.cron.${job.name}: "${job.schedule}" must have five fields (minute hour day month weekday)`)
    try {
      new Cron(job.schedule, { paused: true, timezone: 'UTC' }).stop()
    } catch (err) {
      throw new ManifestError(`plugin.json.cron.${job.name}: ${(err as Error).message}`)
    }
  }
  const names = new Set<string>()
  for (const r of m.routes) {
    const key = `${r.method} ${r.path}`
    if (names.has(key)) throw new ManifestError(`plugin.json.routes: "${key}" is declared twice`)
    names.add(key)
  }
  const schema = m.config as { type?: unknown; properties?: Record<string, { secret?: boolean }> }
  if (schema.type !== 'object') throw new ManifestError('plugin.json.config: must be a JSON Schema with "type": "object"')
  checkSchema(schema, '', 0, 'plugin.json.config')
  for (const r of m.routes)
    if (r.signature && !schema.properties?.[r.signature.secret]?.secret)
      throw new ManifestError(`plugin.json.routes: "${r.method} ${r.path}" signs with "${r.signature.secret}", which is not a config property marked "secret": true`)
  for (const name of m.permissions.secrets ?? [])
    if (!schema.properties?.[name]?.secret)
      throw new ManifestError(`plugin.json.permissions.secrets: "${name}" is not a config property marked "secret": true`)
  const tools = new Set<string>()
  for (const tool of m.tools) {
    const at = `plugin.json.tools.${tool.name}`
    if (tools.has(tool.name)) throw new ManifestError(`plugin.json.tools: "${tool.name}" is declared twice`)
    tools.add(tool.name)
    const bytes = Buffer.byteLength(JSON.stringify(tool.parameters))
    if (bytes > TOOL_PARAMETERS_MAX_BYTES)
      throw new ManifestError(`${at}.parameters: the schema is ${bytes} bytes, over the limit of ${TOOL_PARAMETERS_MAX_BYTES} (every call sends it to the model)`)
    checkSchema(tool.parameters, '', 0, `${at}.parameters`)
  }
  return m
}

/** The most a tool's parameter schema may take, serialised: it goes into every model request of an agent using it. */
export const TOOL_PARAMETERS_MAX_BYTES = 16 * 1024

/** The tools a grant lets agents use that the manifest does not declare (none may be granted). */
export function undeclaredTools(granted: Grant, m: Manifest): string[] {
  const declared = new Set((m.tools ?? []).map((t) => t.name))
  return (granted.tools ?? []).filter((name) => !declared.has(name))
}

/**
 * Where the class's `tools` (the names register() reported) and the manifest's differ. A plugin with any difference
 * is not loaded: a declared tool without code would fail every call, and code without a declaration (no description,
 * no parameters) could never be granted.
 */
export function toolMismatch(m: Manifest, implemented: readonly string[]): string[] {
  // Rows recorded before manifests had tools (uploads are not rediscovered) declare none.
  const declared = (m.tools ?? []).map((t) => t.name)
  return [
    ...declared.filter((name) => !implemented.includes(name)).map((name) => `plugin.json.tools: "${name}" has no handler in the class's tools`),
    ...implemented
      .filter((name) => !declared.includes(name))
      .map((name) => `tools: the class implements "${name}", which plugin.json.tools does not declare (with a description and parameters)`),
  ]
}

/** The config properties marked secret. */
export function secretFields(m: Manifest): string[] {
  const props = (m.config as { properties?: Record<string, { secret?: boolean }> }).properties ?? {}
  return Object.entries(props)
    .filter(([, p]) => p?.secret === true)
    .map(([k]) => k)
}

/** How deep a config or tool schema may nest (objects and arrays), which is far more than a form or a model needs. */
const CONFIG_SCHEMA_DEPTH = 32
/** Keywords whose value is data, never a schema: their contents are not keywords. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples', 'required', 'dependentRequired'])
/** Keywords whose value maps names (or, for patternProperties, patterns) to schemas. */
const NAMED_SCHEMAS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas', 'dependencies'])

/**
 * Refuses what a schema of the manifest (`config`, a tool's `parameters`, named by `root`) must not hold.
 * References: the settings are validated without fetching or resolving anything, so a schema is written out in full.
 * Patterns that are not regular expressions the validator can compile (JavaScript, `u` flag), so a broken one is
 * found at install, not at every save.
 */
function checkSchema(node: unknown, path: string, depth: number, root: string): void {
  if (typeof node !== 'object' || node === null) return
  if (depth > CONFIG_SCHEMA_DEPTH) throw new ManifestError(`${root}${path}: the schema nests more than ${CONFIG_SCHEMA_DEPTH} levels deep`)
  if (Array.isArray(node)) {
    node.forEach((item, i) => checkSchema(item, `${path}[${i}]`, depth + 1, root))
    return
  }
  for (const [key, value] of Object.entries(node)) {
    const at = `${path}.${key}`
    if (key === '$ref' || key === '$dynamicRef' || key === '$recursiveRef')
      throw new ManifestError(`${root}${at}: ${key} is not supported: write the schema out in full`)
    if (key === 'pattern') checkPattern(value, `${root}${at}`)
    else if (NAMED_SCHEMAS.has(key) && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      if (depth + 1 > CONFIG_SCHEMA_DEPTH) throw new ManifestError(`${root}${at}: the schema nests more than ${CONFIG_SCHEMA_DEPTH} levels deep`)
      for (const [name, sub] of Object.entries(value)) {
        if (key === 'patternProperties') checkPattern(name, `${root}${at}[${JSON.stringify(name)}]`)
        checkSchema(sub, `${at}.${name}`, depth + 2, root)
      }
    } else if (!DATA_KEYWORDS.has(key)) checkSchema(value, at, depth + 1, root)
  }
}

function checkPattern(pattern: unknown, at: string): void {
  if (typeof pattern !== 'string') throw new ManifestError(`${at}: a pattern must be a string`)
  try {
    new RegExp(pattern, 'u')
  } catch (err) {
    throw new ManifestError(`${at}: not a JavaScript regular expression (with the u flag): ${(err as Error).message}`)
  }
}

/** How long checking one settings save may take. Only a backtracking pattern comes near it. */
export const CONFIG_CHECK_MS = 500
/** How long the checking worker may take to start (loading the validator), apart from the budget of a check. */
const CONFIG_WORKER_START_MS = 10_000

/** The messages between validateConfig and config-worker.ts. */
export type ConfigCheck = { id: number; schema: unknown; value: unknown }
export type ConfigReply =
  | { type: 'ready' }
  | { type: 'checked'; id: number; problems: string[] }
  | { type: 'unusable'; id: number; message: string }

/**
 * The worker that checks settings, kept between saves. One check at a time: a check that runs out of time
 * terminates the worker (which is what stops a backtracking pattern), and the next check starts a fresh one.
 */
class ConfigChecker {
  #worker: Promise<Worker> | undefined
  #instance: Worker | undefined
  #listener: ((reply: ConfigReply | Error) => void) | undefined
  #queue: Promise<unknown> = Promise.resolve()
  #lastId = 0

  check(schema: unknown, value: unknown, budgetMs: number): Promise<string[]> {
    const run = this.#queue.catch(() => {}).then(() => this.#checkNow(schema, value, budgetMs))
    this.#queue = run
    return run
  }

  async #checkNow(schema: unknown, value: unknown, budgetMs: number): Promise<string[]> {
    const worker = await this.#start()
    const id = ++this.#lastId
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      const reply = await new Promise<ConfigReply | 'timeout'>((resolve, reject) => {
        timer = setTimeout(() => resolve('timeout'), budgetMs)
        this.#listener = (r) => {
          if (r instanceof Error) reject(r)
          else if (r.type !== 'ready' && r.id === id) resolve(r)
        }
        worker.postMessage({ id, schema, value } satisfies ConfigCheck)
      })
      if (reply === 'timeout') {
        this.#stop(worker)
        return [`a pattern in the plugin's settings schema took longer than the ${budgetMs} ms a settings check may take; the plugin's author has to simplify it`]
      }
      if (reply.type === 'unusable') throw new ManifestError(reply.message)
      return reply.type === 'checked' ? reply.problems : []
    } finally {
      clearTimeout(timer)
      this.#listener = undefined
    }
  }

  #start(): Promise<Worker> {
    this.#worker ??= new Promise<Worker>((resolve, reject) => {
      const worker = new Worker(new URL('./config-worker.ts', import.meta.url).href)
      this.#instance = worker
      // Kept between saves, but never what keeps the server process alive.
      worker.unref()
      let started = false
      const timer = setTimeout(() => {
        this.#stop(worker)
        reject(new Error(`The settings checker did not start within ${CONFIG_WORKER_START_MS / 1000} s`))
      }, CONFIG_WORKER_START_MS)
      worker.onerror = (e) => {
        clearTimeout(timer)
        this.#stop(worker)
        const err = new Error(`The settings checker failed: ${e.message}`)
        if (started) this.#listener?.(err)
        else reject(err)
      }
      worker.onmessage = (e: MessageEvent<ConfigReply>) => {
        if (e.data.type !== 'ready') this.#listener?.(e.data)
        else {
          clearTimeout(timer)
          started = true
          resolve(worker)
        }
      }
    })
    return this.#worker
  }

  #stop(worker: Worker): void {
    worker.terminate()
    if (this.#instance !== worker) return
    this.#instance = undefined
    this.#worker = undefined
  }
}

const configChecker = new ConfigChecker()

/**
 * Checks settings against the plugin's own JSON Schema on a worker thread, within a time budget (the schema's
 * patterns are the plugin's code). Returns the problems, or [] when valid; throws a ManifestError when the schema
 * itself cannot be used.
 * @example
 * const problems = await validateConfig(manifest, { greeting: 'hi' })
 */
export function validateConfig(m: Manifest, value: unknown, budgetMs = CONFIG_CHECK_MS): Promise<string[]> {
  return configChecker.check(m.config, value, budgetMs)
}

/** Cron runs without a granted wall_ms get at most this long, the default of `timeout_ms`. */
export const CRON_DEFAULT_WALL_MS = 60_000

type LimitName = keyof GrantedLimits
const DEFAULTS: Record<LimitName, number> = { memory_mb: DEFAULT_LIMITS.memoryMb, cpu_ms: DEFAULT_LIMITS.cpuMs, wall_ms: DEFAULT_LIMITS.wallMs }
const LIMIT_NAMES = Object.keys(DEFAULTS) as LimitName[]

/**
 * The limits a manifest asks for above the platform's defaults (capped by the platform): its `limits`, and for
 * wall time also the longest cron `timeout_ms` above CRON_DEFAULT_WALL_MS. These need a grant, like permissions.
 */
export function requestedLimits(m: Manifest): GrantedLimits {
  const out: GrantedLimits = {}
  const longestCron = Math.max(0, ...m.cron.map((c) => c.timeout_ms))
  const wall = Math.max(m.limits.wall_ms ?? 0, longestCron > CRON_DEFAULT_WALL_MS ? longestCron : 0)
  const asked: GrantedLimits = { ...m.limits, ...(wall > 0 ? { wall_ms: wall } : {}) }
  for (const k of LIMIT_NAMES) {
    const v = asked[k]
    if (v !== undefined && v > DEFAULTS[k]) out[k] = Math.min(v, LIMIT_CAPS[k])
  }
  return out
}

/** What enabling without an explicit grant grants: exactly what the manifest asks for. */
export function defaultGrant(m: Manifest): Grant {
  const limits = requestedLimits(m)
  return { ...m.permissions, ...(Object.keys(limits).length > 0 ? { limits } : {}) }
}

/** The most an administrator's grant allows of one limit: the platform default unless more was granted. */
function allowed(granted: Grant | null, k: LimitName): number {
  return Math.min(Math.max(DEFAULTS[k], granted?.limits?.[k] ?? 0), LIMIT_CAPS[k])
}

/**
 * The limits a plugin runs with, in the sandbox's terms: what its manifest asks for (the defaults when it asks
 * nothing), never more than its grant allows. A manifest cannot raise its own limits: above the defaults, only an
 * administrator's grant can.
 */
export function sandboxLimits(m: Manifest, granted: Grant | null = null): Limits {
  const pick = (k: LimitName) => Math.min(m.limits[k] ?? DEFAULTS[k], allowed(granted, k))
  return { ...DEFAULT_LIMITS, memoryMb: pick('memory_mb'), cpuMs: pick('cpu_ms'), wallMs: pick('wall_ms') }
}

/** The wall-clock limit of one cron run: its `timeout_ms`, within what the grant allows for cron runs. */
export function cronWallMs(timeoutMs: number, granted: Grant | null): number {
  return Math.min(timeoutMs, Math.max(CRON_DEFAULT_WALL_MS, allowed(granted, 'wall_ms')), LIMIT_CAPS.wall_ms)
}

/**
 * Whether `granted` covers everything the manifest asks for. A new version that asks for a host, model, collection,
 * secret, a bigger budget, quota or limit than was granted needs a new grant.
 */
export function grantCovers(granted: Grant | null, m: Manifest): boolean {
  if (!granted) return false
  const requested = m.permissions
  const sub = (a: readonly string[] | undefined, b: readonly string[] | undefined) => (a ?? []).every((x) => (b ?? []).includes(x))
  if (!sub(requested.net, granted.net)) return false
  if (!sub(requested.secrets, granted.secrets)) return false
  if (requested.llm && (!granted.llm || !sub(requested.llm.models, granted.llm.models) || requested.llm.budget_usd > granted.llm.budget_usd)) return false
  if (requested.rag && (!granted.rag || !sub(requested.rag.collections, granted.rag.collections))) return false
  if (requested.chatbots && (!granted.chatbots || !sub(requested.chatbots.invoke, granted.chatbots.invoke))) return false
  if (requested.kv && (!granted.kv || requested.kv.quota_kb > granted.kv.quota_kb)) return false
  const limits = requestedLimits(m)
  return LIMIT_NAMES.every((k) => (limits[k] ?? 0) <= allowed(granted, k))
}
