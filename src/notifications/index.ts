import { Elysia, t } from 'elysia'
import { guards } from '../auth/guards.ts'
import type { Services } from '../services.ts'
import { availableEvents } from './channels.ts'
import { EVENT_NAMES, EVENT_TYPES } from './events.ts'
import {
  ChannelView,
  ChannelWithSecret,
  CreateChannelBody,
  DeliveryQuery,
  DeliveryView,
  EventTypeView,
  InboxItem,
  InboxQuery,
  SubscriptionsBody,
  UpdateChannelBody,
} from './model.ts'

const IdParams = t.Object({ id: t.String({ format: 'uuid' }) })
const ScopeQuery = t.Object({ scope: t.Optional(t.Union([t.Literal('user'), t.Literal('admin')])) })
const Subscriptions = t.Object({ events: t.Array(t.String()), available: t.Array(t.String()) })

/**
 * Notifications (`/api-internal/v1/notifications`): your channels (webhook, email) for events that concern you and,
 * with settings:manage, platform-wide channels; the delivery log; the dashboard inbox and which events it shows.
 */
export function notificationRoutes(s: Services) {
  const ch = s.notificationChannels
  return new Elysia({ prefix: '/api-internal/v1/notifications', tags: ['notifications'] })
    .use(guards(s.guardDeps))
    .model({ NotificationChannel: ChannelView, NotificationDelivery: DeliveryView })
    .get(
      '/event-types',
      ({ user }) => {
        const available = availableEvents(user)
        return { data: EVENT_NAMES.map((type) => ({ type, ...EVENT_TYPES[type], available: available.includes(type) })) }
      },
      {
        permission: 'profile:read',
        response: t.Object({ data: t.Array(EventTypeView) }),
        detail: { summary: 'The events notifications are about, and which of them you may receive' },
      },
    )
    .get('/channels', async ({ user, query }) => ({ data: await ch.list(user, query.scope ?? 'user') }), {
      permission: 'profile:read',
      query: ScopeQuery,
      response: t.Object({ data: t.Array(ChannelView) }),
      detail: { summary: 'Your notification channels, or (scope=admin, settings:manage) the platform-wide ones' },
    })
    .post(
      '/channels',
      async ({ user, body, meta, set }) => {
        const created = await ch.create(user, body, meta)
        set.status = 201
        return created
      },
      {
        permission: 'profile:read',
        body: CreateChannelBody,
        response: { 201: ChannelWithSecret },
        detail: {
          summary: 'Add a webhook or email channel (the webhook secret is returned once)',
          description:
            'Webhooks are POSTed as JSON and signed: X-Enclava-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" ' +
            'under the secret>. Your own channels hear events about you (budget.warning, budget.exhausted, key.expiring, ' +
            'document.failed) and must reach a public address; platform-wide ones (scope "admin", settings:manage) hear every ' +
            'event of their types and may name a private host exactly.',
        },
      },
    )
    .get('/channels/:id', ({ user, params }) => ch.get(user, params.id), {
      permission: 'profile:read',
      params: IdParams,
      response: ChannelView,
      detail: { summary: 'One channel' },
    })
    .patch('/channels/:id', ({ user, params, body, meta }) => ch.update(user, params.id, body, meta), {
      permission: 'profile:read',
      params: IdParams,
      body: UpdateChannelBody,
      response: ChannelView,
      detail: { summary: 'Change a channel: name, url or address, events, active' },
    })
    .delete(
      '/channels/:id',
      async ({ user, params, meta, set }) => {
        await ch.delete(user, params.id, meta)
        set.status = 204
      },
      { permission: 'profile:read', params: IdParams, detail: { summary: 'Remove a channel and its delivery log' } },
    )
    .post('/channels/:id/rotate-secret', ({ user, params, meta }) => ch.rotateSecret(user, params.id, meta), {
      permission: 'profile:read',
      params: IdParams,
      response: ChannelWithSecret,
      detail: { summary: "Replace a webhook channel's secret (returned once)" },
    })
    .post(
      '/channels/:id/test',
      async ({ user, params }) => {
        await ch.assertOwn(user, params.id)
        const deliveryId = await s.notifications.test(params.id, user.email)
        const { items } = await ch.deliveries(user, { channel_id: params.id, limit: 200, offset: 0, scope: (await ch.get(user, params.id)).scope })
        return items.find((d) => d.id === deliveryId) ?? items[0]!
      },
      {
        permission: 'profile:read',
        params: IdParams,
        response: DeliveryView,
        detail: { summary: 'Send a test event to the channel now; the answer is the delivery with its outcome' },
      },
    )
    .get(
      '/deliveries',
      async ({ user, query }) => {
        const { limit, offset } = query
        const { items, total } = await ch.deliveries(user, query)
        return { data: items, total, limit, offset }
      },
      {
        permission: 'profile:read',
        query: DeliveryQuery,
        response: t.Object({ data: t.Array(DeliveryView), total: t.Integer(), limit: t.Integer(), offset: t.Integer() }),
        detail: { summary: 'The delivery log, newest first: each attempt count, status, error and the receiver’s answer' },
      },
    )
    .post(
      '/deliveries/:id/retry',
      async ({ user, params, meta, set }) => {
        await ch.retry(user, params.id, meta)
        s.notifications.wake()
        set.status = 202
        return { status: 'pending' }
      },
      { permission: 'profile:read', params: IdParams, detail: { summary: 'Queue a failed delivery again' } },
    )
    .get('/subscriptions', ({ user }) => ch.subscriptions(user), {
      permission: 'profile:read',
      response: Subscriptions,
      detail: { summary: 'The events your dashboard inbox shows (and those you may choose from)' },
    })
    .put('/subscriptions', ({ user, body }) => ch.subscribe(user, body.events), {
      permission: 'profile:read',
      body: SubscriptionsBody,
      response: Subscriptions,
      detail: { summary: 'Choose the events your dashboard inbox shows' },
    })
    .get('/', ({ user, query }) => ch.inbox(user, query), {
      permission: 'profile:read',
      query: InboxQuery,
      response: t.Object({ data: t.Array(InboxItem), total: t.Integer(), unread: t.Integer() }),
      detail: { summary: 'Your dashboard notifications, newest first, with the unread count' },
    })
    .post('/read-all', async ({ user }) => ({ marked: await ch.markRead(user, null) }), {
      permission: 'profile:read',
      response: t.Object({ marked: t.Integer() }),
      detail: { summary: 'Mark every notification read' },
    })
    .post('/:id/read', async ({ user, params }) => ({ marked: await ch.markRead(user, params.id) }), {
      permission: 'profile:read',
      params: IdParams,
      response: t.Object({ marked: t.Integer() }),
      detail: { summary: 'Mark one notification read' },
    })
}
