import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { AuditLog } from '../audit/service.ts'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import type { BudgetRow, BudgetService, Reservation } from '../budgets/service.ts'
import { AppendJournal, type Journal, journalLines, MappedJournal } from './journal.ts'

/** What made the call: the public API, the dashboard's playground, or a platform feature for a user. */
export type UsageSource = 'api' | 'playground' | 'rag' | 'chatbot' | 'plugin' | 'agent'

export interface UsageEntry {
  /** Made before dispatch: a retried write is recognised and never counted twice. */
  id: string
  requestId: string
  source: UsageSource
  apiKeyId: string | null
  userId: string
  model: string
  provider: string | null
  endpoint: string
  promptTokens: number
  completionTokens: number
  costMicros: number
  latencyMs: number
  ttftMs: number | null
  status: number
  errorCode: string | null
  isTee: boolean
  streamed: boolean
  /**
   * What the budgets are charged, when it differs from `costMicros`: under a hard budget at most what was reserved,
   * whatever the upstream generated (the excess stays on the record, and is audited). Not a column.
   */
  chargedMicros?: number
}

interface Pending {
  entry: UsageEntry
  reservation: Reservation | null
  attempts: number
  /** When the request ended: the record's time, whenever the batch (or its retry) is written. */
  at: Date
}

const MAX_BACKOFF_MS = 30_000
/** Records per transaction: amortises the round trips under load, small enough to keep transactions short. */
const BATCH = 200
/**
 * How long a record waits for others to share its transaction. Each transaction is six statements whatever its
 * size; written one record at a time (the flush used to start at once), 1,000 requests/s cost the embedded database's
 * thread 0.38 cores and the server thread 0.2 (`bun bench/gateway.ts`). Every record is in the journal before its
 * answer ends, so the wait risks nothing; budgets hold the request's reservation meanwhile, erring on their side.
 */
const FLUSH_DELAY_MS = 50
/** Past this size the journal starts a new file holding only the records still queued (see #rotate). */
const ROTATE_BYTES = 8 << 20
const COLUMNS =
  'id, created_at, request_id, source, api_key_id, user_id, model, provider, endpoint, prompt_tokens, completion_tokens, ' +
  'cost_micros, latency_ms, ttft_ms, status, error_code, is_tee, streamed'

/**
 * Writes usage and settles budgets off the response path. A write that fails (database briefly down) stays queued
 * and is retried with backoff until it lands; the record and the budget settlement commit together, so a retry
 * can neither lose nor double-count. Reservations stay held meanwhile, which errs on the side of the budget.
 */
export class UsageLedger {
  readonly #sql: Sql
  readonly #budgets: BudgetService
  readonly #audit: AuditLog
  readonly #log: Logger
  readonly #onRecorded: (userIds: (string | null)[]) => void
  #queue: Pending[] = []
  #timer: ReturnType<typeof setTimeout> | null = null
  /** The timer waits out a failed write's backoff (not the batching delay). */
  #retrying = false
  #inFlight: Promise<boolean> | null = null

  /**
   * This process's journal (DATA_DIR/spool/usage-<pid>-<start>.jsonl): every record is appended before the answer it
   * belongs to ends, emptied once everything in it is in the database. A process killed at any moment (SIGKILL
   * included) leaves its unwritten records there, and the next start writes them; during a database outage it is
   * also synced to disk, so a machine that goes down then loses none either.
   */
  #spoolFile: string | null
  /** Names a rotated journal's file apart from the one before it. */
  #rotations = 0
  #journal: Journal | null = null
  #journaled = 0

