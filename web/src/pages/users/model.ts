/** Users and roles as the admin pages see them. */

export interface UserRecord {
  id: string
  email: string
  username: string
  role: string
  is_active: boolean
  force_password_change: boolean
  failed_login_count: number
  locked_until: string | null
  created_at: string
  updated_at: string
  last_login_at: string | null
}

export interface RoleInfo {
  role: string
  permissions: string[]
  /** Whether the signed-in person may grant this role (and so manage users who hold it). */
  assignable: boolean
}

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
}

export const permissionText = (p: string) => PERMISSION_TEXT[p] ?? p

export function isLocked(u: UserRecord, now = Date.now()): boolean {
  return u.locked_until !== null && Date.parse(u.locked_until) > now
}
