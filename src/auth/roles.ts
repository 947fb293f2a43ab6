export const ROLES = ['read_only', 'user', 'admin', 'super_admin'] as const
export type Role = (typeof ROLES)[number]

export const PERMISSIONS = [
  'profile:read',
  'api_keys:read',
  'api_keys:write',
  /** See and change every user's keys, not only one's own. */
  'api_keys:admin',
  'users:read',
  'users:manage',
  'audit:read',
  /** Everyone's usage in the analytics, not only one's own. */
  'analytics:read_all',
  'settings:manage',
  'plugins:manage',
  'providers:manage',
  /** Chat and embeddings in the dashboard's playground, charged to the user. */
  'llm:use',
  /** Global and per-user budgets. */
  'budgets:manage',
  /** Own document collections and search over them. */
  'rag:read',
  'rag:write',
  /** Every user's collections. */
  'rag:admin',
  /** Own chatbots: build them and talk to them. */
  'chatbots:use',
  /** Every user's chatbots and their conversations. */
  'chatbots:admin',
  /** Own agents: build them and run them (their tools act under one's own grants). */
  'agents:use',
  /** Every user's agents and their runs. */
  'agents:admin',
  /** Own MCP servers (public addresses only), and the shared ones. */
  'mcp:use',
  /** Every user's MCP servers; shared servers, which may be on the private network. */
  'mcp:admin',
] as const
export type Permission = (typeof PERMISSIONS)[number]

const readOnly: Permission[] = ['profile:read', 'api_keys:read', 'rag:read']
const user: Permission[] = [...readOnly, 'api_keys:write', 'llm:use', 'rag:write', 'chatbots:use', 'agents:use', 'mcp:use']
const admin: Permission[] = [
  ...user,
  'api_keys:admin',
  'users:read',
  'users:manage',
  'audit:read',
  'analytics:read_all',
  'settings:manage',
  'plugins:manage',
  'providers:manage',
  'budgets:manage',
  'rag:admin',
  'chatbots:admin',
  'agents:admin',
  'mcp:admin',
]

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  read_only: new Set(readOnly),
  user: new Set(user),
  admin: new Set(admin),
  super_admin: new Set(PERMISSIONS),
}

/** Built-in roles only: a custom role (src/roles) is known to the replica's RoleRegistry, which routes consult. */
export function can(role: Role, permission: Permission): boolean {
  return GRANTS[role]?.has(permission) ?? false
}

export function permissionsOf(role: Role): Permission[] {
  return [...GRANTS[role]]
}

const rank = (role: Role) => ROLES.indexOf(role)

/**
 * Who may manage whom: a super_admin manages everyone; anyone else manages only users below their own rank
 * and hands out only roles below their own. Nobody changes their own role or active state.
 */
export function canManage(actor: { id: string; role: Role }, target: { id: string; role: Role }): boolean {
  if (actor.id === target.id) return false
  return actor.role === 'super_admin' || rank(target.role) < rank(actor.role)
}

export function canAssign(actor: { role: Role }, role: Role): boolean {
  return actor.role === 'super_admin' || rank(role) < rank(actor.role)
}

export const isBuiltinRole = (role: string): role is Role => (ROLES as readonly string[]).includes(role)
export const isPermission = (p: string): p is Permission => (PERMISSIONS as readonly string[]).includes(p)

/**
 * Whether a signed-in user's role grants `permission`. The guard attaches the permissions of the user's role (custom
 * roles included, see src/roles) when it authenticates the request; a user row without them has the built-in grants.
 */
export function holds(user: { role: string; permissions?: ReadonlySet<Permission> | undefined }, permission: Permission): boolean {
  return user.permissions ? user.permissions.has(permission) : isBuiltinRole(user.role) && can(user.role, permission)
}
