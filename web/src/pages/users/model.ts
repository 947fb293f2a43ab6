/** Users and roles as the admin pages see them, from the server's schemas. */
import type { RoleInfoSchema, UserSchema } from '../../../../src/users/model.ts'

export type UserRecord = typeof UserSchema.static

/** `assignable`: whether the signed-in person may grant this role (and so manage users who hold it). */
export type RoleInfo = typeof RoleInfoSchema.static

export const USERS = '/api-internal/v1/users'

/** What each permission lets a person do, in words; an unknown one is shown by its name. */
export const PERMISSION_TEXT: Record<string, string> = {
  'profile:read': 'See their own profile',
  'api_keys:read': 'See their own API keys',
  'api_keys:write': 'Create and change their own API keys',
  'api_keys:admin': 'See and change every user’s API keys',
  'users:read': 'See all users',
  'users:manage': 'Create, change, deactivate and delete users of a lower role',
  'audit:read': 'Read and export the audit log',
  'analytics:read_all': 'See everyone’s usage in the analytics',
  'settings:manage': 'Change platform settings',
  'plugins:manage': 'Install and configure plugins',
  'providers:manage': 'Configure inference providers',
  'llm:use': 'Chat and embed in the playground (charged to them)',
  'budgets:manage': 'Set global and per-user budgets',
  'rag:read': 'Search their own document collections',
  'rag:write': 'Create document collections and upload documents',
  'rag:admin': 'Manage every user’s document collections',
  'chatbots:use': 'Build and talk to their own chatbots',
  'chatbots:admin': 'Manage every user’s chatbots and their conversations',
  'mcp:use': 'Register their own MCP servers (public addresses) and use the shared ones',
  'mcp:admin': 'Manage every user’s MCP servers and share servers, also on the private network',
}

export const permissionText = (p: string) => PERMISSION_TEXT[p] ?? p

export function isLocked(u: UserRecord, now = Date.now()): boolean {
  return u.locked_until !== null && Date.parse(u.locked_until) > now
}
