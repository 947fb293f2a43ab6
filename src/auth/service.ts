import type { Sql } from '../db/client.ts'
import type { AuditLog } from '../audit/service.ts'
import { ApiError } from '../http/errors.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import { presentUser, type UserRow, type UserService } from '../users/service.ts'
import type { UserView } from '../users/model.ts'
import { assertPasswordPolicy, burnVerifyTime, verifyPassword } from './passwords.ts'
import { type AccessTokens, newRefreshToken, sha256Hex } from './tokens.ts'

export interface TokenPair {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
  expires_in: number
  user: UserView
}

export interface SessionInfo {
  id: string
  created_at: Date
  expires_at: Date
  last_active_at: Date
  ip: string | null
  user_agent: string | null
}

export interface AuthOptions {
  refreshTtlSeconds: number
  lockoutThreshold: number
  lockoutMinutes: number
  allowRegistration: boolean
}

/** Hears failed sign-ins by address (credential stuffing across accounts, src/security); the account lockout is here. */
export interface LoginThreats {
  loginFailed(email: string, meta: RequestMeta): Promise<void>
}

/** How long after a rotation the rotated token may be presented again, once, if its successor never arrived. */
const REFRESH_GRACE_MS = 10_000

/** Sign-in, sessions and their rotating refresh tokens. */
export class AuthService {
  readonly #sql: Sql
  readonly #users: UserService
  readonly #tokens: AccessTokens
  readonly #audit: AuditLog
  readonly #opts: AuthOptions
  readonly #threats: LoginThreats | null

  constructor(deps: { sql: Sql; users: UserService; tokens: AccessTokens; audit: AuditLog; options: AuthOptions; threats?: LoginThreats }) {
    this.#sql = deps.sql
    this.#users = deps.users
    this.#tokens = deps.tokens
    this.#audit = deps.audit
    this.#opts = deps.options
    this.#threats = deps.threats ?? null
  }

  get registrationEnabled(): boolean {
    return this.#opts.allowRegistration
  }

