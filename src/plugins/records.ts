import type { Sql } from '../db/client.ts'
import { storable } from '../http/text.ts'
import type { Logger } from '../log.ts'

export interface InvocationRecord {
  plugin: string
  kind: string
  /** limit: the plugin's own code broke a limit (counts toward auto-disable); refused: the platform said no. */
  status: 'ok' | 'error' | 'limit' | 'refused'
  code: string | null
  ms: number
}

export interface RecordLimits {
  /** Log bytes kept per plugin (the newest). */
  maxLogBytes: number
  retentionDays: number
  /** Log bytes (and, at 1/64 of that, lines) one plugin may write per minute. */
  logBytesPerMinute: number
  /** Host-call audit rows one plugin may leave per minute; the rest are summed up in one row. */
  auditRowsPerMinute?: number
}

interface Window {
  minute: number
  bytes: number
  lines: number
  dropped: number
  droppedBytes: number
  audits: number
  auditsDropped: number
}

interface LogRow {
  plugin: string
  invocation: string | null
  level: string
  message: string
}

interface AuditRow {
  plugin: string
  invocation: string | null
  call: string
  allowed: boolean
  detail: string
}

const FLUSH_MS = 250
const MAX_PENDING = 2_000
const PRUNE_MS = 10 * 60_000
const MAX_MESSAGE_CHARS = 4_000

/**
 * What plugins leave behind: log lines, the audit of their host calls, and invocation stats. A plugin decides how
 * much of it there is, so it is written in batches off the request path and capped per plugin: bytes and lines
 * ingested per minute (the rest dropped and counted in one line), bytes kept (oldest removed first) and days kept.
 * One INSERT per console line let a plugin write 104 MB in 10 s, grow DATA_DIR by 282 MB and slow every other
 * plugin's calls past a second.
 */
export class PluginRecords {
  readonly #windows = new Map<string, Window>()
  /** Bytes this replica wrote per plugin since it last trimmed that plugin's logs to the cap. */
  readonly #sinceTrim = new Map<string, number>()
  #logs: LogRow[] = []
  #audits: AuditRow[] = []
  #invocations: InvocationRecord[] = []
  #flushTimer: ReturnType<typeof setTimeout> | undefined
  #pruneTimer: ReturnType<typeof setInterval> | undefined
  #flushing: Promise<void> = Promise.resolve()

  constructor(
    readonly deps: { sql: Sql; log: Logger },
    readonly limits: RecordLimits,
  ) {}

  start(): void {
    this.#pruneTimer = setInterval(() => void this.prune().catch((err) => this.deps.log.warn({ err: (err as Error).message }, 'plugin record pruning failed')), PRUNE_MS)
    this.#pruneTimer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#pruneTimer)
    await this.flush()
  }

