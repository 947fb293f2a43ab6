import { Validator, type Schema } from '@cfworker/json-schema'
import { Value } from '@sinclair/typebox/value'
import { Cron } from 'croner'
import semver from 'semver'
import { DEFAULT_LIMITS, type Limits } from '../../sandbox/protocol.ts'
import { ManifestSchema, type Manifest, type Permissions } from './model.ts'
import { parseNetGrant } from './net-guard.ts'

export const LIMIT_CAPS = { memory_mb: 256, cpu_ms: 10_000, wall_ms: 120_000 }

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
  for (const r of m.routes)
    if (r.signature && !schema.properties?.[r.signature.secret]?.secret)
      throw new ManifestError(`plugin.json.routes: "${r.method} ${r.path}" signs with "${r.signature.secret}", which is not a config property marked "secret": true`)
  for (const name of m.permissions.secrets ?? [])
    if (!schema.properties?.[name]?.secret)
      throw new ManifestError(`plugin.json.permissions.secrets: "${name}" is not a config property marked "secret": true`)
  return m
}

/** The config properties marked secret. */
export function secretFields(m: Manifest): string[] {
  const props = (m.config as { properties?: Record<string, { secret?: boolean }> }).properties ?? {}
  return Object.entries(props)
    .filter(([, p]) => p?.secret === true)
    .map(([k]) => k)
}

/** Checks settings against the plugin's own JSON Schema; returns the problems, or [] when valid. */
export function validateConfig(m: Manifest, value: unknown): string[] {
  const result = new Validator(m.config as Schema, '2020-12', false).validate(value)
  return result.valid ? [] : result.errors.filter((e) => e.keyword !== 'properties').map((e) => `${e.instanceLocation.replace(/^#/, '') || '/'}: ${e.error}`)
}

/** The manifest's limits, capped by the platform, in the sandbox's terms. */
export function sandboxLimits(m: Manifest): Limits {
  return {
    ...DEFAULT_LIMITS,
    memoryMb: Math.min(m.limits.memory_mb ?? DEFAULT_LIMITS.memoryMb, LIMIT_CAPS.memory_mb),
    cpuMs: Math.min(m.limits.cpu_ms ?? DEFAULT_LIMITS.cpuMs, LIMIT_CAPS.cpu_ms),
    wallMs: Math.min(m.limits.wall_ms ?? DEFAULT_LIMITS.wallMs, LIMIT_CAPS.wall_ms),
  }
}

/**
 * Whether `granted` covers everything `requested` asks for. A new version that asks for a host, model, collection,
 * secret, a bigger budget or quota than was granted needs a new grant.
 */
export function grantCovers(granted: Permissions | null, requested: Permissions): boolean {
  if (!granted) return false
  const sub = (a: readonly string[] | undefined, b: readonly string[] | undefined) => (a ?? []).every((x) => (b ?? []).includes(x))
  if (!sub(requested.net, granted.net)) return false
  if (!sub(requested.secrets, granted.secrets)) return false
  if (requested.llm && (!granted.llm || !sub(requested.llm.models, granted.llm.models) || requested.llm.budget_usd > granted.llm.budget_usd)) return false
  if (requested.rag && (!granted.rag || !sub(requested.rag.collections, granted.rag.collections))) return false
  if (requested.chatbots && (!granted.chatbots || !sub(requested.chatbots.invoke, granted.chatbots.invoke))) return false
  if (requested.kv && (!granted.kv || requested.kv.quota_kb > granted.kv.quota_kb)) return false
  return true
}
