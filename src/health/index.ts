import { Elysia, t } from 'elysia'
import type { Services } from '../services.ts'
import { migrationsApplied } from '../db/migrate.ts'

type Check = 'ok' | string

async function check(fn: () => Promise<unknown>): Promise<Check> {
  try {
    const ok = await fn()
    return ok === false ? 'failing' : 'ok'
  } catch (err) {
    return `failing: ${(err as Error).message.slice(0, 200)}`
  }
}

/** Liveness says the process answers; readiness says it can serve: stores reachable, schema current, not draining. */
export function healthRoutes(s: Services) {
  return new Elysia({ prefix: '/health', tags: ['health'] })
    .get('/', () => ({ status: 'ok' as const }), {
      response: t.Object({ status: t.Literal('ok') }),
      detail: { summary: 'Liveness', security: [] },
    })
    .get(
      '/ready',
      async ({ set }) => {
        const [database, migrations, cache] = await Promise.all([
          check(() => s.sql`SELECT 1`),
          check(() => migrationsApplied(s.sql)),
          check(() => s.cache.ping()),
        ])
        const checks = { database, migrations, cache, accepting: s.draining ? 'draining' : 'ok' }
        const ready = Object.values(checks).every((c) => c === 'ok')
        set.status = ready ? 200 : 503
        // Reported, not gating: a restarting sandbox affects plugins only, not the rest of the platform.
        const sandbox = await s.plugins.health().catch((err) => ({ up: false, started: true, restarts: 0, plugins: null, error: (err as Error).message }))
        return { status: ready ? ('ready' as const) : ('unavailable' as const), checks, plugin_sandbox: sandbox }
      },
      { detail: { summary: 'Readiness: database, migrations, cache (and the plugin sandbox, reported)', security: [] } },
    )
}