  async login(email: string, password: string, meta: RequestMeta): Promise<TokenPair> {
    const user = await this.#users.byEmail(email)
    const fail = async (reason: string, u: UserRow | null) => {
      await this.#audit.record(
        { action: 'auth.login', outcome: 'failure', actor: { userId: u?.id ?? null, label: email }, details: { reason } },
        meta,
      )
      // Every wrong guess counts toward its address's block, known account or not; a deactivated account's right
      // password is no guess.
      if (reason !== 'inactive') await this.#threats?.loginFailed(email, meta)
    }
    if (!user) {
      await burnVerifyTime(password)
      await fail('unknown_email', null)
      throw new ApiError('invalid_credentials', 'Invalid email or password')
    }
    if (user.locked_until && user.locked_until > new Date()) {
      await fail('locked', user)
      const retryAfter = Math.ceil((user.locked_until.getTime() - Date.now()) / 1000)
      throw new ApiError('account_locked', 'Too many failed sign-ins; the account is locked for a while', undefined, {
        'retry-after': String(retryAfter),
      })
    }
    if (!(await verifyPassword(password, user.password_hash))) {
      await this.#countFailure(user, meta)
      await fail('wrong_password', user)
      throw new ApiError('invalid_credentials', 'Invalid email or password')
    }
    if (!user.is_active) {
      await fail('inactive', user)
      throw new ApiError('account_disabled', 'This account is deactivated')
    }
    const [fresh] = await this.#sql<UserRow[]>`
      UPDATE users SET failed_login_count = 0, locked_until = NULL, last_login_at = now()
      WHERE id = ${user.id} RETURNING *`
    await this.#audit.record({ action: 'auth.login', outcome: 'success', actor: { userId: user.id, label: email } }, meta)
    return this.#startSession(fresh ?? user, meta)
  }

  /** Counts a failure atomically; the one that crosses the threshold locks the account and is audited. */
  async #countFailure(user: UserRow, meta: RequestMeta): Promise<void> {
    const { lockoutThreshold, lockoutMinutes } = this.#opts
    const [row] = await this.#sql<{ failed_login_count: number; locked: boolean }[]>`
      UPDATE users SET
        failed_login_count = CASE WHEN locked_until IS NOT NULL AND locked_until <= now() THEN 1
                                  ELSE failed_login_count + 1 END,
        locked_until = CASE
          WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= now() THEN 1 ELSE failed_login_count + 1 END)
               >= ${lockoutThreshold}
          THEN now() + make_interval(mins => ${lockoutMinutes}) ELSE NULL END
      WHERE id = ${user.id}
      RETURNING failed_login_count, locked_until IS NOT NULL AS locked`
    if (row?.locked && row.failed_login_count === lockoutThreshold)
      await this.#audit.record(
        {
          action: 'auth.lockout',
          outcome: 'denied',
          actor: { userId: user.id, label: user.email },
          resource: { type: 'user', id: user.id },
          details: { failed_attempts: row.failed_login_count, minutes: lockoutMinutes },
        },
        meta,
      )
  }

  async #startSession(user: UserRow, meta: RequestMeta): Promise<TokenPair> {
    const [session] = await this.#sql<{ id: string }[]>`
      INSERT INTO sessions (user_id, expires_at, ip, user_agent)
      VALUES (${user.id}, now() + make_interval(secs => ${this.#opts.refreshTtlSeconds}), ${meta.ip}, ${meta.userAgent})
      RETURNING id`
    if (!session) throw new Error('session insert returned no row')
    return this.#issue(user, session.id)
  }

  async #issue(user: UserRow, sessionId: string): Promise<TokenPair> {
    const refresh = newRefreshToken()
    await this.#sql`
      INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
      SELECT ${sha256Hex(refresh)}, id, expires_at FROM sessions WHERE id = ${sessionId}`
    return {
      access_token: await this.#tokens.sign({ sub: user.id, sid: sessionId }),
      refresh_token: refresh,
      token_type: 'bearer',
      expires_in: this.#tokens.ttlSeconds,
      user: presentUser(user),
    }
  }

  /**
   * Rotates: a refresh token works once. Presenting a used one means it was copied, so the whole session
   * (every token descended from that login) is revoked, with one exception for a lost response: within
   * REFRESH_GRACE_MS of its rotation, a token whose one successor was never used may be presented again (a page
   * reloaded while its refresh was in flight never received the new cookie). That successor is retired and the
   * session goes on; whoever later presents the retired one is reuse, and the session dies.
   */
  async refresh(token: string, meta: RequestMeta): Promise<TokenPair> {
    const hash = sha256Hex(token)
    const [claimed] = await this.#sql<{ session_id: string }[]>`
      UPDATE refresh_tokens SET used_at = now()
      WHERE token_hash = ${hash} AND used_at IS NULL AND expires_at > now()
      RETURNING session_id`
    if (!claimed) {
      const [known] = await this.#sql<{ session_id: string; used_at: Date | null; retired_at: Date | null; user_id: string }[]>`
        SELECT r.session_id, r.used_at, r.retired_at, s.user_id FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
        WHERE r.token_hash = ${hash}`
      if (known?.used_at && !known.retired_at && Date.now() - known.used_at.getTime() < REFRESH_GRACE_MS) {
        const resumed = await this.#resumeLostRotation(known.session_id, hash)
        if (resumed) return resumed
      }
      if (known?.used_at) {
        await this.revokeSession(known.session_id, 'refresh_token_reuse')
        await this.#audit.record(
          {
            action: 'auth.refresh_reuse',
            outcome: 'denied',
            actor: { userId: known.user_id },
            resource: { type: 'session', id: known.session_id },
          },
          meta,
        )
        throw new ApiError('refresh_token_reused', 'This refresh token was already used; the session is revoked')
      }
      throw new ApiError('invalid_token', 'Invalid or expired refresh token')
    }
    const [row] = await this.#sql<(UserRow & { revoked_at: Date | null })[]>`
      SELECT u.*, s.revoked_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ${claimed.session_id}`
    if (!row || row.revoked_at || !row.is_active) throw new ApiError('invalid_token', 'Invalid or expired refresh token')
    return this.#issue(row, claimed.session_id)
  }

  /**
   * `hash`: the rotated token presented again. Its successors are the tokens created since it was used, itself
   * excluded: the clock may not tell its own creation (at login) from its use when both fall in one tick.
   */
  async #resumeLostRotation(sessionId: string, hash: string): Promise<TokenPair | null> {
    const retired = await this.#sql`
      WITH rotated AS (SELECT used_at FROM refresh_tokens WHERE token_hash = ${hash})
      UPDATE refresh_tokens SET used_at = now(), retired_at = now()
      WHERE session_id = ${sessionId} AND used_at IS NULL AND created_at >= (SELECT used_at FROM rotated)
        AND (SELECT count(*) FROM refresh_tokens
             WHERE session_id = ${sessionId} AND token_hash <> ${hash} AND created_at >= (SELECT used_at FROM rotated)) = 1
      RETURNING token_hash`
    if (retired.count !== 1) return null
    const [row] = await this.#sql<(UserRow & { revoked_at: Date | null })[]>`
      SELECT u.*, s.revoked_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ${sessionId}`
    if (!row || row.revoked_at || !row.is_active) return null
    return this.#issue(row, sessionId)
  }

  async revokeSession(sessionId: string, reason: string): Promise<void> {
    await this.#sql`
      UPDATE sessions SET revoked_at = now(), revoke_reason = ${reason} WHERE id = ${sessionId} AND revoked_at IS NULL`
  }

  async revokeAllSessions(userId: string, reason: string, exceptSessionId: string | null = null): Promise<void> {
    await this.#sql`
      UPDATE sessions SET revoked_at = now(), revoke_reason = ${reason}
      WHERE user_id = ${userId} AND revoked_at IS NULL AND id IS DISTINCT FROM ${exceptSessionId}`
  }

  /** A user's live sessions (not revoked, not expired), newest first; `last_active_at` is the latest token issue. */
  async listSessions(userId: string): Promise<SessionInfo[]> {
    const rows = await this.#sql<SessionInfo[]>`
      SELECT s.id, s.created_at, s.expires_at, s.ip, s.user_agent,
             coalesce((SELECT max(r.created_at) FROM refresh_tokens r WHERE r.session_id = s.id), s.created_at) AS last_active_at
      FROM sessions s
      WHERE s.user_id = ${userId} AND s.revoked_at IS NULL AND s.expires_at > now()
      ORDER BY last_active_at DESC, s.id`
    return [...rows]
  }

  /** Ends one of the user's own sessions; someone else's or an ended one is "not found", saying nothing more. */
  async revokeOwnSession(user: UserRow, sessionId: string, meta: RequestMeta): Promise<void> {
    const ended = await this.#sql`
      UPDATE sessions SET revoked_at = now(), revoke_reason = 'revoked_by_user'
      WHERE id = ${sessionId} AND user_id = ${user.id} AND revoked_at IS NULL AND expires_at > now()`
    if (ended.count === 0) throw new ApiError('not_found', 'No such active session of yours')
    await this.#audit.record(
      { action: 'auth.session_revoke', outcome: 'success', actor: { userId: user.id }, resource: { type: 'session', id: sessionId } },
      meta,
    )
  }

  /** Ends every session of the user but the one asking. */
  async revokeOtherSessions(user: UserRow, currentSessionId: string, meta: RequestMeta): Promise<number> {
    const ended = await this.#sql`
      UPDATE sessions SET revoked_at = now(), revoke_reason = 'revoked_by_user'
      WHERE user_id = ${user.id} AND revoked_at IS NULL AND id <> ${currentSessionId}`
    await this.#audit.record(
      { action: 'auth.session_revoke_others', outcome: 'success', actor: { userId: user.id }, details: { sessions: ended.count } },
      meta,
    )
    return ended.count
  }

  /** The per-request check behind every internal route: token valid, session live, user active. */
  async authenticate(accessToken: string): Promise<{ user: UserRow; sessionId: string } | null> {
    const claims = await this.#tokens.verify(accessToken)
    if (!claims) return null
    const [user] = await this.#sql<UserRow[]>`
      SELECT u.* FROM users u JOIN sessions s ON s.user_id = u.id
      WHERE u.id = ${claims.sub} AND s.id = ${claims.sid} AND s.revoked_at IS NULL AND s.expires_at > now()
        AND u.is_active`
    return user ? { user, sessionId: claims.sid } : null
  }

  async logout(user: UserRow, sessionId: string, meta: RequestMeta): Promise<void> {
    await this.revokeSession(sessionId, 'logout')
    await this.#audit.record(
      { action: 'auth.logout', outcome: 'success', actor: { userId: user.id }, resource: { type: 'session', id: sessionId } },
      meta,
    )
  }

  async register(input: { email: string; username: string; password: string }, meta: RequestMeta): Promise<TokenPair> {
    if (!this.#opts.allowRegistration)
      throw new ApiError('registration_disabled', 'Self-registration is disabled; ask an administrator for an account')
    const { user } = await this.#users.create({ ...input, role: 'user', force_password_change: false })
    await this.#audit.record(
      { action: 'auth.register', outcome: 'success', actor: { userId: user.id, label: user.email }, resource: { type: 'user', id: user.id } },
      meta,
    )
    return this.#startSession(user, meta)
  }

  /** Ends every other session of the user: whoever knew the old password is signed out. */
  async changePassword(
    user: UserRow,
    sessionId: string,
    current: string,
    next: string,
    meta: RequestMeta,
  ): Promise<void> {
    if (!(await verifyPassword(current, user.password_hash))) {
      await this.#audit.record(
        { action: 'auth.password_change', outcome: 'failure', actor: { userId: user.id }, details: { reason: 'wrong_password' } },
        meta,
      )
      throw new ApiError('invalid_credentials', 'The current password is wrong', 'current_password')
    }
    assertPasswordPolicy(next, 'new_password', user)
    if (next === current) throw new ApiError('validation_failed', 'new_password must differ from the current one', 'new_password')
    await this.#users.setPassword(user.id, next, false)
    await this.revokeAllSessions(user.id, 'password_changed', sessionId)
    await this.#audit.record({ action: 'auth.password_change', outcome: 'success', actor: { userId: user.id } }, meta)
  }
}
