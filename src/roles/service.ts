import type { AuditLog } from '../audit/service.ts'
import { isBuiltinRole, isPermission, PERMISSIONS, ROLES, type Permission } from '../auth/roles.ts'
import type { Sql, Tx } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import type { UserRow } from '../users/service.ts'
import type { CreateRoleInput, RoleViewValue, UpdateRoleInput } from './model.ts'
import type { RoleRegistry } from './registry.ts'

type Actor = Pick<UserRow, 'id' | 'email' | 'role'>

/** What each permission allows, for the role editor. */
export const PERMISSION_DESCRIPTIONS: Record<Permission, string> = {
  'profile:read': 'See one’s own profile',
  'api_keys:read': 'See one’s own API keys',
  'api_keys:write': 'Create and change one’s own API keys',
  'api_keys:admin': 'See and change every user’s API keys',
  'users:read': 'See all users and roles',
  'users:manage': 'Create, change and delete users of a lower role; create and edit roles',
  'audit:read': 'Read and export the audit log and security events',
  'analytics:read_all': 'See everyone’s usage in the analytics',
  'settings:manage': 'Change platform settings, modules, retention and platform-wide notifications',
  'plugins:manage': 'Install and configure plugins',
  'providers:manage': 'Configure inference providers and model settings',
  'llm:use': 'Chat and embed in the playground (charged to oneself)',
  'budgets:manage': 'Set global and per-user budgets',
  'rag:read': 'Search one’s own document collections',
  'rag:write': 'Create document collections and upload documents',
  'rag:admin': 'Manage every user’s document collections',
  'chatbots:use': 'Build and talk to one’s own chatbots',
  'chatbots:admin': 'Manage every user’s chatbots and their conversations',
  'agents:use': 'Build and run one’s own agents',
  'agents:admin': 'Manage every user’s agents and their runs',
  'mcp:use': 'Register one’s own MCP servers (public addresses) and use the shared ones',
  'mcp:admin': 'Manage every user’s MCP servers and share servers, also on the private network',
}

/** Permissions from a request body: each must exist (the message names the first that does not), none twice. */
function checkPermissions(list: string[]): Permission[] {
  list.forEach((p, i) => {
    if (!isPermission(p)) throw new ApiError('validation_failed', `permissions[${i}]: "${p}" is not a permission; the permissions are ${PERMISSIONS.join(', ')}`, `permissions[${i}]`)
  })
  return [...new Set(list)] as Permission[]
}

/**
 * Custom roles: create, edit, delete, each audited, with the no-escalation rule by permission: nobody creates, edits
 * or deletes a role holding a permission they lack (and granting one, in user management, needs a strict superset).
 * Deleting a role moves its users to read_only in the same transaction, each move audited.
 */
export class RoleService {
  constructor(
    readonly sql: Sql,
    readonly registry: RoleRegistry,
    readonly audit: AuditLog,
  ) {}

