import { Elysia, t } from 'elysia'
import { guards } from '../auth/guards.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import type { Services } from '../services.ts'
import type { UserRow } from '../users/service.ts'
import type { Provider } from './provider.ts'
import type { ProviderRow } from './registry.ts'

const Name = t.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' })
const Kind = t.Union([t.Literal('privatemode'), t.Literal('openai-compatible')])
const Url = t.String({ pattern: '^https?://', maxLength: 2048 })
const Price = t.Nullable(t.Number({ minimum: 0, maximum: 100_000 }))

const ModelSettingsBody = t.Object(
  {
    provider_name: t.Optional(t.Nullable(Name)),
    upstream_id: t.Optional(t.Nullable(t.String({ minLength: 1, maxLength: 256 }))),
    input_price_per_million: t.Optional(Price),
    output_price_per_million: t.Optional(Price),
    max_output_tokens: t.Optional(t.Nullable(t.Integer({ minimum: 1, maximum: 1_000_000 }))),
    fallback_model: t.Optional(t.Nullable(t.String({ minLength: 1, maxLength: 256 }))),
    is_active: t.Optional(t.Boolean()),
  },
  { additionalProperties: false },
)

const price = (v: string | number | null) => (v === null ? null : Number(v))

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
    return {
      id,
      provider: m?.provider.name ?? row?.provider_name ?? null,
      confidential: provider?.confidential ?? null,
      /** Served right now: listed by a provider or routed to one, and not switched off. */
      available: m !== undefined,
      input_price_per_million: m?.prices.input ?? price(row?.input_price_per_million ?? null),
      output_price_per_million: m?.prices.output ?? price(row?.output_price_per_million ?? null),
      settings: row
        ? {
            ...row,
            input_price_per_million: price(row.input_price_per_million),
            output_price_per_million: price(row.output_price_per_million),
          }
        : null,
    }
  })
}

/** Admin management of providers and model settings (providers:manage). Keys go in, never out. */
export function gatewayAdminRoutes(s: Services) {
  const present = (p: Provider, row?: ProviderRow) => ({
    name: p.name,
    kind: p.kind,
    base_url: p.baseUrl,
    source: row ? ('database' as const) : ('configuration' as const),
    is_active: row?.is_active ?? true,
    has_api_key: row ? row.api_key_encrypted !== null : undefined,
    health: p.health(),
  })
  const presentRow = (row: ProviderRow) => {
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
  const audit = (user: UserRow, action: string, id: string, meta: RequestMeta, details: Record<string, unknown> = {}) =>
    s.audit.record({ action, outcome: 'success', actor: { userId: user.id, label: user.email }, resource: { type: 'provider', id }, details }, meta)

  return new Elysia({ prefix: '/api-internal/v1/llm', tags: ['providers'] })
    .use(guards(s.guardDeps))
    .get(
      '/providers',
      async () => {
        await s.registry.list()
        const rows = await s.gatewayAdmin.listProviders()
        return { data: [...s.registry.configured.map((p) => present(p)), ...rows.map(presentRow)] }
      },
      { permission: 'providers:manage', detail: { summary: 'Providers from configuration and from the database, with health' } },
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
        body: t.Object(
          { name: Name, kind: Kind, base_url: t.Optional(Url), api_key: t.Optional(t.String({ minLength: 1, maxLength: 4096 })), is_active: t.Optional(t.Boolean()) },
          { additionalProperties: false },
        ),
        detail: { summary: 'Add a provider (privatemode defaults to http://localhost:8080/v1)' },
      },
    )
    .patch(
      '/providers/:name',
      async ({ params, body, user, meta }) => {
        const row = await s.gatewayAdmin.updateProvider(params.name, body)
        await audit(user, 'provider.update', row.name, meta, { fields: Object.keys(body) })
        return presentRow(row)
      },
      {
        permission: 'providers:manage',
        params: t.Object({ name: Name }),
        body: t.Object(
          { base_url: t.Optional(Url), api_key: t.Optional(t.Nullable(t.String({ minLength: 1, maxLength: 4096 }))), is_active: t.Optional(t.Boolean()) },
          { additionalProperties: false, minProperties: 1 },
        ),
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
      { permission: 'providers:manage', params: t.Object({ name: Name }), detail: { summary: 'Remove a provider' } },
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
      { permission: 'providers:manage', params: t.Object({ name: Name }), detail: { summary: "Test a provider's connection by listing its models" } },
    )
    .get('/model-catalog', async () => ({ data: await modelCatalog(s) }), {
      permission: 'providers:manage',
      detail: {
        summary: 'Every model: the provider serving it, whether it is confidential, the prices in effect and its settings row (also inactive ones)',
      },
    })
    .get('/model-settings', async () => ({ data: await s.gatewayAdmin.listModelSettings() }), {
      permission: 'providers:manage',
      detail: { summary: 'Per-model settings: provider, prices, output cap, fallback' },
    })
    .put(
      '/model-settings/*',
      async ({ params, body, user, meta }) => {
        const row = await s.gatewayAdmin.putModelSettings(params['*'], body)
        await audit(user, 'model.settings', params['*'], meta, body)
        return row
      },
      { permission: 'providers:manage', body: ModelSettingsBody, detail: { summary: 'Set a model\'s provider, prices (USD per 1M tokens), cap and fallback' } },
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
