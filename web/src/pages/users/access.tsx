/**
 * What the signed-in person may do, from `/auth/me` (the sign-in answer carries no permissions). The admin pages
 * ask first and show a no-permission state instead of calling endpoints the server would refuse: a refused
 * request would only add noise (and a console error) to what the person sees.
 */
import { createResource } from 'solid-js'
import { api, ApiError } from '../../api.ts'

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

export function useMe() {
  const [me, { refetch }] = createResource(() => api<Me>('GET', '/api-internal/v1/auth/me'))
  const can = (permission: string) => me()?.permissions.includes(permission) ?? false
  return { me, refetch, can }
}

export const roleLabel = (role: string) => role.replace('_', ' ')

/** A refusal by the server (role changed meanwhile, say) is shown like the up-front check. */
export const isDenied = (error: unknown) => error instanceof ApiError && error.status === 403

export function NoPermission(props: { what: string; permission: string; role: string | undefined }) {
  return (
    <div class="card empty" role="status" data-testid="no-permission">
      <p><strong>You do not have permission to {props.what}.</strong></p>
      <p class="muted">
        This needs the <code>{props.permission}</code> permission, which your role
        {props.role ? ` (${roleLabel(props.role)})` : ''} does not include. Ask an administrator if you need access.
      </p>
    </div>
  )
}
