import { Elysia, t } from 'elysia'
import { changes } from '../audit/changes.ts'
import { auditFor } from '../audit/service.ts'
import type { VerifiedKey } from '../api-keys/verifier.ts'
import { guards } from '../auth/guards.ts'
import type { Caller } from '../gateway/service.ts'
import { ApiError } from '../http/errors.ts'
import { streamEvents } from '../http/event-stream.ts'
import { requestIdOf, startedAt } from '../http/request-meta.ts'
import type { Services } from '../services.ts'
import { presentResponse } from './engine.ts'
import { normalizeItem } from './items.ts'
import { AddItemsBody, CreateConversationBody, CreatePromptBody, CreateResponseBody, ListQuery, PromptSchema, PromptVersionSchema, UpdateConversationBody, UpdatePromptBody } from './model.ts'
import type { ConversationRow } from './store.ts'

const Id = t.String({ minLength: 1, maxLength: 64 })

const keyCaller = (request: Request, apiKey: VerifiedKey): Caller => ({
  source: 'api',
  endpoint: '/responses',
  userId: apiKey.user_id,
  apiKey,
  requestId: requestIdOf(request),
  startedAt: startedAt(request),
})

const presentConversation = (c: ConversationRow) => ({ id: c.id, object: 'conversation' as const, created_at: Math.floor(c.created_at.getTime() / 1000), metadata: c.metadata })
const items = (raw: readonly unknown[]) => raw.map((item, i) => normalizeItem(item, `items[${i}]`))

/**
 * OpenAI's Responses and Conversations APIs on the public API (scope `llm`: the gateway's own), so the official
 * SDKs work unchanged against `/api/v1`; prompt templates on the internal API (the dashboard manages them). All of
 * it is the key owner's: another user's ids answer 404.
 */
