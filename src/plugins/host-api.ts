import type { SecretBox } from '../crypto/secretbox.ts'
import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import { nulPath } from '../http/text.ts'
import type { TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { ChatCompletionBody, EmbeddingBody, type ChatCompletionRequest, type EmbeddingRequest } from '../gateway/model.ts'
import { costMicros } from '../gateway/pricing.ts'
import { estimateChatPromptTokens, estimateEmbeddingTokens } from '../gateway/tokens.ts'
import type { Caller, GatewayService } from '../gateway/service.ts'
import type { Logger } from '../log.ts'
import type { ChatbotService } from '../chatbots/service.ts'
import type { RagService } from '../rag/service.ts'
import type { HostCallName } from './sandbox/index.ts'
import type { KvCache } from './kv-cache.ts'
import { guardedFetch, NetDenied, type ByteBudget } from './net-guard.ts'
import { secretFields } from './manifest.ts'
import type { Permissions } from './model.ts'
import type { PluginRecords } from './records.ts'
import type { PluginRow } from './store.ts'

/** An error a plugin sees: its code and message reach the plugin, nothing else does. */
export class HostCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

const KEY_MAX = 256
const VALUE_MAX_BYTES = 256 * 1024
/** Outbound fetch per invocation: count and bytes. */
const FETCH_MAX_COUNT = 20
const FETCH_MAX_BYTES = 10 * 1024 * 1024
const FETCH_TIMEOUT_MS = 15_000
const LLM_TIMEOUT_MS = 120_000
/** Outlives any call (LLM_TIMEOUT_MS), so only the reservation of a replica that died mid-call ever expires. */
const RESERVATION_TTL_MS = 10 * 60_000

interface InvocationBudget {
  fetches: number
  /** Shared by the invocation's fetches, which may run side by side. */
  fetchBytes: ByteBudget
}

/**
 * The capabilities a plugin reaches through its host calls, each checked against what an administrator granted and
 * written to the plugin audit log, allowed or not. Denials say which permission is missing.
 */
export class HostApi {
  readonly #invocations = new Map<string, InvocationBudget>()
  /** kv writes per plugin: a token bucket per replica (PLUGIN_KV_WRITES_PER_SECOND, a second's worth of burst). */
  readonly #kvBuckets = new Map<string, { tokens: number; at: number }>()
  /** deps.kvCache until another process writes the same database (sharesDatabase). */
  #kvCache: KvCache | null

  constructor(
    readonly deps: {
      sql: Sql
      box: SecretBox
      gateway: GatewayService
      rag: RagService
      chatbots: ChatbotService
      log: Logger
      records: PluginRecords
      kvWritesPerSecond: number
      /** Values kept for kv.get: on the embedded database only, whose one writer is this process (kv-cache.ts). */
      kvCache: KvCache | null
      /** The current row of an enabled plugin (cached by the plugin service). */
      plugin: (name: string) => PluginRow | undefined
    },
  ) {
    this.#kvCache = deps.kvCache
  }

  /** The plugin's rows went (it was uninstalled): what this process kept of its kv goes too. */
  forget(plugin: string): void {
    this.#kvCache?.forget(plugin)
  }

  /**
   * Another process now writes the same database (the tests' replicas on one embedded database), so what this one
   * wrote or read may not stay true: every kv.get reads the database from now on.
   */
  sharesDatabase(): void {
    this.#kvCache = null
  }

  /**
   * Runs one host call of the invocation `invocationId`; `ended` aborts when that invocation is over, and so stops
   * its fetches, model calls and searches: a plugin cut off at its wall-clock limit leaves no work behind.
   */
  async handle(name: string, invocationId: string, call: HostCallName, args: unknown[], ended: AbortSignal): Promise<unknown> {
    const row = this.deps.plugin(name)
    if (!row?.enabled || !row.granted) throw new HostCallError('plugin_disabled', 'The plugin is not enabled')
    const granted = row.granted
    try {
      const result = await this.#dispatch(row, granted, invocationId, call, args, ended)
      if (call !== 'log') this.#audit(name, invocationId, call, true, summary(call, args))
      return result
    } catch (err) {
      if (ended.aborted) {
        this.#audit(name, invocationId, call, true, 'stopped: the invocation ended first')
        throw new HostCallError('invocation_finished', 'the invocation is no longer running')
      }
      const denied = err instanceof HostCallError && err.code === 'permission_denied'
      this.#audit(name, invocationId, call, !denied, `${denied ? 'denied' : 'failed'}: ${(err as Error).message}`.slice(0, 500))
      if (err instanceof HostCallError) throw err
      if (err instanceof ApiError) throw new HostCallError(err.code, err.message)
      if (err instanceof NetDenied) throw new HostCallError(err.reason, err.message)
      this.deps.log.warn({ plugin: name, call, err: (err as Error).message }, 'plugin host call failed')
      throw new HostCallError('host_error', `${call} failed`)
    }
  }

  #audit(plugin: string, invocationId: string, call: string, allowed: boolean, detail: string): void {
    this.deps.records.audit(plugin, invocationId, call, allowed, detail)
  }

  async #dispatch(row: PluginRow, granted: Permissions, invocationId: string, call: HostCallName, args: unknown[], ended: AbortSignal): Promise<unknown> {
    const need = (ok: unknown, what: string) => {
      if (!ok) throw new HostCallError('permission_denied', `The plugin was not granted ${what}`)
    }
    switch (call) {
      case 'log': {
        const [level, message, data] = args as [string, string, unknown]
        const text = data === undefined ? String(message) : `${String(message)} ${JSON.stringify(data)}`
        this.deps.records.log(row.name, String(level), text, invocationId)
        return null
      }
      case 'kv.get':
      case 'kv.set':
      case 'kv.delete':
      case 'kv.list':
        need(granted.kv, 'kv (its own storage)')
        return this.#kv(row.name, granted.kv!.quota_kb, call, args)
      case 'config.get': {
        const config = this.config(row, granted)
        const [key] = args as [string | undefined]
        return key === undefined ? config : (config[key] ?? null)
      }
      case 'llm.chat':
      case 'llm.embed':
        need(granted.llm, 'llm')
        return this.#llm(row, granted.llm!, invocationId, call, args[0], ended)
      case 'rag.search': {
        const req = (args[0] ?? {}) as { collection_id?: string; query?: string; top_k?: number; mode?: 'lexical' | 'vector' | 'hybrid' }
        need(req.collection_id && granted.rag?.collections.includes(req.collection_id), `rag search of collection ${req.collection_id ?? '(none)'}`)
        if (typeof req.query !== 'string' || !req.query) throw new HostCallError('bad_request', 'rag.search needs a query string')
        const [collection] = await this.deps.sql`SELECT * FROM rag_collections WHERE id = ${req.collection_id!}`
        if (!collection) throw new HostCallError('not_found', `Collection ${req.collection_id} not found`)
        return this.deps.rag.search.searchCollection(
          collection as never,
          { query: req.query, top_k: Math.min(50, req.top_k ?? 5), ...(req.mode ? { mode: req.mode } : {}) },
          this.#caller(row, invocationId),
          ended,
        )
      }
      case 'chatbots.invoke': {
        const req = (args[0] ?? {}) as { chatbot_id?: string; message?: string; conversation_id?: string }
        need(req.chatbot_id && granted.chatbots?.invoke.includes(req.chatbot_id), `chatbot ${req.chatbot_id ?? '(none)'}`)
        if (typeof req.message !== 'string' || !req.message) throw new HostCallError('bad_request', 'chatbots.invoke needs a message string')
        // Granted by id, so the administrator's grant is the access check; the plugin speaks as itself.
        const bot = await this.deps.chatbots.get({ userId: row.granted_by!, isAdmin: true }, req.chatbot_id!)
        return this.deps.chatbots.chat(
          bot,
          { message: req.message, ...(req.conversation_id ? { conversation_id: req.conversation_id } : {}) },
          { ...this.#caller(row, invocationId), source: 'chatbot' },
          { userId: null, apiKeyId: null, source: 'plugin' },
          AbortSignal.any([ended, AbortSignal.timeout(120_000)]),
        )
      }
      case 'fetch':
        return this.#fetch(granted, invocationId, args[0], ended)
    }
  }

  /**
   * Settings with the secret fields it was granted, decrypted for this plugin only. A sealed field that the
   * manifest no longer marks secret is withheld (see PluginService.#sealSecretSettings).
   */
  config(row: PluginRow, granted: Permissions): Record<string, unknown> {
    const secret = secretFields(row.manifest)
    const out = Object.fromEntries(Object.entries(row.config).filter(([k]) => !secret.includes(k)))
    for (const [field, sealed] of Object.entries(row.secrets)) {
      if (secret.includes(field) && granted.secrets?.includes(field)) out[field] = this.deps.box.open(sealed, `plugin:${row.name}:${field}`)
    }
    return out
  }

  #caller(row: PluginRow, invocationId: string): Caller {
    // Charged to the administrator who granted the plugin: their budgets apply on top of the plugin's own.
    return { source: 'plugin', userId: row.granted_by!, apiKey: null, requestId: `plugin:${row.name}:${invocationId}`, startedAt: performance.now() }
  }

  async #kv(plugin: string, quotaKb: number, call: string, args: unknown[]): Promise<unknown> {
    const sql = this.deps.sql
    const key = args[0]
    if (call !== 'kv.list' && (typeof key !== 'string' || key.length === 0 || key.length > KEY_MAX))
      throw new HostCallError('bad_request', `kv keys are strings of 1 to ${KEY_MAX} characters`)
    // PostgreSQL's text and jsonb cannot hold U+0000: refused here with the rule, not failed in the database.
    if (typeof key === 'string' && key.includes('\u0000')) throw new HostCallError('bad_request', 'kv keys may not contain U+0000')
    const cache = this.#kvCache
    if (call === 'kv.get') {
      const kept = cache?.get(plugin, key as string)
      if (kept) return kept.value
      const ticket = cache?.ticket(plugin) ?? 0
      const [row] = await sql<{ value: unknown; bytes: number; expires_at: Date | null }[]>`
        SELECT value, bytes, expires_at FROM plugin_kv WHERE plugin = ${plugin} AND key = ${key as string} AND (expires_at IS NULL OR expires_at > now())`
      cache?.read(plugin, key as string, ticket, row ? { value: row.value, bytes: row.bytes, expiresAt: row.expires_at?.getTime() ?? null } : null)
      return row?.value ?? null
    }
    if (call === 'kv.list') {
      const prefix = typeof key === 'string' ? key : ''
      const rows = await sql<{ key: string }[]>`
        SELECT key FROM plugin_kv WHERE plugin = ${plugin} AND starts_with(key, ${prefix}) AND (expires_at IS NULL OR expires_at > now())
        ORDER BY key LIMIT 1000`
      return { keys: rows.map((r) => r.key) }
    }
    this.#takeKvWrite(plugin)
    // A write that failed may still have been committed (a connection lost after COMMIT): the key is read again.
    const unsure = (err: unknown) => {
      cache?.unsure(plugin, key as string)
      throw err
    }
    if (call === 'kv.delete') {
      await sql`SELECT plugin_kv_remove(${plugin}, ${key as string})`.catch(unsure)
      cache?.removed(plugin, key as string)
      return null
    }
    const value = args[1]
    const json = JSON.stringify(value ?? null)
    // JSON writes U+0000 as \u0000, which jsonb refuses; the text can also hold that escape escaped (a plugin's own
    // backslash), so the value is walked only to be sure.
    const nul = json.includes('\\u0000') ? nulPath(value) : null
    if (nul !== null) throw new HostCallError('bad_request', `kv values may not contain U+0000 (at ${nul || 'the value itself'})`)
    const bytes = Buffer.byteLength(json) + (key as string).length
    if (bytes > VALUE_MAX_BYTES) throw new HostCallError('kv_value_too_large', `A kv value may be at most ${VALUE_MAX_BYTES} bytes`)
    const ttl = (args[2] as { ttlSeconds?: number } | undefined)?.ttlSeconds
    const expires = typeof ttl === 'number' && ttl > 0 ? new Date(Date.now() + ttl * 1000) : null
    // The text counted above is the value sent (as text, cast in SQL: sql.json would serialise it a second time).
    // One statement (migrations/0016): the plugin's usage row is its running total, locked, checked and moved with the
    // write, so concurrent writers (on every replica) take turns on one row and each write costs the same however many
    // keys the plugin holds.
    const [{ written }] = await sql<[{ written: boolean }]>`
      SELECT plugin_kv_put(${plugin}, ${key as string}, ${json}::text::jsonb, ${bytes}, ${expires}, ${quotaKb * 1024}) AS written`.catch(unsure)
    if (!written) throw new HostCallError('kv_quota_exceeded', `The plugin's kv quota of ${quotaKb} KB is used up`)
    cache?.wrote(plugin, key as string, json, bytes, expires?.getTime() ?? null)
    return null
  }

  /** One write from the plugin's bucket, or kv_rate_limited: a write loop must not take the database from everyone. */
  #takeKvWrite(plugin: string): void {
    const rate = this.deps.kvWritesPerSecond
    const now = performance.now()
    const bucket = this.#kvBuckets.get(plugin) ?? { tokens: rate, at: now }
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) / 1000) * rate)
    bucket.at = now
    this.#kvBuckets.set(plugin, bucket)
    if (bucket.tokens < 1) throw new HostCallError('kv_rate_limited', `At most ${rate} kv writes per second; slow down and retry`)
    bucket.tokens -= 1
  }

  async #llm(row: PluginRow, llm: NonNullable<Permissions['llm']>, invocationId: string, call: string, request: unknown, ended: AbortSignal): Promise<unknown> {
    const body = { ...(request as Record<string, unknown>) }
    const model = body.model
    if (typeof model !== 'string' || !llm.models.includes(model))
      throw new HostCallError('permission_denied', `The plugin was not granted the model ${String(model)}`)
    const chat = call === 'llm.chat'
    // The worst case below trusts max_tokens, n and the messages, so they must have the shapes the gateway's API allows.
    const schema: TSchema = chat ? ChatCompletionBody : EmbeddingBody
    if (!Value.Check(schema, body))
      throw new HostCallError('bad_request', `${call} got a request the OpenAI API would refuse`)
    const caller = this.#caller(row, invocationId)
    const resolved = await this.deps.gateway.model(caller, model)
    const fallback = resolved.fallback ? await this.deps.gateway.registry.resolve(resolved.fallback) : null
    const priced = fallback ? [resolved, fallback] : [resolved]
    let worst: number
    if (chat) {
      const req = body as ChatCompletionRequest
      const prompt = estimateChatPromptTokens(req.messages, req.tools)
      const cap = req.max_completion_tokens ?? req.max_tokens ?? Math.max(...priced.map((m) => m.maxOutputTokens))
      // The upstream may not generate more than was reserved.
      if (req.max_completion_tokens == null && req.max_tokens == null) body.max_tokens = cap
      worst = Math.max(...priced.map((m) => costMicros(m.prices, prompt, cap * (req.n ?? 1))))
    } else {
      const prompt = estimateEmbeddingTokens((body as EmbeddingRequest).input)
      worst = Math.max(...priced.map((m) => costMicros(m.prices, prompt, 0)))
    }
    const reservation = await this.#reserve(row.name, llm.budget_usd, worst)
    let cost = 0
    try {
      const signal = AbortSignal.any([ended, AbortSignal.timeout(LLM_TIMEOUT_MS)])
      const res = chat
        ? await this.deps.gateway.chat(caller, { ...body, stream: false } as never, signal)
        : await this.deps.gateway.embeddings(caller, body as never, signal)
      const json = (await res.json()) as { model?: string; usage?: { prompt_tokens?: number; completion_tokens?: number } }
      const served = fallback && json.model === fallback.id ? fallback : resolved
      cost = json.usage ? costMicros(served.prices, json.usage.prompt_tokens ?? 0, json.usage.completion_tokens ?? 0) : worst
      return json
    } finally {
      await this.#settle(row.name, reservation, cost)
    }
  }

  /**
   * Holds `worst` micro-USD of the plugin's monthly budget for one call, refused when what it spent this month,
   * plus what its calls in flight hold, plus this call could pass the grant.
   */
  async #reserve(plugin: string, budgetUsd: number, worst: number): Promise<string> {
    const sql = this.deps.sql
    // As with kv: each statement's snapshot misses the other callers' new rows, so reservations take turns.
    const [held] = await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':enclava:plugin_spend:' || ${plugin}))`
      await tx`DELETE FROM plugin_spend_reservations WHERE plugin = ${plugin} AND expires_at <= now()`
      return tx<{ id: string }[]>`
        INSERT INTO plugin_spend_reservations (plugin, micros, expires_at)
        SELECT ${plugin}, ${worst}, now() + ${RESERVATION_TTL_MS} * interval '1 millisecond'
        WHERE coalesce((SELECT micros FROM plugin_spend WHERE plugin = ${plugin} AND month = date_trunc('month', now())::date), 0)
          + (SELECT coalesce(sum(micros), 0) FROM plugin_spend_reservations WHERE plugin = ${plugin}) + ${worst}
          <= ${Math.floor(budgetUsd * 1_000_000)}
        RETURNING id`
    })
    if (!held) throw new HostCallError('budget_exceeded', `The plugin's LLM budget of $${budgetUsd} for this month does not cover this call; it is spent or held by calls in flight`)
    return held.id
  }

  /** Swaps the reservation for what the call cost, in one step, so the budget never counts both or neither. */
  async #settle(plugin: string, reservation: string, cost: number): Promise<void> {
    await this.deps.sql.begin(async (tx) => {
      await tx`DELETE FROM plugin_spend_reservations WHERE id = ${reservation}`
      if (cost > 0)
        await tx`
          INSERT INTO plugin_spend (plugin, month, micros) VALUES (${plugin}, date_trunc('month', now())::date, ${cost})
          ON CONFLICT (plugin, month) DO UPDATE SET micros = plugin_spend.micros + excluded.micros`
    })
  }

  async #fetch(granted: Permissions, invocationId: string, raw: unknown, ended: AbortSignal): Promise<unknown> {
    const req = raw as { method?: string; url: string; headers?: [string, string][]; body?: string | null; bodyEncoding?: string }
    let budget = this.#invocations.get(invocationId)
    if (budget === undefined) {
      budget = { fetches: 0, fetchBytes: { remaining: FETCH_MAX_BYTES } }
      this.#invocations.set(invocationId, budget)
      ended.addEventListener('abort', () => this.#invocations.delete(invocationId), { once: true })
    }
    if (++budget.fetches > FETCH_MAX_COUNT) throw new HostCallError('fetch_limit_exceeded', `At most ${FETCH_MAX_COUNT} fetches per invocation`)
    const body = req.body == null ? undefined : req.bodyEncoding === 'base64' ? Buffer.from(req.body, 'base64') : req.body
    const res = await guardedFetch(
      { url: req.url, ...(req.method ? { method: req.method } : {}), ...(req.headers ? { headers: req.headers } : {}), ...(body !== undefined ? { body } : {}) },
      { hosts: granted.net ?? [] },
      { maxResponseBytes: FETCH_MAX_BYTES, timeoutMs: FETCH_TIMEOUT_MS, maxRedirects: 5, budget: budget.fetchBytes },
      ended,
    )
    return { status: res.status, statusText: res.statusText, headers: res.headers, body: Buffer.from(res.body).toString('base64'), bodyEncoding: 'base64' }
  }
}

/** What the audit log keeps of a call: names and targets, never values. */
function summary(call: HostCallName, args: unknown[]): string {
  const first = args[0] as Record<string, unknown> | string | undefined
  if (call.startsWith('kv.') || call === 'config.get') return typeof first === 'string' ? `key ${first.slice(0, 100)}` : ''
  if (call === 'fetch') {
    try {
      const u = new URL(String((first as { url?: string })?.url))
      return `${(first as { method?: string }).method ?? 'GET'} ${u.host}${u.pathname}`.slice(0, 300)
    } catch {
      return ''
    }
  }
  if (call === 'llm.chat' || call === 'llm.embed') return `model ${String((first as { model?: string })?.model)}`
  if (call === 'rag.search') return `collection ${String((first as { collection_id?: string })?.collection_id)}`
  return ''
}
