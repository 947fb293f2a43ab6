import { randomBytes } from 'node:crypto'
import { changes } from '../audit/changes.ts'
import dns from 'node:dns'
import { isIP } from 'node:net'
import type { AuditLog } from '../audit/service.ts'
import { holds } from '../auth/roles.ts'
import type { SecretBox } from '../crypto/secretbox.ts'
import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import { isPublicAddress } from '../plugins/net-guard.ts'
import type { PlatformSettings } from '../settings/service.ts'
import type { UserRow } from '../users/service.ts'
import { EVENT_NAMES, EVENT_TYPES, isEventType, USER_EVENTS, type EventType } from './events.ts'
import type { ChannelViewValue, CreateChannelInput, DeliveryViewValue, UpdateChannelInput } from './model.ts'
import { secretContext } from './service.ts'

type Actor = Pick<UserRow, 'id' | 'email' | 'role' | 'permissions'>

interface ChannelRow {
  id: string
  owner_id: string | null
  name: string
  type: 'webhook' | 'email'
  target: string
  secret: string | null
  events: string[]
  is_active: boolean
  created_at: Date
  updated_at: Date
  last_status: string | null
  last_at: Date | null
}

const EMAIL = /^[^\s@<>,;]+@[^\s@<>,;]+\.[^\s@<>,;]+$/
const LOOKUP_TIMEOUT_MS = 3_000

const newSecret = () => `whsec_${randomBytes(32).toString('base64url')}`

function present(row: ChannelRow): ChannelViewValue {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    scope: row.owner_id === null ? 'admin' : 'user',
    url: row.type === 'webhook' ? row.target : null,
    address: row.type === 'email' ? row.target : null,
    events: row.events,
    is_active: row.is_active,
    has_secret: row.secret !== null,
    created_at: row.created_at,
    updated_at: row.updated_at,
    last_delivery: row.last_status && row.last_at ? { status: row.last_status, at: row.last_at } : null,
  }
}

/** The events a user may receive: every user event, and the platform events whose permission their role holds. */
export function availableEvents(actor: Actor): EventType[] {
  return EVENT_NAMES.filter((e) => EVENT_TYPES[e].audience === 'user' || holds(actor, EVENT_TYPES[e].permission))
}

/**
 * Notification channels (a user's own, or platform-wide ones of administrators), the delivery log, the dashboard
 * inbox and inbox subscriptions. Another user's channel, delivery or notification is a 404.
 */
export class NotificationChannels {
  readonly lookup: (host: string) => Promise<{ address: string }[]> = (host) => dns.promises.lookup(host, { all: true, verbatim: true })

  constructor(readonly deps: { sql: Sql; box: SecretBox; audit: AuditLog; settings: PlatformSettings }) {}

  #isAdmin = (actor: Actor) => holds(actor, 'settings:manage')

