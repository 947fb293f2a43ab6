import type { Permission } from '../auth/roles.ts'
import type { Sql } from '../db/client.ts'
import { ApiError } from '../http/errors.ts'
import { assertPasswordPolicy, generatePassword, hashPassword } from '../auth/passwords.ts'
import type { UserView } from './model.ts'

export interface UserRow {
  id: string
  email: string
  username: string
  password_hash: string
  /** A role by name: built-in or custom (src/roles). */
  role: string
  is_active: boolean
  failed_login_count: number
  locked_until: Date | null
  force_password_change: boolean
  created_at: Date
  updated_at: Date
  last_login_at: Date | null
  /** Only confidential (TEE) models for everything this user does (set by administrators). */
  confidential_only: boolean
  /** Data-loss prevention for this user's requests leaving the TEE; null: the platform's setting. */
  dlp_mode: 'off' | 'redact' | 'block' | null
  /** Not a column: the permissions of `role` (custom roles included), attached by the guard to a signed-in user. */
  permissions?: ReadonlySet<Permission> | undefined
}

/** What an administrator may change about a user (besides the password). */
export interface UserPatch {
  email?: string
  username?: string
  role?: string
  is_active?: boolean
  force_password_change?: boolean
  confidential_only?: boolean
  dlp_mode?: 'off' | 'redact' | 'block' | null
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

/** Whitelists what leaves the server: never the password hash. */
export function presentUser(u: UserRow): UserView {
  return {
    id: u.id,
    email: u.email,
    username: u.username,
    role: u.role,
    is_active: u.is_active,
    force_password_change: u.force_password_change,
    failed_login_count: u.failed_login_count,
    locked_until: iso(u.locked_until),
    created_at: u.created_at.toISOString(),
    updated_at: u.updated_at.toISOString(),
    last_login_at: iso(u.last_login_at),
    confidential_only: u.confidential_only,
    dlp_mode: u.dlp_mode,
  }
}

/** Maps a unique-index violation to a 409 that names the field. */
export function uniqueViolation(err: unknown): ApiError | null {
  const e = err as { code?: string; constraint_name?: string }
  if (e.code !== '23505') return null
  const field = e.constraint_name?.includes('username') ? 'username' : 'email'
  return new ApiError('conflict', `a user with this ${field} already exists`, field)
}

export interface NewUser {
  email: string
  username: string
  password?: string | undefined
  role?: string | undefined
  force_password_change?: boolean | undefined
}

export interface UserFilter {
  q?: string | undefined
  role?: string | undefined
  is_active?: boolean | undefined
  limit: number
  offset: number
}

export class UserService {
  readonly #sql: Sql
  constructor(sql: Sql) {
    this.#sql = sql
  }

  async byId(id: string): Promise<UserRow | null> {
    const [row] = await this.#sql<UserRow[]>`SELECT * FROM users WHERE id = ${id}`
    return row ?? null
  }

  async byEmail(email: string): Promise<UserRow | null> {
    const [row] = await this.#sql<UserRow[]>`SELECT * FROM users WHERE lower(email) = lower(${email})`
    return row ?? null
  }

  async count(): Promise<number> {
    const [row] = await this.#sql<{ n: number }[]>`SELECT count(*)::int AS n FROM users`
    return row?.n ?? 0
  }

  async list(f: UserFilter): Promise<{ items: UserRow[]; total: number }> {
    const sql = this.#sql
    const pattern = f.q ? `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null
    const clause = sql`
      WHERE (${pattern}::text IS NULL OR email ILIKE ${pattern} OR username ILIKE ${pattern})
        AND (${f.role ?? null}::text IS NULL OR role = ${f.role ?? null})
        AND (${f.is_active ?? null}::boolean IS NULL OR is_active = ${f.is_active ?? null})`
    const items = await sql<UserRow[]>`
      SELECT * FROM users ${clause} ORDER BY created_at, id LIMIT ${f.limit} OFFSET ${f.offset}`
    const [count] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM users ${clause}`
    return { items: [...items], total: count?.n ?? 0 }
  }

  /** Returns the generated password when none was given, so the caller can show it exactly once. */
  async create(input: NewUser): Promise<{ user: UserRow; generatedPassword: string | null }> {
    const generatedPassword = input.password === undefined ? generatePassword() : null
    const password = input.password ?? generatedPassword ?? ''
    assertPasswordPolicy(password, 'password', input)
    const hash = await hashPassword(password)
    try {
      const [user] = await this.#sql<UserRow[]>`
        INSERT INTO users (email, username, password_hash, role, force_password_change)
        VALUES (${input.email}, ${input.username}, ${hash}, ${input.role ?? 'user'},
                ${input.force_password_change ?? generatedPassword !== null})
        RETURNING *`
      if (!user) throw new Error('insert returned no row')
      return { user, generatedPassword }
    } catch (err) {
      throw uniqueViolation(err) ?? err
    }
  }

  async update(id: string, patch: UserPatch): Promise<UserRow | null> {
    const sql = this.#sql
    const fields = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined))
    try {
      const [user] = await sql<UserRow[]>`
        UPDATE users SET ${sql(fields)}, updated_at = now() WHERE id = ${id} RETURNING *`
      return user ?? null
    } catch (err) {
      throw uniqueViolation(err) ?? err
    }
  }

  async setPassword(id: string, password: string, forceChange: boolean): Promise<void> {
    const hash = await hashPassword(password)
    await this.#sql`
      UPDATE users SET password_hash = ${hash}, force_password_change = ${forceChange},
        failed_login_count = 0, locked_until = NULL, updated_at = now()
      WHERE id = ${id}`
  }

  async delete(id: string): Promise<boolean> {
    const rows = await this.#sql`DELETE FROM users WHERE id = ${id}`
    return rows.count > 0
  }
}
