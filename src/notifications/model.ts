import { t } from 'elysia'

const Events = t.Array(t.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 20, description: 'event types (GET /notifications/event-types)' })

export const CreateChannelBody = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 100 }),
    type: t.Union([t.Literal('webhook'), t.Literal('email')]),
    /** webhook: where events are POSTed (http or https). */
    url: t.Optional(t.String({ minLength: 8, maxLength: 2000 })),
    /** email: where events are mailed. */
    address: t.Optional(t.String({ minLength: 3, maxLength: 254 })),
    /** webhook: the HMAC key of X-Enclava-Signature; omitted: one is generated and returned once. */
    secret: t.Optional(t.String({ minLength: 16, maxLength: 256 })),
    events: Events,
    /** user (default): your own channel, for events that concern you; admin: platform-wide (settings:manage). */
    scope: t.Optional(t.Union([t.Literal('user'), t.Literal('admin')])),
    is_active: t.Optional(t.Boolean()),
  },
  { additionalProperties: false },
)
export type CreateChannelInput = typeof CreateChannelBody.static

export const UpdateChannelBody = t.Object(
  {
    name: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
    url: t.Optional(t.String({ minLength: 8, maxLength: 2000 })),
    address: t.Optional(t.String({ minLength: 3, maxLength: 254 })),
    events: t.Optional(Events),
    is_active: t.Optional(t.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type UpdateChannelInput = typeof UpdateChannelBody.static

export const ChannelView = t.Object({
  id: t.String(),
  name: t.String(),
  type: t.Union([t.Literal('webhook'), t.Literal('email')]),
  scope: t.Union([t.Literal('user'), t.Literal('admin')]),
  url: t.Nullable(t.String()),
  address: t.Nullable(t.String()),
  events: t.Array(t.String()),
  is_active: t.Boolean(),
  has_secret: t.Boolean(),
  created_at: t.Date(),
  updated_at: t.Date(),
  /** The last delivery's status, for the list. */
  last_delivery: t.Nullable(t.Object({ status: t.String(), at: t.Date() })),
})
export type ChannelViewValue = typeof ChannelView.static

/** The webhook secret, shown only in the answer to create and rotate-secret. */
export const ChannelWithSecret = t.Composite([ChannelView, t.Object({ secret: t.Nullable(t.String()) })])

export const DeliveryStatus = t.Union([t.Literal('pending'), t.Literal('delivering'), t.Literal('delivered'), t.Literal('failed')])

export const DeliveryView = t.Object({
  id: t.String(),
  status: DeliveryStatus,
  attempts: t.Integer(),
  next_attempt_at: t.Nullable(t.Date()),
  last_error: t.Nullable(t.String()),
  response_status: t.Nullable(t.Integer()),
  created_at: t.Date(),
  updated_at: t.Date(),
  delivered_at: t.Nullable(t.Date()),
  channel: t.Object({ id: t.String(), name: t.String(), type: t.String() }),
  event: t.Object({ id: t.String(), type: t.String(), title: t.String(), created_at: t.Date() }),
})
export type DeliveryViewValue = typeof DeliveryView.static

export const DeliveryQuery = t.Object({
  channel_id: t.Optional(t.String({ format: 'uuid' })),
  status: t.Optional(DeliveryStatus),
  /** admin: deliveries of platform-wide channels (settings:manage); user (default): of your own channels. */
  scope: t.Optional(t.Union([t.Literal('user'), t.Literal('admin')])),
  limit: t.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: t.Integer({ minimum: 0, default: 0 }),
})

export const InboxItem = t.Object({
  id: t.String(),
  type: t.String(),
  title: t.String(),
  data: t.Record(t.String(), t.Unknown()),
  created_at: t.Date(),
  read_at: t.Nullable(t.Date()),
})

export const InboxQuery = t.Object({
  unread: t.Optional(t.Boolean()),
  limit: t.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: t.Integer({ minimum: 0, default: 0 }),
})

export const SubscriptionsBody = t.Object({ events: t.Array(t.String({ minLength: 1, maxLength: 64 }), { maxItems: 20 }) }, { additionalProperties: false })

export const EventTypeView = t.Object({
  type: t.String(),
  title: t.String(),
  description: t.String(),
  audience: t.Union([t.Literal('user'), t.Literal('platform')]),
  /** Whether you may receive it (in your inbox, and on your own channels when it is a user event). */
  available: t.Boolean(),
})
