import type { CacheStore } from '../cache/types.ts'
import type { Sql } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { can as builtinCan, isBuiltinRole, isPermission, permissionsOf as builtinPermissions, ROLES, type Permission } from '../auth/roles.ts'
import { LiveState } from '../settings/live.ts'

export const ROLES_CHANNEL = 'roles:changed'
/** A user whose role this replica does not know yet (created a moment ago elsewhere) triggers at most this many reloads. */
const UNKNOWN_RELOAD_MS = 1_000

export interface CustomRole {
  name: string
  description: string
  permissions: ReadonlySet<Permission>
  created_at: Date
  updated_at: Date
}

interface RoleRow {
  name: string
  description: string
  permissions: string[]
  created_at: Date
  updated_at: Date
}

/**
 * Every role's permissions, as this replica knows them: the four built-in roles from the code, custom roles from the
 * `roles` table, held in memory so a permission check costs one Set lookup. A change on any replica is announced
 * over the cache and every replica reloads (and re-reads every few seconds regardless); a user whose role this
 * replica has not heard of yet makes it reload at once, so a role granted a moment ago on another replica works here.
 *
 * Who may manage or grant what: a super_admin everything; between built-in roles their rank (an admin manages and
 * grants only read_only and user); otherwise a role outranks another when it holds every permission of the other and
 * more (a strict superset). Nobody creates or edits a role holding a permission they lack.
 */
export class RoleRegistry {
  #custom = new Map<string, CustomRole>()
  readonly #sql: Sql
  readonly #live: LiveState
  #lastUnknownReload = 0

  constructor(deps: { sql: Sql; cache: CacheStore; log: Logger }) {
    this.#sql = deps.sql
    this.#live = new LiveState({ cache: deps.cache, log: deps.log, channel: ROLES_CHANNEL, reload: () => this.load(), what: 'roles' })
  }

  async load(): Promise<void> {
    const rows = await this.#sql<RoleRow[]>`
      SELECT name, description, permissions, created_at, updated_at FROM roles WHERE NOT builtin ORDER BY name`
    this.#custom = new Map(
      rows.map((r) => [r.name, { name: r.name, description: r.description, permissions: new Set(r.permissions.filter(isPermission)), created_at: r.created_at, updated_at: r.updated_at }]),
    )
  }

  start(): Promise<void> {
    return this.#live.start()
  }

  stop(): Promise<void> {
    return this.#live.stop()
  }

  /** After a role was written: reload here, tell the other replicas. */
  changed(): Promise<boolean> {
    return this.#live.changed()
  }

  /** Makes sure `role` is known here when it exists anywhere (a role created a moment ago on another replica). */
  async ensure(role: string): Promise<void> {
    if (this.exists(role) || Date.now() - this.#lastUnknownReload < UNKNOWN_RELOAD_MS) return
    this.#lastUnknownReload = Date.now()
    await this.#live.reload()
  }

  exists(role: string): boolean {
    return isBuiltinRole(role) || this.#custom.has(role)
  }

  custom(): CustomRole[] {
    return [...this.#custom.values()]
  }

  get(role: string): CustomRole | undefined {
    return this.#custom.get(role)
  }

  can(role: string, permission: Permission): boolean {
    if (isBuiltinRole(role)) return builtinCan(role, permission)
    return this.#custom.get(role)?.permissions.has(permission) ?? false
  }

  permissionsOf(role: string): Permission[] {
    if (isBuiltinRole(role)) return builtinPermissions(role)
    return [...(this.#custom.get(role)?.permissions ?? [])]
  }

  /** Whether `actorRole` stands above `role`: may grant it, and manage the users who hold it. */
  outranks(actorRole: string, role: string): boolean {
    if (actorRole === 'super_admin') return true
    if (isBuiltinRole(actorRole) && isBuiltinRole(role)) return ROLES.indexOf(role) < ROLES.indexOf(actorRole)
    if (!this.exists(role) || !this.exists(actorRole)) return false
    const mine = new Set(this.permissionsOf(actorRole))
    const theirs = this.permissionsOf(role)
    return theirs.every((p) => mine.has(p)) && mine.size > theirs.length
  }

  /** Nobody changes their own role or state here; otherwise the actor must outrank the target's role. */
  canManage(actor: { id: string; role: string }, target: { id: string; role: string }): boolean {
    if (actor.id === target.id) return false
    return this.outranks(actor.role, target.role)
  }

  canAssign(actor: { role: string }, role: string): boolean {
    return this.exists(role) && this.outranks(actor.role, role)
  }

  /** The permissions in `permissions` that `role` lacks (what would be an escalation). */
  lacking(role: string, permissions: Iterable<string>): string[] {
    return [...permissions].filter((p) => !isPermission(p) || !this.can(role, p))
  }

  /** Every role holding `permission`: the built-in ones and the custom ones (for "who should hear of this"). */
  rolesWith(permission: Permission): string[] {
    return [...ROLES.filter((r) => builtinCan(r, permission)), ...[...this.#custom.values()].filter((r) => r.permissions.has(permission)).map((r) => r.name)]
  }
}