  #window(plugin: string): Window {
    const minute = Math.floor(Date.now() / 60_000)
    let w = this.#windows.get(plugin)
    if (w === undefined || w.minute !== minute) {
      if (w !== undefined) this.#closeWindow(plugin, w)
      w = { minute, bytes: 0, lines: 0, dropped: 0, droppedBytes: 0, audits: 0, auditsDropped: 0 }
      this.#windows.set(plugin, w)
    }
    return w
  }

  /** Says what the window dropped, in one line each, when it closes. */
  #closeWindow(plugin: string, w: Window): void {
    if (w.dropped > 0)
      this.#logs.push({
        plugin,
        invocation: null,
        level: 'warn',
        message: `${w.dropped} log lines (${w.droppedBytes} bytes) dropped: over the limit of ${this.limits.logBytesPerMinute} bytes or ${this.#linesPerMinute()} lines per minute`,
      })
    if (w.auditsDropped > 0)
      this.#audits.push({ plugin, invocation: null, call: 'summary', allowed: true, detail: `${w.auditsDropped} more host calls in that minute, not recorded one by one` })
  }

  #linesPerMinute(): number {
    return Math.max(100, Math.floor(this.limits.logBytesPerMinute / 64))
  }

  log(plugin: string, level: string, message: string, invocation: string | null): void {
    // Rows are written in batches of every plugin's records: one U+0000 failed the whole statement, so one plugin's
    // console line cost its neighbours theirs (the audit detail below likewise).
    const text = storable(message.slice(0, MAX_MESSAGE_CHARS))
    const bytes = Buffer.byteLength(text)
    const w = this.#window(plugin)
    if (w.bytes + bytes > this.limits.logBytesPerMinute || w.lines + 1 > this.#linesPerMinute()) {
      w.dropped++
      w.droppedBytes += bytes
      return
    }
    w.bytes += bytes
    w.lines++
    this.#logs.push({ plugin, invocation, level: level.slice(0, 10), message: text })
    this.#schedule()
  }

  audit(plugin: string, invocation: string | null, call: string, allowed: boolean, detail: string): void {
    const w = this.#window(plugin)
    if (++w.audits > (this.limits.auditRowsPerMinute ?? 6_000)) {
      w.auditsDropped++
      return
    }
    this.#audits.push({ plugin, invocation, call, allowed, detail: storable(detail.slice(0, 500)) })
    this.#schedule()
  }

  invocation(record: InvocationRecord): void {
    this.#invocations.push(record)
    this.#schedule()
  }

  #schedule(): void {
    if (this.#logs.length + this.#audits.length + this.#invocations.length >= MAX_PENDING) void this.flush()
    else this.#flushTimer ??= setTimeout(() => void this.flush(), FLUSH_MS)
  }

  /** Writes what is pending (one statement per kind); resolves when it is in the database or given up. */
  flush(): Promise<void> {
    clearTimeout(this.#flushTimer)
    this.#flushTimer = undefined
    // Closed windows say what they dropped even when nothing else is written for a while.
    for (const [plugin, w] of this.#windows) if (w.minute !== Math.floor(Date.now() / 60_000)) {
      this.#closeWindow(plugin, w)
      this.#windows.delete(plugin)
    }
    const logs = this.#logs.splice(0)
    const audits = this.#audits.splice(0)
    const invocations = this.#invocations.splice(0)
    // One write at a time, in order; a failed one (its rows are logged as lost) never stops the next.
    this.#flushing = this.#flushing.then(() => this.#write(logs, audits, invocations)).catch((err: unknown) => {
      this.deps.log.warn({ err: (err as Error).message }, 'plugin records not written')
    })
    return this.#flushing
  }

  async #write(logs: LogRow[], audits: AuditRow[], invocations: InvocationRecord[]): Promise<void> {
    const sql = this.deps.sql
    const lost = (what: string, n: number) => (err: unknown) => this.deps.log.warn({ err: (err as Error).message, lost: n }, `plugin ${what} not written`)
    if (logs.length)
      await sql`
        INSERT INTO plugin_logs (plugin, invocation_id, level, message)
        SELECT * FROM unnest(${logs.map((l) => l.plugin)}::text[], ${logs.map((l) => l.invocation)}::text[], ${logs.map((l) => l.level)}::text[],
          ${logs.map((l) => l.message)}::text[])`.then(() => this.#trimIfDue(logs), lost('log lines', logs.length))
    if (audits.length)
      await sql`
        INSERT INTO plugin_audit (plugin, invocation_id, call, allowed, detail)
        SELECT p, i, c, a::boolean, d FROM unnest(${audits.map((a) => a.plugin)}::text[], ${audits.map((a) => a.invocation)}::text[],
          ${audits.map((a) => a.call)}::text[], ${audits.map((a) => String(a.allowed))}::text[], ${audits.map((a) => a.detail)}::text[]) AS t(p, i, c, a, d)`.catch(lost('audit rows', audits.length))
    if (invocations.length)
      await sql`
        INSERT INTO plugin_invocations (plugin, kind, status, error_code, duration_ms)
        SELECT * FROM unnest(${invocations.map((b) => b.plugin)}::text[], ${invocations.map((b) => b.kind)}::text[], ${invocations.map((b) => b.status)}::text[],
          ${invocations.map((b) => b.code)}::text[], ${invocations.map((b) => b.ms)}::real[])`.catch(lost('invocation stats', invocations.length))
  }

  /** Trims a plugin's logs to the cap once this replica wrote a tenth of the cap since it last did. */
  async #trimIfDue(logs: LogRow[]): Promise<void> {
    const due: string[] = []
    for (const l of logs) {
      const n = (this.#sinceTrim.get(l.plugin) ?? 0) + Buffer.byteLength(l.message)
      this.#sinceTrim.set(l.plugin, n)
      if (n >= this.limits.maxLogBytes / 10 && !due.includes(l.plugin)) due.push(l.plugin)
    }
    for (const plugin of due) {
      this.#sinceTrim.set(plugin, 0)
      await this.trim(plugin).catch((err) => this.deps.log.warn({ plugin, err: (err as Error).message }, 'plugin log trim failed'))
    }
  }

  /** Removes a plugin's oldest log lines beyond the byte cap. */
  async trim(plugin: string): Promise<void> {
    await this.deps.sql`
      DELETE FROM plugin_logs WHERE plugin = ${plugin} AND id <= (
        SELECT id FROM (SELECT id, sum(octet_length(message)) OVER (ORDER BY id DESC) AS kept FROM plugin_logs WHERE plugin = ${plugin}) t
        WHERE kept > ${this.limits.maxLogBytes} ORDER BY id DESC LIMIT 1)`
  }

  /** Removes what is older than the retention period, for every plugin. */
  async prune(): Promise<void> {
    const days = this.limits.retentionDays
    const sql = this.deps.sql
    await sql`DELETE FROM plugin_logs WHERE created_at < now() - ${days} * interval '1 day'`
    await sql`DELETE FROM plugin_audit WHERE created_at < now() - ${days} * interval '1 day'`
    // Stats cover 7 days; the automatic disabling looks back 10 minutes.
    await sql`DELETE FROM plugin_invocations WHERE created_at < now() - ${Math.max(days, 7)} * interval '1 day'`
  }

  /** How much of a plugin's log is kept, against its caps. */
  async logUsage(plugin: string): Promise<{ stored_bytes: number; max_bytes: number; retention_days: number; bytes_per_minute: number }> {
    await this.flush()
    const [row] = await this.deps.sql<{ bytes: string | number }[]>`SELECT coalesce(sum(octet_length(message)), 0) AS bytes FROM plugin_logs WHERE plugin = ${plugin}`
    return {
      stored_bytes: Number(row?.bytes ?? 0),
      max_bytes: this.limits.maxLogBytes,
      retention_days: this.limits.retentionDays,
      bytes_per_minute: this.limits.logBytesPerMinute,
    }
  }
}
