import { Elysia, t } from 'elysia'
import type { Services } from '../services.ts'
import { guards } from '../auth/guards.ts'
import { holds } from '../auth/roles.ts'
import type { UserRow } from '../users/service.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import { usageByDay } from '../gateway/reports.ts'
import {
  CreateKeyBody,
  KeySchema,
  KeyUsageDailyQuery,
  KeyUsageDaySchema,
  KeyUsageSchema,
  KeyWithSecretSchema,
  ListKeysQuery,
  MeSchema,
  UpdateKeyBody,
} from './model.ts'
import { presentKey, type KeyActor } from './service.ts'
import { changes } from '../audit/changes.ts'

const IdParams = t.Object({ id: t.String({ format: 'uuid' }) })
const actorOf = (user: UserRow): KeyActor => ({ userId: user.id, isAdmin: holds(user, 'api_keys:admin') })

/** Key management on the internal API: your own keys, or everyone's with api_keys:admin. */
export function apiKeyRoutes(s: Services) {
  type Headers = { headers: Record<string, string | number> }
  /**
   * After a change is committed: every replica is told at once over the cache; when the cache cannot carry it the
   * answer says so (the change is saved, and reaches the other replicas within the verifier's recheck interval).
   */
  const audited = async (user: UserRow, action: string, keyId: string, meta: RequestMeta, set: Headers, details?: Record<string, unknown>) => {
    if (!(await s.verifier.invalidate(`key:${keyId}`)))
      set.headers['x-enclava-propagation'] = `delayed; other replicas apply this change within ${s.verifier.recheckSeconds} s (the cache is unavailable)`
    await s.audit.record(
      { action, outcome: 'success', actor: { userId: user.id, label: user.email }, resource: { type: 'api_key', id: keyId }, ...(details ? { details } : {}) },
      meta,
    )
  }
  const toggle = (active: boolean) => async ({ params, user, meta, set }: { params: { id: string }; user: UserRow; meta: RequestMeta; set: Headers }) => {
    const row = await s.apiKeys.setActive(params.id, actorOf(user), active)
    await audited(user, active ? 'api_key.activate' : 'api_key.deactivate', row.id, meta, set)
    return presentKey(row)
  }

  return new Elysia({ prefix: '/api-internal/v1/api-keys', tags: ['api-keys'] })
    .use(guards(s.guardDeps))
    .get(
      '/',
      async ({ query, user }) => {
        const { items, total } = await s.apiKeys.list(actorOf(user), query)
        return { data: items.map(presentKey), total, limit: query.limit, offset: query.offset }
      },
      {
        permission: 'api_keys:read',
        query: ListKeysQuery,
        response: t.Object({ data: t.Array(KeySchema), total: t.Integer(), limit: t.Integer(), offset: t.Integer() }),
        detail: { summary: 'List your API keys (admins: ?all=true for everyone\'s)' },
      },
    )
    .post(
      '/',
      async ({ body, user, meta, set }) => {
        const { row, key } = await s.apiKeys.create(user.id, body)
        await audited(user, 'api_key.create', row.id, meta, set, { name: row.name, scopes: row.scopes })
        set.status = 201
        return { ...presentKey(row), key }
      },
      {
        permission: 'api_keys:write',
        body: CreateKeyBody,
        response: { 201: KeyWithSecretSchema },
        detail: { summary: 'Create an API key; the secret is in `key`, shown only this once' },
      },
    )
    .get('/:id', async ({ params, user }) => presentKey(await s.apiKeys.get(params.id, actorOf(user))), {
      permission: 'api_keys:read',
      params: IdParams,
      response: KeySchema,
      detail: { summary: 'Get an API key (never its secret)' },
    })
    .patch(
      '/:id',
      async ({ params, body, user, meta, set }) => {
        const before = presentKey(await s.apiKeys.get(params.id, actorOf(user)))
        const row = await s.apiKeys.update(params.id, actorOf(user), body)
        const fields = Object.keys(body)
        await audited(user, 'api_key.update', row.id, meta, set, { fields, changes: changes(before, presentKey(row), fields) })
        return presentKey(row)
      },
      {
        permission: 'api_keys:write',
        params: IdParams,
        body: UpdateKeyBody,
        response: KeySchema,
        detail: { summary: 'Change a key\'s name, scopes, restrictions, limits or expiry' },
      },
    )
    .delete(
      '/:id',
      async ({ params, user, meta, set }) => {
        const row = await s.apiKeys.delete(params.id, actorOf(user))
        await audited(user, 'api_key.delete', row.id, meta, set, { name: row.name })
        set.status = 204
      },
      { permission: 'api_keys:write', params: IdParams, detail: { summary: 'Delete (revoke) an API key' } },
    )
    .post(
      '/:id/regenerate',
      async ({ params, user, meta, set }) => {
        const { row, key } = await s.apiKeys.regenerate(params.id, actorOf(user))
        await audited(user, 'api_key.regenerate', row.id, meta, set)
        return { ...presentKey(row), key }
      },
      {
        permission: 'api_keys:write',
        params: IdParams,
        response: KeyWithSecretSchema,
        detail: { summary: 'Replace the secret; the old one stops working at once' },
      },
    )
    .post('/:id/activate', toggle(true), {
      permission: 'api_keys:write',
      params: IdParams,
      response: KeySchema,
      detail: { summary: 'Activate a key' },
    })
    .post('/:id/deactivate', toggle(false), {
      permission: 'api_keys:write',
      params: IdParams,
      response: KeySchema,
      detail: { summary: 'Deactivate a key (it can be activated again)' },
    })
    .get(
      '/:id/usage',
      async ({ params, user }) => {
        await s.keyUsage.flush()
        const row = await s.apiKeys.get(params.id, actorOf(user))
        return { id: row.id, request_count: Number(row.request_count), last_used_at: row.last_used_at?.toISOString() ?? null }
      },
      { permission: 'api_keys:read', params: IdParams, response: KeyUsageSchema, detail: { summary: 'Usage counters of a key' } },
    )
    .get(
      '/:id/usage/daily',
      async ({ params, query, user }) => {
        // Ownership first: another user's key is a 404 here too.
        const row = await s.apiKeys.get(params.id, actorOf(user))
        // Recorded usage is batched; flushing makes the chart include the requests just made.
        await s.ledger.flush()
        return { data: await usageByDay(s.sql, { apiKeyId: row.id }, query.days) }
      },
      {
        permission: 'api_keys:read',
        params: IdParams,
        query: KeyUsageDailyQuery,
        response: t.Object({ data: t.Array(KeyUsageDaySchema) }),
        detail: { summary: "A key's requests, tokens and cost per day and model, for the last `days` days" },
      },
    )
}

/** `GET /api/v1/me`: what the presented key is and may do. */
export function publicKeyRoutes(s: Services) {
  return new Elysia({ prefix: '/api/v1', tags: ['public'] }).use(guards(s.guardDeps)).get(
    '/me',
    ({ apiKey: k }) => ({
      id: k.id,
      name: k.name,
      key_prefix: k.key_prefix,
      owner: { id: k.owner.id, username: k.owner.username, email: k.owner.email },
      scopes: k.scopes,
      limits: {
        allowed_models: k.allowed_models,
        allowed_endpoints: k.allowed_endpoints,
        allowed_ips: k.allowed_ips,
        allowed_collections: k.allowed_collections,
        allowed_chatbots: k.allowed_chatbots,
        allowed_origins: k.allowed_origins,
        rate_limit_per_minute: k.rate_limit_per_minute,
        rate_limit_per_hour: k.rate_limit_per_hour,
        rate_limit_per_day: k.rate_limit_per_day,
        rate_limit_tokens_per_minute: k.rate_limit_tokens_per_minute,
        expires_at: k.expires_at?.toISOString() ?? null,
      },
    }),
    { apiKey: true, response: MeSchema, detail: { summary: 'The API key in use, its owner and its limits' } },
  )
}
