/**
 * What the signed-in person may do, from `/auth/me` (the sign-in answer does not carry permissions). Pages ask
 * before calling endpoints the person cannot use: a refused request would only add noise and console errors.
 */
import { createResource } from 'solid-js'
import { api } from '../../api.ts'
import type { User } from '../../session.ts'

export function usePermissions() {
  const [me] = createResource(() => api<User>('GET', '/api-internal/v1/auth/me'))
  const can = (permission: string) => me()?.permissions?.includes(permission) ?? false
  return { me, can }
}