export function responseRoutes(s: Services) {
  const { responseStore: store, responseEngine: engine, prompts } = s
  const audit = auditFor(s.audit, 'prompt')

  const publicApi = new Elysia({ prefix: '/api/v1', tags: ['responses'] })
    .use(guards(s.guardDeps))
    .post(
      '/responses',
      async ({ request, apiKey, body }) => {
        const who = keyCaller(request, apiKey)
        if (!body.stream) return engine.create(who, body, request.signal, null)
        return streamEvents(request, s.log, (send) => engine.create(who, body, request.signal, (type, payload) => send(type, payload)).then(() => undefined))
      },
      {
        apiKey: 'llm',
        body: CreateResponseBody,
        detail: { summary: 'Create a response (OpenAI Responses API; `stream: true` for its server-sent events)' },
      },
    )
    .get(
      '/responses/:id',
      async ({ apiKey, params, query }) => {
        if (query.stream === 'true') throw new ApiError('validation_failed', 'Only background responses can be streamed again; none are', 'stream')
        const row = await store.get(apiKey.user_id, params.id)
        return presentResponse(row, store.openInstructions(row), (await store.items(row, 'output')).map((i) => i.item))
      },
      { apiKey: 'llm', params: t.Object({ id: Id }), query: t.Object({ stream: t.Optional(t.String()), include: t.Optional(t.Any()) }), detail: { summary: 'A stored response' } },
    )
    .delete(
      '/responses/:id',
      async ({ apiKey, params }) => {
        await store.delete(apiKey.user_id, params.id)
        return { id: params.id, object: 'response' as const, deleted: true }
      },
      { apiKey: 'llm', params: t.Object({ id: Id }), detail: { summary: 'Delete a stored response and its items' } },
    )
    .get('/responses/:id/input_items', async ({ apiKey, params, query }) => store.inputItems(apiKey.user_id, params.id, query), {
      apiKey: 'llm',
      params: t.Object({ id: Id }),
      query: ListQuery,
      detail: { summary: "A stored response's input items" },
    })
    .post(
      '/responses/:id/cancel',
      async ({ apiKey, params }) => {
        await store.get(apiKey.user_id, params.id)
        throw new ApiError('validation_failed', 'Only background responses can be cancelled; this one was not created with background', 'response_id')
      },
      { apiKey: 'llm', params: t.Object({ id: Id }), detail: { summary: 'Cancel a background response (none are: background is not supported)' } },
    )
    .post(
      '/conversations',
      async ({ apiKey, body }) => presentConversation(await store.createConversation(apiKey.user_id, body.metadata ?? {}, items(body.items ?? []))),
      { apiKey: 'llm', body: CreateConversationBody, detail: { summary: 'Create a conversation, optionally with its first items' } },
    )
    .get('/conversations/:id', async ({ apiKey, params }) => presentConversation(await store.conversation(apiKey.user_id, params.id)), {
      apiKey: 'llm',
      params: t.Object({ id: Id }),
      detail: { summary: 'A conversation' },
    })
    .post('/conversations/:id', async ({ apiKey, params, body }) => presentConversation(await store.updateConversation(apiKey.user_id, params.id, body.metadata ?? {})), {
      apiKey: 'llm',
      params: t.Object({ id: Id }),
      body: UpdateConversationBody,
      detail: { summary: "Update a conversation's metadata" },
    })
    .delete(
      '/conversations/:id',
      async ({ apiKey, params }) => {
        await store.deleteConversation(apiKey.user_id, params.id)
        return { id: params.id, object: 'conversation.deleted' as const, deleted: true }
      },
      { apiKey: 'llm', params: t.Object({ id: Id }), detail: { summary: 'Delete a conversation and its items' } },
    )
    .get('/conversations/:id/items', async ({ apiKey, params, query }) => store.listItems(apiKey.user_id, params.id, query), {
      apiKey: 'llm',
      params: t.Object({ id: Id }),
      query: ListQuery,
      detail: { summary: "A conversation's items (newest first unless order=asc)" },
    })
    .post(
      '/conversations/:id/items',
      async ({ apiKey, params, body }) => {
        const added = items(body.items)
        await store.addItems(apiKey.user_id, params.id, added)
        const data = added.map((i) => i.item)
        return { object: 'list' as const, data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: false }
      },
      { apiKey: 'llm', params: t.Object({ id: Id }), body: AddItemsBody, detail: { summary: 'Add items to a conversation' } },
    )
    .get('/conversations/:id/items/:itemId', async ({ apiKey, params }) => (await store.item(apiKey.user_id, params.id, params.itemId)).item, {
      apiKey: 'llm',
      params: t.Object({ id: Id, itemId: Id }),
      detail: { summary: 'One item of a conversation' },
    })
    .delete(
      '/conversations/:id/items/:itemId',
      async ({ apiKey, params }) => {
        await store.deleteItem(apiKey.user_id, params.id, params.itemId)
        return presentConversation(await store.conversation(apiKey.user_id, params.id))
      },
      { apiKey: 'llm', params: t.Object({ id: Id, itemId: Id }), detail: { summary: 'Delete an item from a conversation' } },
    )

  const internal = new Elysia({ prefix: '/api-internal/v1/prompts', tags: ['prompts'] })
    .use(guards(s.guardDeps))
    .get('/', async ({ user }) => ({ data: await prompts.list(user.id) }), {
      permission: 'llm:use',
      response: t.Object({ data: t.Array(PromptSchema) }),
      detail: { summary: 'Your prompt templates (their latest versions)' },
    })
    .post(
      '/',
      async ({ user, body, set, meta }) => {
        const row = await prompts.create(user.id, body)
        await audit(user, 'prompt.create', row.id, meta, { name: row.name })
        set.status = 201
        return row
      },
      { permission: 'llm:use', body: CreatePromptBody, response: { 201: PromptSchema }, detail: { summary: 'Create a prompt template (version 1)' } },
    )
    .get('/:id', async ({ user, params, query }) => prompts.get(user.id, params.id, query.version), {
      permission: 'llm:use',
      params: t.Object({ id: Id }),
      query: t.Object({ version: t.Optional(t.Integer({ minimum: 1 })) }),
      response: PromptSchema,
      detail: { summary: 'A prompt template (the latest version unless ?version=)' },
    })
    .get('/:id/versions', async ({ user, params }) => ({ data: await prompts.versions(user.id, params.id) }), {
      permission: 'llm:use',
      params: t.Object({ id: Id }),
      response: t.Object({ data: t.Array(PromptVersionSchema) }),
      detail: { summary: "A prompt template's versions, newest first" },
    })
    .patch(
      '/:id',
      async ({ user, params, body, meta }) => {
        const before = await prompts.get(user.id, params.id)
        const after = await prompts.update(user.id, params.id, body)
        // Each save is a new version, kept: the audit names both and what differs between them.
        const fields = Object.keys(body)
        await audit(user, 'prompt.update', params.id, meta, { from_version: before.version, to_version: after.version, fields, changes: changes(before, after, fields) })
        return after
      },
      {
      permission: 'llm:use',
      params: t.Object({ id: Id }),
      body: UpdatePromptBody,
      response: PromptSchema,
      detail: { summary: 'Save a new version (instructions, messages, variables), or rename' },
      },
    )
    .delete(
      '/:id',
      async ({ user, params, set, meta }) => {
        await prompts.delete(user.id, params.id)
        await audit(user, 'prompt.delete', params.id, meta)
        set.status = 204
      },
      { permission: 'llm:use', params: t.Object({ id: Id }), detail: { summary: 'Delete a prompt template and its versions' } },
    )

  return new Elysia().use(publicApi).use(internal)
}
