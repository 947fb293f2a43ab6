import type { ApiKeyVerifier } from '../api-keys/verifier.ts'
import type { AuditLog } from '../audit/service.ts'
import type { AuthService } from '../auth/service.ts'
import { assertPasswordPolicy, generatePassword } from '../auth/passwords.ts'
import type { RoleRegistry } from '../roles/registry.ts'
import { ApiError } from '../http/errors.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import type { NewUser, UserFilter, UserPatch, UserRow, UserService } from './service.ts'
import { changes } from '../audit/changes.ts'

type Actor = Pick<UserRow, 'id' | 'role' | 'email'>

/**
 * User management by administrators, with the rules in one place: you manage only users below your rank (a
 * super_admin manages all), hand out only roles below yours, never change yourself here, and every change is
 * audited. Deactivation and deletion end the target's sessions and API keys at once; a password reset ends the
 * sessions (whoever knew the old password is signed out) and leaves the API keys, which it does not concern.
 */
export class UserAdminService {
  constructor(
    readonly users: UserService,
    readonly auth: AuthService,
    readonly verifier: ApiKeyVerifier,
    readonly audit: AuditLog,
    readonly roles: RoleRegistry,
    /** Deletes everything a user owns beyond what their row's foreign keys take along (files, vectors, usage). */
    readonly erase: (userId: string) => Promise<void> = async () => {},
  ) {}

  async #target(actor: Actor, id: string): Promise<UserRow> {
    const target = await this.users.byId(id)
    if (!target) throw new ApiError('not_found', `User ${id} not found`)
    if (!this.roles.canManage(actor, target))
      throw new ApiError(
        'permission_denied',
        actor.id === target.id ? 'Use your own profile routes to change yourself' : `Your role cannot manage a ${target.role}`,
      )
    return target
  }

  async #assertAssignable(actor: Actor, role: string | undefined) {
    if (!role) return
    await this.roles.ensure(role)
    if (!this.roles.exists(role)) throw new ApiError('validation_failed', `role: there is no role named ${role} (GET /api-internal/v1/roles lists them)`, 'role')
    if (!this.roles.canAssign(actor, role)) throw new ApiError('permission_denied', `Your role cannot grant the role ${role}`, 'role')
  }

  #record(actor: Actor, action: string, targetId: string, meta: RequestMeta, details: Record<string, unknown> = {}) {
    return this.audit.record(
      { action, outcome: 'success', actor: { userId: actor.id, label: actor.email }, resource: { type: 'user', id: targetId }, details },
      meta,
    )
  }

  async get(id: string): Promise<UserRow> {
    const user = await this.users.byId(id)
    if (!user) throw new ApiError('not_found', `User ${id} not found`)
    return user
  }

  list(filter: UserFilter) {
    return this.users.list(filter)
  }

  async create(actor: Actor, input: NewUser, meta: RequestMeta) {
    await this.#assertAssignable(actor, input.role ?? 'user')
    const created = await this.users.create(input)
    await this.#record(actor, 'user.create', created.user.id, meta, { role: created.user.role })
    return created
  }

  async update(
    actor: Actor,
    id: string,
    patch: UserPatch,
    meta: RequestMeta,
  ): Promise<UserRow> {
    const before = await this.#target(actor, id)
    await this.#assertAssignable(actor, patch.role)
    const after = await this.users.update(id, patch)
    if (!after) throw new ApiError('not_found', `User ${id} not found`)
    if (before.is_active && !after.is_active) await this.#cutOff(id, 'deactivated')
    if (!before.is_active && after.is_active) await this.verifier.invalidate(`user:${id}`)
    // The user's policy rides with their cached keys and user policies on every replica: all must hear of it.
    else if (before.confidential_only !== after.confidential_only || before.dlp_mode !== after.dlp_mode) await this.verifier.invalidate(`user:${id}`)
    const changed = Object.keys(patch).filter((k) => (before as unknown as Record<string, unknown>)[k] !== (after as unknown as Record<string, unknown>)[k])
    if (patch.role && patch.role !== before.role)
      await this.#record(actor, 'user.role_change', id, meta, { from: before.role, to: after.role })
    if (patch.is_active !== undefined && patch.is_active !== before.is_active)
      await this.#record(actor, after.is_active ? 'user.activate' : 'user.deactivate', id, meta)
    const others = changed.filter((k) => k !== 'role' && k !== 'is_active')
    if (others.length) await this.#record(actor, 'user.update', id, meta, { fields: changed, changes: changes(before, after, others) })
    return after
  }

  async #cutOff(userId: string, reason: string) {
    await this.auth.revokeAllSessions(userId, reason)
    await this.verifier.invalidate(`user:${userId}`)
  }

  async resetPassword(actor: Actor, id: string, newPassword: string | undefined, meta: RequestMeta) {
    const target = await this.#target(actor, id)
    const password = newPassword ?? generatePassword()
    assertPasswordPolicy(password, 'new_password', target)
    await this.users.setPassword(id, password, true)
    await this.auth.revokeAllSessions(id, 'password_reset')
    await this.#record(actor, 'user.password_reset', id, meta)
    return { temporary_password: newPassword === undefined ? password : null }
  }

  async delete(actor: Actor, id: string, meta: RequestMeta): Promise<void> {
    await this.#target(actor, id)
    await this.erase(id)
    await this.users.delete(id)
    await this.verifier.invalidate(`user:${id}`)
    await this.#record(actor, 'user.delete', id, meta)
  }
}
