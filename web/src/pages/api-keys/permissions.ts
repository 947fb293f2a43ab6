/**
 * What the signed-in person may do: the shared `/auth/me` of me.ts (asked once per session). Pages ask before
 * calling endpoints the person cannot use: a refused request would only add noise and console errors.
 */
export { useMe as usePermissions } from '../../me.ts'
