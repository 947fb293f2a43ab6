import type postgres from 'postgres'
import type { SecretBox } from '../crypto/secretbox.ts'
import type { Sql, Tx } from '../db/client.ts'
import type { Logger } from '../log.ts'
import type { RoleRegistry } from '../roles/registry.ts'
import type { PlatformSettings } from '../settings/service.ts'
import { EVENT_TYPES, TEST_EVENT, type EventType } from './events.ts'
import { sendEmail, sendWebhook, type OutgoingEvent, type SendResult } from './senders.ts'

/** Waits before attempt n+1 after attempt n failed: about 11 hours from the first attempt to giving up. */
export const RETRY_DELAYS_MS = [10_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 10_800_000]
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1
/** How long a replica holds a delivery it claimed; one that died holding it loses it after this. */
const LEASE_MS = 60_000
const POLL_MS = 1_000
const BATCH = 10

export interface Notification {
  type: EventType
  /** One occurrence: raising it again (another replica, a retry) with the same key does nothing. */
  key: string
  /** The user it concerns (their budget, key, document); null for a platform event. */
  userId: string | null
  title: string
  data: Record<string, unknown>
}

export const secretContext = (channelId: string) => `notification-channel:${channelId}`

interface Claimed {
  id: string
  attempts: number
  channel_id: string
  channel_type: 'webhook' | 'email'
  target: string
  secret: string | null
  owner_id: string | null
  is_active: boolean
  event_id: string
  event_type: string
  title: string
  payload: Record<string, unknown>
  event_created_at: Date
}

/**
 * Notifications: events are raised once per occurrence (a unique key per occurrence, so a replica raising what another
 * already raised does nothing), fanned out in the same transaction to the outbox (one delivery per subscribed
 * channel) and to the dashboard inboxes. Each replica's worker claims due deliveries with FOR UPDATE SKIP LOCKED under
 * a lease, sends them (signed webhooks, email over SMTP), and records the outcome; a failure is retried with backoff
 * (RETRY_DELAYS_MS) until MAX_ATTEMPTS, and a replica that dies mid-delivery loses its lease to another. Delivery is
 * at least once (a replica killed between sending and recording sends again after the lease): receivers dedupe on
 * the event id in the body, or X-Enclava-Delivery.
 */
export class NotificationService {
  #timer: ReturnType<typeof setTimeout> | undefined
  #stopped = true
  #running: Promise<void> | null = null
  #again = false
  readonly #inFlight = new Set<Promise<unknown>>()
  /** Tests shorten the backoff. */
  retryDelaysMs: number[] = RETRY_DELAYS_MS

  constructor(
    readonly deps: { sql: Sql; box: SecretBox; log: Logger; settings: PlatformSettings; roles: RoleRegistry; replica: string },
  ) {}

