import { Elysia, t } from 'elysia'
import { changes } from '../audit/changes.ts'
import { auditFor } from '../audit/service.ts'
import { guards } from '../auth/guards.ts'
import type { Services } from '../services.ts'
import type { Provider } from './provider.ts'
import type { ProviderRow } from './registry.ts'
import {
  CatalogModelSchema,
  CreateProviderBody,
  ModelSettingsBody,
  ModelSettingsSchema,
  presentModelSettings,
  ProviderName,
  ProviderTestSchema,
  ProviderViewSchema,
  UpdateProviderBody,
  type ProviderView,
} from './admin-model.ts'

/**
 * What an admin needs to price models: the registry knows which models are served and at what price (defaults
 * included), the settings table knows what was set by hand, including models switched off.
 */
async function modelCatalog(s: Services) {
  const [served, rows] = await Promise.all([s.registry.list(), s.gatewayAdmin.listModelSettings()])
  const settings = new Map(rows.map((r) => [r.id, r]))
  const ids = [...new Set([...served.map((m) => m.id), ...settings.keys()])].sort()
  return ids.map((id) => {
    const m = served.find((x) => x.id === id)
    const row = settings.get(id)
    const provider = m?.provider ?? (row?.provider_name ? s.registry.provider(row.provider_name) : undefined)
    const set = row ? presentModelSettings(row) : null
    return {
      id,
      provider: m?.provider.name ?? row?.provider_name ?? null,
      confidential: provider?.confidential ?? null,
      available: m !== undefined,
      input_price_per_million: m?.prices.input ?? set?.input_price_per_million ?? null,
      output_price_per_million: m?.prices.output ?? set?.output_price_per_million ?? null,
      settings: set,
    }
  })
}

/** Admin management of providers and model settings (providers:manage). Keys go in, never out. */
export function gatewayAdminRoutes(s: Services) {
  const present = (p: Provider): ProviderView => ({ name: p.name, kind: p.kind, base_url: p.baseUrl, source: 'configuration', is_active: true, health: p.health() })
  const presentRow = (row: ProviderRow): ProviderView => {
    const live = s.registry.provider(row.name)
    return {
      name: row.name,
      kind: row.kind,
      base_url: row.base_url,
      source: 'database' as const,
      is_active: row.is_active,
      has_api_key: row.api_key_encrypted !== null,
      health: live?.health() ?? null,
    }
  }
  const audit = auditFor(s.audit, 'provider')

  return new Elysia({ prefix: '/api-internal/v1/llm', tags: ['providers'] })
    .use(guards(s.guardDeps))
    .get(
      '/providers',
      async () => {
        await s.registry.list()
        const rows = await s.gatewayAdmin.listProviders()
        return { data: [...s.registry.configured.map(present), ...rows.map(presentRow)] }
      },
      {
        permission: 'providers:manage',
        response: t.Object({ data: t.Array(ProviderViewSchema) }),
        detail: { summary: 'Providers from configuration and from the database, with health' },
      },
    )
    .post(
      '/providers',
      async ({ body, user, meta, set }) => {
        const row = await s.gatewayAdmin.createProvider(body)
        await audit(user, 'provider.create', row.name, meta, { kind: row.kind, base_url: row.base_url })
        set.status = 201
        return presentRow(row)
      },
      {
        permission: 'providers:manage',
        body: CreateProviderBody,
        response: { 201: ProviderViewSchema },
        detail: { summary: 'Add a provider (privatemode defaults to http://localhost:8080/v1)' },
      },
    )
    .patch(
      '/providers/:name',
      async ({ params, body, user, meta }) => {
        const before = presentRow(await s.gatewayAdmin.getProvider(params.name))
        const row = await s.gatewayAdmin.updateProvider(params.name, body)
        const fields = Object.keys(body)
        // api_key is a secret: recorded as changed, never with its value (audit/changes.ts).
        await audit(user, 'provider.update', row.name, meta, { fields, changes: changes(before, presentRow(row), fields) })
        return presentRow(row)
      },
      {
        permission: 'providers:manage',
        params: t.Object({ name: ProviderName }),
        body: UpdateProviderBody,
        response: ProviderViewSchema,
        detail: { summary: 'Change a provider; api_key null removes the stored key' },
      },
    )
    .delete(
      '/providers/:name',
      async ({ params, user, meta, set }) => {
        await s.gatewayAdmin.deleteProvider(params.name)
        await audit(user, 'provider.delete', params.name, meta)
        set.status = 204
      },
      { permission: 'providers:manage', params: t.Object({ name: ProviderName }), detail: { summary: 'Remove a provider' } },
    )
    .post(
      '/providers/:name/test',
      async ({ params }) => {
        await s.registry.list()
        const provider = s.registry.provider(params.name)
        if (!provider) return { ok: false, error: 'unknown or inactive provider', models: [], latency_ms: null }
        const started = performance.now()
        try {
          const models = await provider.listModels()
          return { ok: true, error: null, models, latency_ms: Math.round(performance.now() - started) }
        } catch (err) {
          return { ok: false, error: (err as Error).message, models: [], latency_ms: Math.round(performance.now() - started) }
        }
      },
      {
        permission: 'providers:manage',
        params: t.Object({ name: ProviderName }),
        response: ProviderTestSchema,
        detail: { summary: "Test a provider's connection by listing its models" },
      },
    )
    .get('/model-catalog', async () => ({ data: await modelCatalog(s) }), {
      permission: 'providers:manage',
      response: t.Object({ data: t.Array(CatalogModelSchema) }),
      detail: {
        summary: 'Every model: the provider serving it, whether it is confidential, the prices in effect and its settings row (also inactive ones)',
      },
    })
    .get('/model-settings', async () => ({ data: (await s.gatewayAdmin.listModelSettings()).map(presentModelSettings) }), {
      permission: 'providers:manage',
      response: t.Object({ data: t.Array(ModelSettingsSchema) }),
      detail: { summary: 'Per-model settings: provider, prices, output cap, fallback' },
    })
    .put(
      '/model-settings/*',
      async ({ params, body, user, meta }) => {
        const previous = (await s.gatewayAdmin.listModelSettings()).find((m) => m.id === params['*'])
        const row = await s.gatewayAdmin.putModelSettings(params['*'], body)
        const after = presentModelSettings(row)
        // A PUT replaces the whole row: every field is compared, from nothing for a model without settings before.
        const fields = Object.keys(after).filter((f) => f !== 'id' && f !== 'updated_at' && f !== 'created_at')
        await audit(user, 'model.settings', params['*'], meta, { fields: Object.keys(body), changes: changes(previous ? presentModelSettings(previous) : {}, after, fields) })
        return presentModelSettings(row)
      },
      { permission: 'providers:manage', body: ModelSettingsBody, response: ModelSettingsSchema, detail: { summary: 'Set a model\'s provider, prices (USD per 1M tokens), cap and fallback' } },
    )
    .delete(
      '/model-settings/*',
      async ({ params, user, meta, set }) => {
        await s.gatewayAdmin.deleteModelSettings(params['*'])
        await audit(user, 'model.settings_delete', params['*'], meta)
        set.status = 204
      },
      { permission: 'providers:manage', detail: { summary: 'Back to the provider\'s defaults for a model' } },
    )
}
