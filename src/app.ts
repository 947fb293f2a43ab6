import { Elysia } from 'elysia'
import { openapi } from '@elysiajs/openapi'
// Before any route is compiled: restores TypeBox's formats that @elysiajs/openapi replaced at load (see the module).
import './http/formats.ts'
import { apiKeyRoutes, publicKeyRoutes } from './api-keys/index.ts'
import { auditRoutes } from './audit/index.ts'
import { authRoutes } from './auth/index.ts'
import { budgetRoutes } from './budgets/index.ts'
import { gatewayAdminRoutes } from './gateway/admin.ts'
import { gatewayRoutes } from './gateway/index.ts'
import { healthRoutes } from './health/index.ts'
import { chatbotRoutes } from './chatbots/index.ts'
import { widgetRoutes } from './chatbots/widget.ts'
import { pluginOriginGuard } from './plugins/boundary.ts'
import { pluginRoutes } from './plugins/index.ts'
import { agentRoutes } from './agents/index.ts'
import { mcpRoutes } from './mcp/index.ts'
import { responseRoutes } from './responses/index.ts'
import { ragRoutes } from './rag/index.ts'
import { bodyLimits, nameBodyParsers } from './http/body.ts'
import { httpBasics } from './http/plugin.ts'
import type { Services } from './services.ts'
import { userRoutes } from './users/index.ts'
import { dashboardRoutes } from './web/dashboard.ts'
import { analyticsRoutes } from './analytics/index.ts'
import { securityGuard } from './security/guard.ts'
import { securityRoutes } from './security/index.ts'
import { settingsRoutes } from './settings/index.ts'
import { moduleGate, moduleRoutes } from './modules/index.ts'
import { roleRoutes } from './roles/index.ts'
import { notificationRoutes } from './notifications/index.ts'
import { retentionRoutes } from './retention/index.ts'
import pkg from '../package.json' with { type: 'json' }

/** The whole HTTP surface: public /api/v1 (API keys), internal /api-internal/v1 (JWT), health, docs. */
export function createApp(s: Services) {
  // normalize: false makes `additionalProperties: false` reject unknown fields with a 400 naming them, instead of
  // Elysia silently dropping them (a mistyped field must not be ignored). Only the root app's setting applies.
  // encodeSchema: false: answers are checked against their schema, not also re-encoded through it. Elysia's
  // t.Integer and t.Date carry a transform (numeric strings and date strings in, for query strings), and any transform
  // in a response schema made Elysia walk every answer through TypeBox's Encode after building it: 9% of a 100-result
  // search's server time (`BENCH_PROFILE_DIR=… bun bench/rag.ts`). What those encodes produce is what JSON.stringify
  // writes anyway (a number stays a number, a Date becomes its ISO string).
  const app = new Elysia({ normalize: false, encodeSchema: false })
    .use(httpBasics(s.log))
    // Blocked addresses are refused before anything else is done for them.
    .use(securityGuard(s.security, s.config.TRUST_PROXY))
    .use(pluginOriginGuard(s.config.PLUGIN_ORIGIN))
    // A disabled module's routes answer 503 module_disabled before anything else is done for them.
    .use(moduleGate(s.modules))
    .use(
      bodyLimits({
        maxCredentialedBytes: Math.floor(s.config.MAX_JSON_BODY_MB * 1024 * 1024),
        maxAnonymousBytes: s.config.MAX_ANONYMOUS_BODY_KB * 1024,
        credentialed: s.credentialed,
        // Plugin routes read (and cap) their own bodies.
        ownBody: (route) => route.startsWith('/api/v1/plugins/') || route.startsWith('/api-internal/v1/plugins/'),
      }),
    )
    .use(
      openapi({
        path: '/api/v1/docs',
        specPath: '/api/v1/docs/json',
        provider: 'swagger-ui',
        exclude: { paths: [/^\/api\/v1\/docs/] },
        documentation: {
          info: {
            title: 'Enclava API',
            version: pkg.version,
            description:
              'Public API under /api/v1 (API key: `Authorization: Bearer en_...`); internal dashboard API under ' +
              '/api-internal/v1 (JWT from /api-internal/v1/auth/login).',
          },
          components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
          security: [{ bearer: [] }],
        },
      }),
    )
    .use(healthRoutes(s))
    .use(publicKeyRoutes(s))
    .use(authRoutes(s))
    .use(userRoutes(s))
    .use(apiKeyRoutes(s))
    .use(auditRoutes(s))
    .use(analyticsRoutes(s))
    .use(securityRoutes(s))
    .use(settingsRoutes(s))
    .use(moduleRoutes(s))
    .use(roleRoutes(s))
    .use(notificationRoutes(s))
    .use(retentionRoutes(s))
    .use(gatewayRoutes(s))
    .use(gatewayAdminRoutes(s))
    .use(budgetRoutes(s))
    .use(ragRoutes(s))
    .use(chatbotRoutes(s))
    .use(widgetRoutes(s))
    .use(pluginRoutes(s))
    .use(agentRoutes(s))
    .use(mcpRoutes(s))
    .use(responseRoutes(s))
    // Last: the dashboard answers only what no API route did.
    .use(dashboardRoutes(s.config.WEB_DIST_DIR))
  nameBodyParsers(app.routes)
  return app
}

export type App = ReturnType<typeof createApp>
