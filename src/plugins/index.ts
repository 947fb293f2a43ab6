import { Elysia } from 'elysia'
import type { Services } from '../services.ts'
import { pluginAdminRoutes } from './admin-routes.ts'
import { pluginExecuteRoutes } from './execute-routes.ts'
import { pluginInvokeRoutes } from './invoke-routes.ts'

/**
 * Plugin management for administrators (`/api-internal/v1/plugin-admin`), and the plugins' own routes:
 * `/api/v1/plugins/<name>/<path>` (API-key and public routes) and `/api-internal/v1/plugins/<name>/<path>` (JWT).
 */
export function pluginRoutes(s: Services) {
  return new Elysia().use(pluginAdminRoutes(s)).use(pluginExecuteRoutes(s)).use(pluginInvokeRoutes(s))
}
