import { Elysia, t } from 'elysia'
import { guards } from '../auth/guards.ts'
import { holds } from '../auth/roles.ts'
import type { Services } from '../services.ts'
import { moduleStats } from './stats.ts'
import { MODULE_INFO, MODULES, moduleDisabled, type ModuleName, type ModuleRegistry } from './service.ts'

/**
 * Before routing: a request for a disabled module's routes gets 503 module_disabled (with Retry-After), on every
 * replica. Costs nothing while every module is on (one boolean), a few prefix comparisons otherwise.
 */
export function moduleGate(modules: ModuleRegistry) {
  return new Elysia({ name: 'module-gate' })
    .onRequest(({ request }) => {
      const url = request.url
      const pathAt = url.indexOf('/', url.indexOf('//') + 2)
      const queryAt = url.indexOf('?', pathAt)
      const name = modules.disabledFor(queryAt === -1 ? url.slice(pathAt) : url.slice(pathAt, queryAt))
      if (name) throw moduleDisabled(name)
    })
    .as('global')
}

const ModuleView = t.Object({
  name: t.String(),
  title: t.String(),
  description: t.String(),
  enabled: t.Boolean(),
  reason: t.Nullable(t.String()),
  updated_at: t.Nullable(t.Date()),
  updated_by: t.Nullable(t.String()),
  /** This replica's background work of the module: running, paused, or none (the module has none). */
  background: t.Union([t.Literal('running'), t.Literal('paused'), t.Literal('none')]),
  background_work: t.Nullable(t.String()),
  /** Counts for administrators (settings:manage); null for others. */
  stats: t.Nullable(t.Record(t.String(), t.Number())),
})

const NameParams = t.Object({ name: t.String({ minLength: 1, maxLength: 40 }) })
const SetBody = t.Optional(t.Object({ reason: t.Optional(t.String({ maxLength: 500 })) }, { additionalProperties: false }))

/**
 * Modules: chatbots, rag, agents, plugins and the playground, each enabled or disabled at run time
 * (`/api-internal/v1/modules`). Every signed-in user may read their status (the dashboard hides a disabled module's
 * section); stats and changes need settings:manage.
 */
export function moduleRoutes(s: Services) {
  const view = async (name: ModuleName, withStats: boolean) => {
    const state = s.modules.state(name)
    const work = s.modules.workOf(name)
    return {
      name,
      title: MODULE_INFO[name].title,
      description: MODULE_INFO[name].description,
      ...state,
      background: work === null ? ('none' as const) : s.modules.backgroundRunning(name) ? ('running' as const) : ('paused' as const),
      background_work: work,
      stats: withStats ? await moduleStats(s.sql, name) : null,
    }
  }
  return new Elysia({ prefix: '/api-internal/v1/modules', tags: ['modules'] })
    .use(guards(s.guardDeps))
    .get('/', async ({ user, query }) => ({ data: await Promise.all(MODULES.map((m) => view(m, query.stats !== false && holds(user, 'settings:manage')))) }), {
      session: true,
      // The navigation asks often and needs no counts: stats=false skips them.
      query: t.Object({ stats: t.Optional(t.Boolean()) }),
      response: t.Object({ data: t.Array(ModuleView) }),
      detail: { summary: 'Every module with its status (and, for administrators, its stats unless stats=false)' },
    })
    .post(
      '/:name/enable',
      async ({ user, params, meta }) => {
        await s.modules.set(params.name, true, user, meta)
        return view(params.name as ModuleName, true)
      },
      { permission: 'settings:manage', params: NameParams, body: SetBody, response: ModuleView, detail: { summary: 'Enable a module on every replica' } },
    )
    .post(
      '/:name/disable',
      async ({ user, params, body, meta }) => {
        await s.modules.set(params.name, false, user, meta, body?.reason ?? null)
        return view(params.name as ModuleName, true)
      },
      {
        permission: 'settings:manage',
        params: NameParams,
        body: SetBody,
        response: ModuleView,
        detail: { summary: "Disable a module on every replica: its routes answer 503 module_disabled, its background work pauses, the dashboard hides it" },
      },
    )
}