  /**
   * Raises an event: recorded once (null when this occurrence was already raised), queued for every active channel
   * subscribed to it, and put in the inbox of those who should see it in the dashboard. Never throws: a notification
   * must not fail what raised it.
   */
  async emit(n: Notification): Promise<string | null> {
    try {
      const id = await this.deps.sql.begin((tx) => this.#record(tx, n))
      if (id) this.wake()
      return id
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message, event: n.type }, 'notification not recorded')
      return null
    }
  }

  async #record(tx: Tx, n: Notification): Promise<string | null> {
    const [event] = await tx<{ id: string }[]>`
      INSERT INTO notification_events (type, dedupe_key, user_id, title, payload)
      VALUES (${n.type}, ${n.key}, ${n.userId}, ${n.title}, ${tx.json(n.data as never)})
      ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`
    if (!event) return null
    const types = this.deps.settings.current.notification_channel_types
    // Platform-wide channels hear every event of their types; a user's own channel only the events about that user.
    await tx`
      INSERT INTO notification_deliveries (event_id, channel_id)
      SELECT ${event.id}, c.id FROM notification_channels c
      WHERE c.is_active AND ${n.type} = ANY(c.events) AND c.type = ANY(${types}::text[])
        AND (c.owner_id IS NULL OR (c.owner_id = ${n.userId}::uuid))`
    // The inbox: the user it concerns, or, for a platform event, everyone whose role holds its permission.
    const roles = n.userId === null ? this.deps.roles.rolesWith(EVENT_TYPES[n.type].permission) : []
    await tx`
      INSERT INTO notification_inbox (user_id, event_id)
      SELECT u.id, ${event.id} FROM users u LEFT JOIN notification_subscriptions s ON s.user_id = u.id
      WHERE u.is_active AND (u.id = ${n.userId}::uuid OR (${n.userId}::uuid IS NULL AND u.role = ANY(${roles}::text[])))
        AND (s.user_id IS NULL OR ${n.type} = ANY(s.events))
      ON CONFLICT DO NOTHING`
    return event.id
  }

  /** A test event for one channel, delivered now; returns the delivery's id. */
  async test(channelId: string, actorEmail: string): Promise<string> {
    const deliveryId = await this.deps.sql.begin(async (tx) => {
      const [event] = await tx<{ id: string }[]>`
        INSERT INTO notification_events (type, dedupe_key, user_id, title, payload)
        VALUES (${TEST_EVENT}, ${`test:${crypto.randomUUID()}`}, NULL, 'Test notification', ${tx.json({ message: `A test sent by ${actorEmail}`, channel_id: channelId })})
        RETURNING id`
      const [delivery] = await tx<{ id: string }[]>`
        INSERT INTO notification_deliveries (event_id, channel_id) VALUES (${event!.id}, ${channelId}) RETURNING id`
      return delivery!.id
    })
    const [claimed] = await this.#claim(this.deps.sql`d.id = ${deliveryId} AND d.status = 'pending'`)
    if (claimed) await this.#deliver(claimed)
    return deliveryId
  }

  start(): void {
    if (!this.#stopped) return
    this.#stopped = false
    this.wake()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#running
    await Promise.allSettled([...this.#inFlight])
  }

  /** Looks for due deliveries now instead of at the next poll. */
  wake(): void {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => this.#poll(), 0)
  }

  #poll(): void {
    if (this.#stopped) return
    if (this.#running) {
      this.#again = true
      return
    }
    this.#again = false
    this.#running = this.deliverDue()
      .then(() => undefined)
      .catch((err) => this.deps.log.warn({ err: (err as Error).message }, 'notification delivery poll failed'))
      .finally(() => {
        this.#running = null
        clearTimeout(this.#timer)
        if (!this.#stopped) {
          this.#timer = setTimeout(() => this.#poll(), this.#again ? 0 : POLL_MS)
          this.#timer.unref?.()
        }
      })
  }

  async #claim(where: postgres.PendingQuery<postgres.Row[]>): Promise<Claimed[]> {
    const sql = this.deps.sql
    return sql<Claimed[]>`
      WITH claimed AS (
        UPDATE notification_deliveries d SET status = 'delivering', attempts = d.attempts + 1, locked_by = ${this.deps.replica},
          lease_until = now() + ${LEASE_MS} * interval '1 millisecond', updated_at = now()
        WHERE d.id IN (SELECT d.id FROM notification_deliveries d WHERE ${where} ORDER BY d.next_attempt_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
        RETURNING d.id, d.attempts, d.channel_id, d.event_id
      )
      SELECT c.id, c.attempts, c.channel_id, ch.type AS channel_type, ch.target, ch.secret, ch.owner_id, ch.is_active,
             c.event_id, e.type AS event_type, e.title, e.payload, e.created_at AS event_created_at
      FROM claimed c JOIN notification_channels ch ON ch.id = c.channel_id JOIN notification_events e ON e.id = c.event_id`
  }

  /** Claims and sends every due delivery (in batches); returns how many were attempted. For the worker and tests. */
  async deliverDue(): Promise<number> {
    let attempted = 0
    for (;;) {
      const batch = await this.#claim(
        this.deps.sql`((d.status = 'pending' AND d.next_attempt_at <= now()) OR (d.status = 'delivering' AND d.lease_until < now()))`,
      )
      if (batch.length === 0) return attempted
      attempted += batch.length
      await Promise.all(batch.map((d) => this.#deliver(d)))
    }
  }

  async #deliver(d: Claimed): Promise<void> {
    const task = this.#send(d).then((result) => this.#finish(d, result))
    this.#inFlight.add(task)
    try {
      await task
    } catch (err) {
      this.deps.log.error({ delivery: d.id, err: (err as Error).message }, 'could not record a notification delivery')
    } finally {
      this.#inFlight.delete(task)
    }
  }

  async #send(d: Claimed): Promise<SendResult> {
    const settings = this.deps.settings.current
    if (!d.is_active) return { ok: false, status: null, error: 'the channel is deactivated' }
    if (!settings.notification_channel_types.includes(d.channel_type))
      return { ok: false, status: null, error: `${d.channel_type} channels are turned off in the settings (notification_channel_types)` }
    const event: OutgoingEvent = { id: d.event_id, type: d.event_type, title: d.title, created_at: d.event_created_at.toISOString(), data: d.payload }
    if (d.channel_type === 'email') return sendEmail(d.target, event, { ...settings, password: this.deps.settings.smtpPassword() })
    let secret: string
    try {
      secret = d.secret ? this.deps.box.open(d.secret, secretContext(d.channel_id)) : ''
    } catch {
      return { ok: false, status: null, error: 'the channel secret cannot be opened (ENCRYPTION_KEY changed?): rotate it' }
    }
    return sendWebhook(d.target, secret, event, { deliveryId: d.id, attempt: d.attempts, privateNetwork: d.owner_id === null })
  }

  async #finish(d: Claimed, result: SendResult): Promise<void> {
    const sql = this.deps.sql
    if (result.ok) {
      await sql`
        UPDATE notification_deliveries SET status = 'delivered', delivered_at = now(), response_status = ${result.status},
          last_error = NULL, lease_until = NULL, locked_by = NULL, updated_at = now()
        WHERE id = ${d.id} AND locked_by = ${this.deps.replica} AND status = 'delivering'`
      return
    }
    const final = d.attempts >= MAX_ATTEMPTS || d.event_type === TEST_EVENT || result.error === 'the channel is deactivated'
    const delay = this.retryDelaysMs[Math.min(d.attempts - 1, this.retryDelaysMs.length - 1)] ?? 60_000
    this.deps.log.warn({ delivery: d.id, channel: d.channel_id, attempt: d.attempts, final, err: result.error }, 'notification delivery failed')
    await sql`
      UPDATE notification_deliveries SET status = ${final ? 'failed' : 'pending'}, response_status = ${result.status},
        last_error = ${(result.error ?? 'failed').slice(0, 1000)}, lease_until = NULL, locked_by = NULL, updated_at = now(),
        next_attempt_at = ${final ? sql`next_attempt_at` : sql`now() + ${delay} * interval '1 millisecond'`}
      WHERE id = ${d.id} AND locked_by = ${this.deps.replica} AND status = 'delivering'`
  }
}
