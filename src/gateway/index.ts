import { Elysia, t } from 'elysia'
import type { VerifiedKey } from '../api-keys/verifier.ts'
import { guards } from '../auth/guards.ts'
import { requestIdOf, startedAt } from '../http/request-meta.ts'
import type { Services } from '../services.ts'
import type { UserRow } from '../users/service.ts'
import { ChatCompletionBody, EmbeddingBody, ModelList, ModelObject, PlaygroundModelList } from './model.ts'
import type { ResolvedModel } from './registry.ts'
import { presentBudget } from '../budgets/model.ts'
import { usageByDay } from './reports.ts'
import type { Caller } from './service.ts'

const created = Math.floor(Date.now() / 1000)
const presentModel = (m: ResolvedModel) => ({
  id: m.id,
  object: 'model' as const,
  created,
  owned_by: m.provider.name,
  confidential: m.confidential,
})
/** Prices only on the internal API: the public one keeps OpenAI's model object. */
const presentPricedModel = (m: ResolvedModel) => ({
  ...presentModel(m),
  input_price_per_million: m.prices.input,
  output_price_per_million: m.prices.output,
})

const keyCaller = (request: Request, apiKey: VerifiedKey): Caller => ({
  source: 'api',
  userId: apiKey.user_id,
  apiKey,
  requestId: requestIdOf(request),
  startedAt: startedAt(request),
})

const userCaller = (request: Request, user: UserRow): Caller => ({
  source: 'playground',
  userId: user.id,
  apiKey: null,
  requestId: requestIdOf(request),
  startedAt: startedAt(request),
})

const UsageQuery = t.Object({ days: t.Integer({ minimum: 1, maximum: 366, default: 30 }) })

/** The OpenAI-compatible public API, its /llm extras, and the playground's twin on the internal API. */
export function gatewayRoutes(s: Services) {
  const providerStatus = () => ({ data: s.registry.providers.map((p) => p.health()) })

  const publicApi = new Elysia({ prefix: '/api/v1', tags: ['gateway'] })
    .use(guards(s.guardDeps))
    .get(
      '/models',
      async ({ request, apiKey }) => ({ object: 'list' as const, data: (await s.gateway.listModels(keyCaller(request, apiKey))).map(presentModel) }),
      { apiKey: 'llm', response: ModelList, detail: { summary: 'Models this key may use' } },
    )
    // Model ids may contain slashes (e.g. "google/gemma-3-27b"), hence the wildcard.
    .get('/models/*', async ({ request, apiKey, params }) => presentModel(await s.gateway.model(keyCaller(request, apiKey), params['*'])), {
      apiKey: 'llm',
      response: ModelObject,
      detail: { summary: 'One model' },
    })
    .post('/chat/completions', ({ request, apiKey, body }) => s.gateway.chat(keyCaller(request, apiKey), body, request.signal), {
      apiKey: 'llm',
      body: ChatCompletionBody,
      detail: { summary: 'Chat completion (OpenAI-compatible; `stream: true` for server-sent events)' },
    })
    .post('/embeddings', ({ request, apiKey, body }) => s.gateway.embeddings(keyCaller(request, apiKey), body, request.signal), {
      apiKey: 'llm',
      body: EmbeddingBody,
      detail: { summary: 'Embeddings (OpenAI-compatible)' },
    })
    .get('/llm/usage', async ({ apiKey, query }) => ({ data: await usageByDay(s.sql, { apiKeyId: apiKey.id }, query.days) }), {
      apiKey: true,
      query: UsageQuery,
      detail: { summary: "This key's usage by day and model" },
    })
    .get(
      '/llm/budget/status',
      async ({ apiKey }) => ({ data: (await s.budgets.applicable({ userId: apiKey.user_id, apiKeyId: apiKey.id })).map(presentBudget) }),
      { apiKey: true, detail: { summary: 'The budgets that apply to this key, with what is spent and reserved' } },
    )
    .get('/llm/providers/status', providerStatus, {
      apiKey: true,
      detail: { summary: 'Provider health, circuit state and whether it serves confidentially' },
    })

  const internalApi = new Elysia({ prefix: '/api-internal/v1/llm', tags: ['playground'] })
    .use(guards(s.guardDeps))
    .get('/models', async ({ request, user }) => ({ object: 'list' as const, data: (await s.gateway.listModels(userCaller(request, user))).map(presentPricedModel) }), {
      permission: 'llm:use',
      response: PlaygroundModelList,
      detail: { summary: 'Models for the playground, with their prices (USD per 1M tokens)' },
    })
    .post('/chat/completions', ({ request, user, body }) => s.gateway.chat(userCaller(request, user), body, request.signal), {
      permission: 'llm:use',
      body: ChatCompletionBody,
      detail: { summary: "Playground chat, charged to the user's budgets" },
    })
    .post('/embeddings', ({ request, user, body }) => s.gateway.embeddings(userCaller(request, user), body, request.signal), {
      permission: 'llm:use',
      body: EmbeddingBody,
      detail: { summary: 'Playground embeddings' },
    })
    .get('/usage', async ({ user, query }) => ({ data: await usageByDay(s.sql, { userId: user.id }, query.days) }), {
      permission: 'llm:use',
      query: UsageQuery,
      detail: { summary: 'Your usage by day and model (all your keys and the playground)' },
    })
    .get('/providers/status', providerStatus, {
      permission: 'llm:use',
      detail: { summary: 'Provider health' },
    })

  return new Elysia().use(publicApi).use(internalApi)
}
