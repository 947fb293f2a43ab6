/**
 * What the signed-in person may do, from the shared `/auth/me` (me.ts). The admin pages ask first and show a
 * no-permission state instead of calling endpoints the server would refuse.
 */
import { ApiError } from '../../api.ts'

export { useMe, roleLabel, type Me } from '../../me.ts'
export { NoPermission } from '../../ui.tsx'

/** A refusal by the server (role changed meanwhile, say) is shown like the up-front check. */
export const isDenied = (error: unknown) => error instanceof ApiError && error.status === 403