  #checkEvents(events: string[], scope: 'user' | 'admin'): EventType[] {
    events.forEach((e, i) => {
      if (!isEventType(e)) throw new ApiError('validation_failed', `events[${i}]: "${e}" is not an event; the events are ${EVENT_NAMES.join(', ')}`, `events[${i}]`)
      if (scope === 'user' && !USER_EVENTS.includes(e))
        throw new ApiError(
          'validation_failed',
          `events[${i}]: ${e} is a platform event: only a platform-wide channel (scope "admin") hears it; your own channels hear ${USER_EVENTS.join(', ')}`,
          `events[${i}]`,
        )
    })
    return [...new Set(events)] as EventType[]
  }

  /**
   * A webhook URL: http(s), no credentials in it. A user's channel must reach a public address (refused here when its
   * host is or resolves to a private one, and again by the network guard on every delivery); an administrator's
   * platform-wide channel may name a private host exactly.
   */
  async #checkUrl(raw: string, scope: 'user' | 'admin'): Promise<string> {
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      throw new ApiError('validation_failed', `url: "${raw.slice(0, 100)}" is not a URL`, 'url')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ApiError('validation_failed', 'url: must be http or https', 'url')
    if (url.username || url.password) throw new ApiError('validation_failed', 'url: may not carry credentials; the signature (secret) authenticates Enclava', 'url')
    if (scope === 'admin') return url.toString()
    const host = url.hostname.replace(/^\[|\]$/g, '')
    let addresses: string[]
    try {
      addresses = isIP(host)
        ? [host]
        : (await Promise.race([this.lookup(host), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), LOOKUP_TIMEOUT_MS))])).map((a) => a.address)
    } catch {
      // A name that does not resolve now is accepted: the guard decides on each delivery.
      return url.toString()
    }
    const refused = addresses.find((a) => !isPublicAddress(a))
    if (refused !== undefined)
      throw new ApiError(
        'validation_failed',
        `url: reaches ${refused}, a private or loopback address; only an administrator's platform-wide channel may deliver to the private network`,
        'url',
      )
    return url.toString()
  }

  #checkAddress(address: string): string {
    if (!EMAIL.test(address)) throw new ApiError('validation_failed', `address: "${address.slice(0, 100)}" is not an email address`, 'address')
    return address
  }

  async #target(type: 'webhook' | 'email', input: { url?: string | undefined; address?: string | undefined }, scope: 'user' | 'admin'): Promise<string> {
    if (type === 'webhook') {
      if (input.address !== undefined) throw new ApiError('validation_failed', 'address: a webhook channel has a url, not an address', 'address')
      if (input.url === undefined) throw new ApiError('validation_failed', 'url: a webhook channel needs the URL events are POSTed to', 'url')
      return this.#checkUrl(input.url, scope)
    }
    if (input.url !== undefined) throw new ApiError('validation_failed', 'url: an email channel has an address, not a url', 'url')
    if (input.address === undefined) throw new ApiError('validation_failed', 'address: an email channel needs the address events are mailed to', 'address')
    return this.#checkAddress(input.address)
  }

  async #row(id: string): Promise<ChannelRow | undefined> {
    const [row] = await this.deps.sql<ChannelRow[]>`
      SELECT c.*, d.status AS last_status, d.updated_at AS last_at FROM notification_channels c
      LEFT JOIN LATERAL (SELECT status, updated_at FROM notification_deliveries WHERE channel_id = c.id ORDER BY created_at DESC LIMIT 1) d ON true
      WHERE c.id = ${id}`
    return row
  }

  /** A channel the actor may see and change: their own, or (settings:manage) a platform-wide one. */
  async #get(actor: Actor, id: string): Promise<ChannelRow> {
    const row = await this.#row(id)
    if (!row || (row.owner_id === null ? !this.#isAdmin(actor) : row.owner_id !== actor.id)) throw new ApiError('not_found', `Notification channel ${id} not found`)
    return row
  }

  async list(actor: Actor, scope: 'user' | 'admin'): Promise<ChannelViewValue[]> {
    if (scope === 'admin' && !this.#isAdmin(actor))
      throw new ApiError('permission_denied', `Your role (${actor.role}) lacks the permission settings:manage (platform-wide channels)`, 'scope')
    const rows = await this.deps.sql<ChannelRow[]>`
      SELECT c.*, d.status AS last_status, d.updated_at AS last_at FROM notification_channels c
      LEFT JOIN LATERAL (SELECT status, updated_at FROM notification_deliveries WHERE channel_id = c.id ORDER BY created_at DESC LIMIT 1) d ON true
      WHERE ${scope === 'admin' ? this.deps.sql`c.owner_id IS NULL` : this.deps.sql`c.owner_id = ${actor.id}`}
      ORDER BY c.created_at, c.id`
    return rows.map(present)
  }

  async get(actor: Actor, id: string): Promise<ChannelViewValue> {
    return present(await this.#get(actor, id))
  }

  async create(actor: Actor, input: CreateChannelInput, meta: RequestMeta): Promise<ChannelViewValue & { secret: string | null }> {
    const scope = input.scope ?? 'user'
    const settings = this.deps.settings.current
    if (scope === 'admin' && !this.#isAdmin(actor))
      throw new ApiError('permission_denied', `A platform-wide channel needs settings:manage, which your role (${actor.role}) lacks`, 'scope')
    if (scope === 'user' && !settings.notification_user_channels && !this.#isAdmin(actor))
      throw new ApiError('permission_denied', 'An administrator turned off users’ own notification channels (the setting notification_user_channels)', 'scope')
    if (!settings.notification_channel_types.includes(input.type))
      throw new ApiError('validation_failed', `type: ${input.type} channels are turned off in the settings (notification_channel_types)`, 'type')
    const events = this.#checkEvents(input.events, scope)
    const target = await this.#target(input.type, input, scope)
    if (input.type === 'email' && input.secret !== undefined) throw new ApiError('validation_failed', 'secret: only a webhook channel is signed', 'secret')
    const secret = input.type === 'webhook' ? (input.secret ?? newSecret()) : null
    const id = crypto.randomUUID()
    await this.deps.sql`
      INSERT INTO notification_channels (id, owner_id, name, type, target, secret, events, is_active, created_by)
      VALUES (${id}, ${scope === 'admin' ? null : actor.id}, ${input.name}, ${input.type}, ${target},
              ${secret === null ? null : this.deps.box.seal(secret, secretContext(id))}, ${events}, ${input.is_active ?? true}, ${actor.id})`
    await this.#audit(actor, 'notification.channel_create', id, meta, { name: input.name, type: input.type, scope, events })
    // The secret is shown once: the one the caller chose, or the generated one.
    return { ...(await this.get(actor, id)), secret }
  }

  async update(actor: Actor, id: string, patch: UpdateChannelInput, meta: RequestMeta): Promise<ChannelViewValue> {
    const row = await this.#get(actor, id)
    const before = await this.get(actor, id)
    const scope = row.owner_id === null ? 'admin' : 'user'
    const events = patch.events ? this.#checkEvents(patch.events, scope) : row.events
    const target = patch.url !== undefined || patch.address !== undefined ? await this.#target(row.type, patch, scope) : row.target
    await this.deps.sql`
      UPDATE notification_channels SET name = ${patch.name ?? row.name}, target = ${target}, events = ${events},
        is_active = ${patch.is_active ?? row.is_active}, updated_at = now()
      WHERE id = ${id}`
    const after = await this.get(actor, id)
    const fields = Object.keys(patch)
    await this.#audit(actor, 'notification.channel_update', id, meta, { fields, changes: changes(before, after, fields) })
    return after
  }

  async rotateSecret(actor: Actor, id: string, meta: RequestMeta): Promise<ChannelViewValue & { secret: string | null }> {
    const row = await this.#get(actor, id)
    if (row.type !== 'webhook') throw new ApiError('invalid_request', 'Only a webhook channel has a secret', 'id')
    const secret = newSecret()
    await this.deps.sql`UPDATE notification_channels SET secret = ${this.deps.box.seal(secret, secretContext(id))}, updated_at = now() WHERE id = ${id}`
    await this.#audit(actor, 'notification.channel_rotate_secret', id, meta, {})
    return { ...(await this.get(actor, id)), secret }
  }

  async delete(actor: Actor, id: string, meta: RequestMeta): Promise<void> {
    await this.#get(actor, id)
    await this.deps.sql`DELETE FROM notification_channels WHERE id = ${id}`
    await this.#audit(actor, 'notification.channel_delete', id, meta, {})
  }

  /** Checks the actor may test the channel; the caller sends the test. */
  async assertOwn(actor: Actor, id: string): Promise<void> {
    await this.#get(actor, id)
  }

  async deliveries(
    actor: Actor,
    q: { channel_id?: string | undefined; status?: string | undefined; scope?: 'user' | 'admin' | undefined; limit: number; offset: number },
  ): Promise<{ items: DeliveryViewValue[]; total: number }> {
    const scope = q.scope ?? 'user'
    if (scope === 'admin' && !this.#isAdmin(actor))
      throw new ApiError('permission_denied', `Your role (${actor.role}) lacks the permission settings:manage (platform-wide channels)`, 'scope')
    const sql = this.deps.sql
    const where = sql`
      WHERE ${scope === 'admin' ? sql`c.owner_id IS NULL` : sql`c.owner_id = ${actor.id}`}
        AND (${q.channel_id ?? null}::uuid IS NULL OR d.channel_id = ${q.channel_id ?? null}::uuid)
        AND (${q.status ?? null}::text IS NULL OR d.status = ${q.status ?? null})`
    const rows = await sql<
      (Omit<DeliveryViewValue, 'channel' | 'event'> & { channel_id: string; channel_name: string; channel_type: string; event_id: string; event_type: string; event_title: string; event_created_at: Date })[]
    >`
      SELECT d.id, d.status, d.attempts, d.next_attempt_at, d.last_error, d.response_status, d.created_at, d.updated_at, d.delivered_at,
             c.id AS channel_id, c.name AS channel_name, c.type AS channel_type,
             e.id AS event_id, e.type AS event_type, e.title AS event_title, e.created_at AS event_created_at
      FROM notification_deliveries d JOIN notification_channels c ON c.id = d.channel_id JOIN notification_events e ON e.id = d.event_id
      ${where}
      ORDER BY d.created_at DESC, d.id LIMIT ${q.limit} OFFSET ${q.offset}`
    const [count] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM notification_deliveries d JOIN notification_channels c ON c.id = d.channel_id ${where}`
    return {
      items: rows.map((r) => ({
        id: r.id,
        status: r.status,
        attempts: r.attempts,
        next_attempt_at: r.status === 'pending' ? r.next_attempt_at : null,
        last_error: r.last_error,
        response_status: r.response_status,
        created_at: r.created_at,
        updated_at: r.updated_at,
        delivered_at: r.delivered_at,
        channel: { id: r.channel_id, name: r.channel_name, type: r.channel_type },
        event: { id: r.event_id, type: r.event_type, title: r.event_title, created_at: r.event_created_at },
      })),
      total: count?.n ?? 0,
    }
  }

  /** A failed delivery goes back to the queue, with a fresh set of attempts. */
  async retry(actor: Actor, deliveryId: string, meta: RequestMeta): Promise<void> {
    const [row] = await this.deps.sql<{ channel_id: string; status: string }[]>`SELECT channel_id, status FROM notification_deliveries WHERE id = ${deliveryId}`
    if (!row) throw new ApiError('not_found', `Delivery ${deliveryId} not found`)
    await this.#get(actor, row.channel_id).catch(() => {
      throw new ApiError('not_found', `Delivery ${deliveryId} not found`)
    })
    if (row.status !== 'failed') throw new ApiError('conflict', `The delivery is ${row.status}; only a failed one can be retried`)
    await this.deps.sql`
      UPDATE notification_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
      WHERE id = ${deliveryId} AND status = 'failed'`
    await this.#audit(actor, 'notification.delivery_retry', row.channel_id, meta, { delivery_id: deliveryId })
  }

  async inbox(actor: Actor, q: { unread?: boolean | undefined; limit: number; offset: number }) {
    const sql = this.deps.sql
    const where = sql`WHERE i.user_id = ${actor.id} ${q.unread ? sql`AND i.read_at IS NULL` : sql``}`
    const items = await sql<{ id: string; type: string; title: string; data: Record<string, unknown>; created_at: Date; read_at: Date | null }[]>`
      SELECT i.id, e.type, e.title, e.payload AS data, i.created_at, i.read_at
      FROM notification_inbox i JOIN notification_events e ON e.id = i.event_id ${where}
      ORDER BY i.created_at DESC, i.id LIMIT ${q.limit} OFFSET ${q.offset}`
    const [count] = await sql<{ total: number; unread: number }[]>`
      SELECT count(*)::int AS total, count(*) FILTER (WHERE read_at IS NULL)::int AS unread FROM notification_inbox WHERE user_id = ${actor.id}`
    return { data: [...items], total: count?.total ?? 0, unread: count?.unread ?? 0 }
  }

  async markRead(actor: Actor, id: string | null): Promise<number> {
    const rows = await this.deps.sql`
      UPDATE notification_inbox SET read_at = now()
      WHERE user_id = ${actor.id} AND read_at IS NULL AND (${id}::uuid IS NULL OR id = ${id}::uuid)`
    if (id !== null && rows.count === 0) {
      const [exists] = await this.deps.sql`SELECT 1 FROM notification_inbox WHERE id = ${id} AND user_id = ${actor.id}`
      if (!exists) throw new ApiError('not_found', `Notification ${id} not found`)
    }
    return rows.count
  }

  async subscriptions(actor: Actor): Promise<{ events: EventType[]; available: EventType[] }> {
    const available = availableEvents(actor)
    const [row] = await this.deps.sql<{ events: string[] }[]>`SELECT events FROM notification_subscriptions WHERE user_id = ${actor.id}`
    return { events: row ? row.events.filter(isEventType).filter((e) => available.includes(e)) : available, available }
  }

  async subscribe(actor: Actor, events: string[]): Promise<{ events: EventType[]; available: EventType[] }> {
    const available = availableEvents(actor)
    events.forEach((e, i) => {
      if (!isEventType(e)) throw new ApiError('validation_failed', `events[${i}]: "${e}" is not an event; the events are ${EVENT_NAMES.join(', ')}`, `events[${i}]`)
      if (!available.includes(e))
        throw new ApiError('validation_failed', `events[${i}]: ${e} needs the permission ${EVENT_TYPES[e].permission}, which your role lacks`, `events[${i}]`)
    })
    await this.deps.sql`
      INSERT INTO notification_subscriptions (user_id, events, updated_at) VALUES (${actor.id}, ${[...new Set(events)]}, now())
      ON CONFLICT (user_id) DO UPDATE SET events = excluded.events, updated_at = now()`
    return this.subscriptions(actor)
  }

  #audit(actor: Actor, action: string, id: string, meta: RequestMeta, details: Record<string, unknown>) {
    return this.deps.audit.record(
      { action, outcome: 'success', actor: { userId: actor.id, label: actor.email }, resource: { type: 'notification_channel', id }, details },
      meta,
    )
  }
}
