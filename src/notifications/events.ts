import type { Permission } from '../auth/roles.ts'

/**
 * The events a notification can be about. `user` events concern one user (their budget, key, document) and may go
 * to that user's own channels and inbox; platform events go to platform-wide channels and to the inbox of users
 * whose role holds `permission`. A budget event about a global budget is a platform event (budgets:manage).
 */
export const EVENT_TYPES = {
  'budget.warning': { title: 'Budget warning', description: 'A budget passed its warning threshold', audience: 'user', permission: 'budgets:manage' },
  'budget.exhausted': { title: 'Budget exhausted', description: 'A budget is spent: a hard one refuses requests until it renews', audience: 'user', permission: 'budgets:manage' },
  'key.expiring': { title: 'API key expiring', description: 'An API key expires within 7 days', audience: 'user', permission: 'api_keys:admin' },
  'provider.down': { title: 'Provider down', description: "An inference provider's circuit opened: its requests are paused", audience: 'platform', permission: 'providers:manage' },
  'provider.recovered': { title: 'Provider recovered', description: 'A provider that was down answers again', audience: 'platform', permission: 'providers:manage' },
  'plugin.disabled': { title: 'Plugin disabled', description: 'A plugin was disabled automatically (repeated limit violations) or quarantined (crashes)', audience: 'platform', permission: 'plugins:manage' },
  'security.event': { title: 'Security event', description: 'A medium or high severity security event (blocks, suspensions, DLP blocks, lockouts, ...)', audience: 'platform', permission: 'audit:read' },
  'document.failed': { title: 'Document failed', description: 'A document could not be indexed', audience: 'user', permission: 'rag:admin' },
} as const satisfies Record<string, { title: string; description: string; audience: 'user' | 'platform'; permission: Permission }>

export type EventType = keyof typeof EVENT_TYPES
export const EVENT_NAMES = Object.keys(EVENT_TYPES) as EventType[]
export const USER_EVENTS = EVENT_NAMES.filter((e) => EVENT_TYPES[e].audience === 'user')
export const isEventType = (e: string): e is EventType => e in EVENT_TYPES
/** Sent by "test" on a channel; never subscribed to. */
export const TEST_EVENT = 'notification.test'
