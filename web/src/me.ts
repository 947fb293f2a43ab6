/**
 * The signed-in person and what they may do (`/auth/me`; the sign-in answer carries no permissions), fetched once
 * per session and shared by the navigation and every page, instead of each page asking again. Pages ask `can()`
 * before calling endpoints the person cannot use: a refused request would only add noise and a console error.
 */
import { createResource, createRoot, type Resource } from 'solid-js'
import { api } from './api.ts'
import { status, user } from './session.ts'

export interface Me {
  id: string
  email: string
  username: string
  role: string
  is_active: boolean
  force_password_change: boolean
  created_at: string
  last_login_at: string | null
  permissions: string[]
}

const store = createRoot(() => {
  // Keyed on the session's user: a sign-out and another sign-in (or a password change) fetch anew.
  const [me, { refetch }] = createResource(
    () => {
      const u = user()
      return status() === 'signed-in' && u ? `${u.id}:${u.force_password_change}` : false
    },
    () => api<Me>('GET', '/api-internal/v1/auth/me'),
  )
  return { me, refetch }
})

/**
 * @example
 * const { me, can } = useMe()
 * <Show when={can('users:read')}>…</Show>
 */
export function useMe(): { me: Resource<Me>; refetch: () => void; can: (permission: string) => boolean } {
  return {
    me: store.me,
    refetch: () => void store.refetch(),
    // `latest` of a failed resource throws; a failed /auth/me grants nothing (the pages show its error).
    can: (permission: string) => (store.me.error ? false : (store.me.latest?.permissions.includes(permission) ?? false)),
  }
}

export const roleLabel = (role: string) => role.replace('_', ' ')
