import type { Wire } from '../../api.ts'
import type { ChannelView, DeliveryView, EventTypeView, InboxItem } from '../../../../src/notifications/model.ts'

export type Channel = Wire<typeof ChannelView.static>
export type Delivery = Wire<typeof DeliveryView.static>
export type EventType = typeof EventTypeView.static
export type Notification = Wire<typeof InboxItem.static>
export type Scope = 'user' | 'admin'

export const N = '/api-internal/v1/notifications'