  /**
   * `onRecorded` hears whose usage was committed (live dashboards), after the transaction. `spoolDir` (DATA_DIR/spool)
   * holds the journal of records not yet in the database, written by the next start when this process cannot.
   */
  constructor(deps: {
    sql: Sql
    budgets: BudgetService
    audit: AuditLog
    log: Logger
    onRecorded?: (userIds: (string | null)[]) => void
    spoolDir?: string
    /** For tests: the journal's size that starts a new file (ROTATE_BYTES). */
    rotateBytes?: number
  }) {
    this.#rotateBytes = deps.rotateBytes ?? ROTATE_BYTES
    this.#onRecorded = deps.onRecorded ?? (() => {})
    this.#sql = deps.sql
    this.#budgets = deps.budgets
    this.#audit = deps.audit
    this.#log = deps.log
    this.#spoolDir = deps.spoolDir ?? null
    this.#spoolFile = deps.spoolDir ? join(deps.spoolDir, `usage-${process.pid}-${Date.now()}.jsonl`) : null
  }

  readonly #spoolDir: string | null
  readonly #rotateBytes: number

  get pending(): number {
    return this.#queue.length
  }

  record(entry: UsageEntry, reservation: Reservation | null): void {
    const pending: Pending = { entry, reservation, attempts: 0, at: new Date() }
    this.#queue.push(pending)
    this.#append(pending)
    // A full batch goes at once (unless a write is under way, which takes it next, or a retry waits out an outage).
    if (this.#queue.length >= BATCH && !this.#inFlight && !this.#retrying) {
      if (this.#timer) clearTimeout(this.#timer)
      this.#timer = null
      void this.#start(false)
    } else this.#schedule(FLUSH_DELAY_MS)
  }

  /** Appends one record to the journal, no sync (a killed process's records are in the page cache). */
  #append(p: Pending): void {
    if (this.#spoolFile === null) return
    try {
      this.#journal ??= this.#openJournal(this.#spoolFile)
      this.#journal.append(journalLine(p))
      this.#journaled++
    } catch (err) {
      this.#log.error({ err: (err as Error).message, file: this.#spoolFile }, 'usage record not journaled')
    }
  }