  async #counts(): Promise<Map<string, number>> {
    const rows = await this.sql<{ role: string; n: number }[]>`SELECT role, count(*)::int AS n FROM users GROUP BY role`
    return new Map(rows.map((r) => [r.role, r.n]))
  }

  #view(actor: Actor, name: string, counts: Map<string, number>): RoleViewValue {
    const custom = this.registry.get(name)
    const permissions = this.registry.permissionsOf(name)
    return {
      name,
      description: custom?.description ?? BUILTIN_DESCRIPTIONS[name] ?? '',
      permissions,
      builtin: isBuiltinRole(name),
      users: counts.get(name) ?? 0,
      assignable: this.registry.canAssign(actor, name),
      editable: !isBuiltinRole(name) && this.registry.lacking(actor.role, permissions).length === 0,
      created_at: custom?.created_at ?? null,
      updated_at: custom?.updated_at ?? null,
    }
  }

  /** The built-in roles lowest first, then the custom ones by name. */
  async list(actor: Actor): Promise<RoleViewValue[]> {
    const counts = await this.#counts()
    return [...ROLES, ...this.registry.custom().map((r) => r.name)].map((name) => this.#view(actor, name, counts))
  }

  async get(actor: Actor, name: string): Promise<RoleViewValue> {
    await this.registry.ensure(name)
    if (!this.registry.exists(name)) throw new ApiError('not_found', `Role ${name} not found`)
    return this.#view(actor, name, await this.#counts())
  }

  #noEscalation(actor: Actor, permissions: Iterable<string>, what: string): void {
    const lacking = this.registry.lacking(actor.role, permissions)
    if (lacking.length > 0)
      throw new ApiError('permission_denied', `You cannot ${what} a role holding permissions your role (${actor.role}) lacks: ${lacking.join(', ')}`, 'permissions')
  }

  #custom(name: string) {
    if (isBuiltinRole(name)) throw new ApiError('invalid_request', `${name} is a built-in role: its permissions are fixed; create a custom role instead`, 'name')
    const role = this.registry.get(name)
    if (!role) throw new ApiError('not_found', `Role ${name} not found`)
    return role
  }

  async create(actor: Actor, input: CreateRoleInput, meta: RequestMeta): Promise<RoleViewValue> {
    if (isBuiltinRole(input.name)) throw new ApiError('conflict', `${input.name} is a built-in role`, 'name')
    const permissions = checkPermissions(input.permissions)
    this.#noEscalation(actor, permissions, 'create')
    const sql = this.sql
    try {
      await sql`
        INSERT INTO roles (name, description, permissions, created_by, updated_by)
        VALUES (${input.name}, ${input.description ?? ''}, ${permissions}, ${actor.id}, ${actor.id})`
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new ApiError('conflict', `A role named ${input.name} already exists`, 'name')
      throw err
    }
    await this.#record(actor, 'role.create', input.name, meta, { permissions, description: input.description ?? '' })
    await this.registry.changed()
    return this.get(actor, input.name)
  }

  async update(actor: Actor, name: string, patch: UpdateRoleInput, meta: RequestMeta): Promise<RoleViewValue> {
    await this.registry.ensure(name)
    const before = this.#custom(name)
    this.#noEscalation(actor, before.permissions, 'edit')
    const permissions = patch.permissions ? checkPermissions(patch.permissions) : [...before.permissions]
    this.#noEscalation(actor, permissions, 'give')
    const newName = patch.name ?? name
    if (patch.name !== undefined && isBuiltinRole(patch.name)) throw new ApiError('conflict', `${patch.name} is a built-in role`, 'name')
    const sql = this.sql
    try {
      const rows = await sql`
        UPDATE roles SET name = ${newName}, description = ${patch.description ?? before.description}, permissions = ${permissions},
          updated_at = now(), updated_by = ${actor.id}
        WHERE name = ${name} AND NOT builtin`
      if (rows.count === 0) throw new ApiError('not_found', `Role ${name} not found`)
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new ApiError('conflict', `A role named ${newName} already exists`, 'name')
      throw err
    }
    const changes: Record<string, { from: unknown; to: unknown }> = {}
    if (newName !== name) changes.name = { from: name, to: newName }
    if (patch.description !== undefined && patch.description !== before.description) changes.description = { from: before.description, to: patch.description }
    const beforePerms = [...before.permissions].sort()
    if (JSON.stringify(beforePerms) !== JSON.stringify([...permissions].sort())) changes.permissions = { from: beforePerms, to: [...permissions].sort() }
    await this.#record(actor, 'role.update', newName, meta, { changes })
    await this.registry.changed()
    return this.get(actor, newName)
  }

  /** Moves the role's users to read_only and deletes it, in one transaction; returns the users moved. */
  async delete(actor: Actor, name: string, meta: RequestMeta): Promise<{ users_moved: number }> {
    await this.registry.ensure(name)
    const role = this.#custom(name)
    this.#noEscalation(actor, role.permissions, 'delete')
    const moved = await this.sql.begin(async (tx: Tx) => {
      const locked = await tx`SELECT name FROM roles WHERE name = ${name} AND NOT builtin FOR UPDATE`
      if (locked.count === 0) throw new ApiError('not_found', `Role ${name} not found`)
      const users = await tx<{ id: string; email: string }[]>`
        UPDATE users SET role = 'read_only', updated_at = now() WHERE role = ${name} RETURNING id, email`
      await tx`DELETE FROM roles WHERE name = ${name}`
      const rows = users.map((u) => ({
        actor_user_id: actor.id,
        actor_label: actor.email,
        action: 'user.role_change',
        resource_type: 'user',
        resource_id: u.id,
        outcome: 'success',
        ip: meta.ip,
        user_agent: meta.userAgent,
        request_id: meta.requestId,
        details: tx.json({ from: name, to: 'read_only', reason: 'role_deleted' }),
      }))
      for (let i = 0; i < rows.length; i += 500) await tx`INSERT INTO audit_log ${tx(rows.slice(i, i + 500))}`
      await tx`INSERT INTO audit_log ${tx({
        actor_user_id: actor.id,
        actor_label: actor.email,
        action: 'role.delete',
        resource_type: 'role',
        resource_id: name,
        outcome: 'success',
        ip: meta.ip,
        user_agent: meta.userAgent,
        request_id: meta.requestId,
        details: tx.json({ permissions: [...role.permissions], users_moved: users.length, users: users.slice(0, 1000).map((u) => u.id), moved_to: 'read_only' }),
      })}`
      return users.length
    })
    await this.registry.changed()
    return { users_moved: moved }
  }

  #record(actor: Actor, action: string, name: string, meta: RequestMeta, details: Record<string, unknown>) {
    return this.audit.record({ action, outcome: 'success', actor: { userId: actor.id, label: actor.email }, resource: { type: 'role', id: name }, details }, meta)
  }
}

const BUILTIN_DESCRIPTIONS: Record<string, string> = {
  read_only: 'Sees their profile, their API keys and their collections',
  user: 'Uses the platform: keys, playground, documents, chatbots, agents, MCP servers',
  admin: 'Administers the platform and manages users and custom roles below them',
  super_admin: 'Every permission; manages everyone',
}