  /** A mapped file where one can be had; otherwise a file written a line at a time, as durable, just dearer. */
  #openJournal(file: string): Journal {
    try {
      return new MappedJournal(file)
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, file }, 'usage journal not mapped; writing it a line at a time')
      return new AppendJournal(file)
    }
  }

  #schedule(delayMs: number, retry = false) {
    if (this.#timer) return
    this.#retrying = retry
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#retrying = false
      // A write under way schedules what it leaves behind when it ends.
      if (!this.#inFlight) void this.#start(false)
    }, delayMs)
  }

  #start(all: boolean): Promise<boolean> {
    const run = this.#drainOnce(all).finally(() => {
      if (this.#inFlight === run) this.#inFlight = null
    })
    this.#inFlight = run
    return run
  }

  /** Writes everything queued; resolves when the queue is empty or the database refused (then retries later). */
  async flush(): Promise<void> {
    while (this.#inFlight) if (!(await this.#inFlight)) return
    if (this.#queue.length) await this.#start(true)
  }

  /**
   * Writes a batch, and more while full batches wait (`all`: until the queue is empty); a partial batch left
   * behind waits FLUSH_DELAY_MS for company. False when the database refused (a retry is scheduled).
   */
  async #drainOnce(all: boolean): Promise<boolean> {
    for (let first = true; this.#queue.length && (all || first || this.#queue.length >= BATCH); first = false) {
      const batch = this.#queue.slice(0, BATCH)
      let crossed: BudgetRow[]
      try {
        crossed = await this.#write(batch)
      } catch (err) {
        const attempts = (batch[0]?.attempts ?? 0) + 1
        for (const p of batch) p.attempts = attempts
        // The database is away for a while: the journal goes to disk, so not even a machine failure loses it.
        this.#sync()
        const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(attempts, 7))
        this.#log.error({ err: (err as Error).message, queued: this.#queue.length, retry_ms: delay }, 'usage write failed; will retry')
        // A batching timer set meanwhile would retry too soon: the backoff replaces it.
        if (this.#timer) clearTimeout(this.#timer)
        this.#timer = null
        this.#schedule(delay, true)
        return false
      }
      this.#queue.splice(0, batch.length)
      this.#afterCommit(batch, crossed)
    }
    if (this.#queue.length) {
      this.#rotate()
      this.#schedule(FLUSH_DELAY_MS)
    } else this.#unspool()
    return true
  }

  /**
   * Under steady load the queue is seldom empty when a write ends, so the journal would never start over: it grew for
   * as long as the load lasted (~800 bytes a record: 240 MB in 10 minutes at 500 req/s, resident as a mapping). Past
   * the rotation size the records still queued are copied to a new file, then the old one is removed; a process killed
   * in between leaves both, and a record replayed twice is skipped (replaySpool).
   */
  #rotate(): void {
    const old = this.#journal
    if (old === null || this.#spoolDir === null || old.bytes < this.#rotateBytes) return
    const file = join(this.#spoolDir, `usage-${process.pid}-${Date.now()}-${++this.#rotations}.jsonl`)
    let fresh: Journal | null = null
    try {
      fresh = this.#openJournal(file)
      for (const p of this.#queue) fresh.append(journalLine(p))
    } catch (err) {
      fresh?.close(true)
      this.#log.error({ err: (err as Error).message, file }, 'usage journal not rotated; it keeps growing')
      return
    }
    this.#journal = fresh
    this.#spoolFile = file
    this.#journaled = this.#queue.length
    try {
      old.close(true)
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'a rotated usage journal could not be removed; the next start replays it, harmlessly')
    }
  }

  #sync(): void {
    if (this.#journal === null) return
    try {
      this.#journal = this.#journal.durable()
    } catch (err) {
      this.#log.error({ err: (err as Error).message, file: this.#spoolFile }, 'usage journal not synced')
    }
  }

  /** Everything queued is written: the journal holds nothing that is not in the database, so it starts over. */
  #unspool(): void {
    if (this.#journal === null || this.#journaled === 0 || this.#queue.length > 0) return
    try {
      this.#journal.reset()
      this.#journaled = 0
      // The outage that made it an ordinary file is over: the next record maps the file again.
      if (!this.#journal.mapped) {
        this.#journal.close(false)
        this.#journal = null
      }
    } catch (err) {
      this.#log.error({ err: (err as Error).message, file: this.#spoolFile }, 'usage journal not emptied')
    }
  }

  /**
   * At start: the records a stopped or crashed process spooled are queued again and written. Writing is idempotent
   * (a record already in the database is skipped, and settles nothing twice), so a file replayed twice, or a record
   * that did land before the process died, is harmless. A file is removed once its records are written.
   */
  async replaySpool(): Promise<number> {
    if (this.#spoolDir === null || !existsSync(this.#spoolDir)) return 0
    let replayed = 0
    for (const name of readdirSync(this.#spoolDir).filter((f) => f.startsWith('usage-') && f.endsWith('.jsonl'))) {
      const file = join(this.#spoolDir, name)
      if (file === this.#spoolFile) continue
      // Claimed by renaming first: two replicas sharing DATA_DIR do not both take one file.
      const claimed = `${file}.replaying-${process.pid}`
      try {
        renameSync(file, claimed)
      } catch {
        continue
      }
      const pending: Pending[] = []
      let unreadable = 0
      for (const line of journalLines(readFileSync(claimed, 'utf8'))) {
        try {
          const r = JSON.parse(line) as { entry: UsageEntry; reservation: Reservation | null; at: string }
          pending.push({ entry: r.entry, reservation: r.reservation, attempts: 0, at: new Date(r.at) })
        } catch {
          unreadable++
        }
      }
      for (let i = 0; i < pending.length; i += BATCH) {
        const batch = pending.slice(i, i + BATCH)
        this.#afterCommit(batch, await this.#write(batch))
      }
      replayed += pending.length
      // A line cut short (the process died mid-write) is the only kind expected; keep the file for an operator then.
      if (unreadable === 0) rmSync(claimed, { force: true })
      else this.#log.error({ file: claimed, unreadable }, 'spooled usage records could not be read; the file is kept for an operator')
    }
    if (replayed > 0) this.#log.warn({ replayed }, 'usage records spooled by an earlier process were written')
    return replayed
  }

  /** One transaction for the whole batch: the records and their budget settlements land together or not at all. */
  async #write(batch: Pending[]): Promise<BudgetRow[]> {
    const crossed = await this.#sql.begin(async (tx) => {
      const rows = batch.map(({ entry: e, at }) => ({
        id: e.id,
        created_at: at,
        request_id: e.requestId,
        source: e.source,
        api_key_id: e.apiKeyId,
        user_id: e.userId,
        model: e.model,
        provider: e.provider,
        endpoint: e.endpoint,
        prompt_tokens: e.promptTokens,
        completion_tokens: e.completionTokens,
        cost_micros: e.costMicros,
        latency_ms: e.latencyMs,
        ttft_ms: e.ttftMs,
        status: e.status,
        error_code: e.errorCode,
        is_tee: e.isTee,
        streamed: e.streamed,
      }))
      // One JSON parameter instead of 18 bound values per row: serialising the binds was most of the ledger's CPU.
      const inserted = new Set(
        (
          await tx<{ id: string }[]>`
            INSERT INTO usage_records (${tx.unsafe(COLUMNS)})
            SELECT ${tx.unsafe(COLUMNS)} FROM json_populate_recordset(NULL::usage_records, ${JSON.stringify(rows)}::text::json)
            ON CONFLICT (id) DO NOTHING RETURNING id`
        ).map((r) => r.id),
      )
      const settled = batch.filter((p) => inserted.has(p.entry.id) && p.reservation)
      return this.#budgets.settle(
        tx,
        settled.map((p) => ({ reservation: p.reservation as Reservation, actualMicros: charged(p.entry) })),
      )
    })
    return crossed
  }

  /**
   * Committed: every request of the batch is settled now (by this transaction, or by an earlier attempt that
   * committed without this replica hearing so), so its lease holds go. Nothing here may fail the batch: it is
   * written, and a retry would release the same holds twice.
   */
  #afterCommit(batch: Pending[], crossed: BudgetRow[]): void {
    try {
      this.#budgets.settled(batch.flatMap((p) => (p.reservation ? [{ reservation: p.reservation, actualMicros: charged(p.entry) }] : [])))
      this.#onRecorded(batch.map((p) => p.entry.userId))
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'after writing usage records')
    }
    void this.#warn(crossed).catch((err) => this.#log.error({ err: (err as Error).message }, 'budget warning not audited'))
  }

  async #warn(crossed: BudgetRow[]): Promise<void> {
    // The warning belongs to the budget, not to whichever request happened to cross the line.
    for (const b of crossed)
      await this.#audit.record(
        {
          action: 'budget.warning',
          outcome: 'success',
          actor: { label: 'usage-ledger', userId: b.user_id, apiKeyId: b.api_key_id },
          resource: { type: 'budget', id: b.id },
          details: { name: b.name, scope: b.scope, spent_micros: b.spent_micros, limit_micros: b.limit_micros, threshold_pct: b.warn_threshold_pct },
        },
        { requestId: `budget-warning-${b.id}`, ip: null, userAgent: null },
      )
  }

  /**
   * At shutdown: one last attempt, bounded by `deadlineMs`; what still cannot be written stays in the journal, synced,
   * which the next start writes (without a spool directory it is logged with its numbers, not silently lost).
   */
  async stop(deadlineMs = 2_000): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    await Promise.race([this.flush(), new Promise((r) => setTimeout(r, deadlineMs))])
    const journal = this.#journal
    this.#journal = null
    if (!this.#queue.length) {
      if (journal !== null) journal.close(true)
      if (this.#spoolFile !== null) rmSync(this.#spoolFile, { force: true })
      return
    }
    if (journal !== null) {
      journal.durable().close(false)
      this.#log.warn({ unwritten: this.#queue.length, file: this.#spoolFile }, 'usage records kept in the journal; the next start writes them')
    } else this.#log.error({ unwritten: this.#queue.map((p) => p.entry) }, 'usage records could not be written before shutdown')
  }
}

const charged = (e: UsageEntry) => e.chargedMicros ?? e.costMicros

const journalLine = (p: Pending) => `${JSON.stringify({ entry: p.entry, reservation: p.reservation, at: p.at.toISOString() })}\n`
