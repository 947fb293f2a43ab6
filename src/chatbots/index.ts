import { Elysia, t } from 'elysia'
import { guards } from '../auth/guards.ts'
import { can } from '../auth/roles.ts'
import { ApiError } from '../http/errors.ts'
import { requestIdOf, startedAt } from '../http/request-meta.ts'
import type { Services } from '../services.ts'
import type { UserRow } from '../users/service.ts'
import { ChatBody, ChatbotSchema, ChatResponseSchema, CreateChatbotBody, UpdateChatbotBody } from './model.ts'
import { presentChatbot, type ChatbotActor } from './service.ts'
import { DEFAULT_TEMPLATES } from './templates.ts'

const IdParams = t.Object({ id: t.String({ format: 'uuid' }) })
const ConversationParams = t.Object({ id: t.String({ format: 'uuid' }), cid: t.String({ format: 'uuid' }) })
const userActor = (user: UserRow): ChatbotActor => ({ userId: user.id, isAdmin: can(user.role, 'chatbots:admin') })

/**
 * Chatbots on the internal API (builder, test chat, conversations) and the external chat API for API keys with the
 * `chatbots` scope (a key may be narrowed to some chatbots, and reaches only its owner's).
 */
export function chatbotRoutes(s: Services) {
  const { chatbots } = s
  const audit = (user: UserRow, action: string, id: string, meta: Parameters<typeof s.audit.record>[1]) =>
    s.audit.record({ action, outcome: 'success', actor: { userId: user.id, label: user.email }, resource: { type: 'chatbot', id } }, meta)

  const internal = new Elysia({ prefix: '/api-internal/v1', tags: ['chatbots'] })
    .use(guards(s.guardDeps))
    .get('/chatbots', async ({ user }) => ({ data: (await chatbots.list(userActor(user))).map(presentChatbot) }), {
      permission: 'chatbots:use',
      response: t.Object({ data: t.Array(ChatbotSchema) }),
      detail: { summary: 'Your chatbots (admins: all)' },
    })
    .get('/chatbots/templates', () => ({ data: DEFAULT_TEMPLATES }), {
      permission: 'chatbots:use',
      detail: { summary: 'The default system prompt of each chatbot type' },
    })
    .post(
      '/chatbots',
      async ({ user, body, meta, set }) => {
        const row = await chatbots.create(userActor(user), body)
        await audit(user, 'chatbot.create', row.id, meta)
        set.status = 201
        return presentChatbot(row)
      },
      { permission: 'chatbots:use', body: CreateChatbotBody, response: { 201: ChatbotSchema }, detail: { summary: 'Create a chatbot' } },
    )
    .get('/chatbots/:id', async ({ user, params }) => presentChatbot(await chatbots.get(userActor(user), params.id)), {
      permission: 'chatbots:use',
      params: IdParams,
      response: ChatbotSchema,
      detail: { summary: 'One chatbot' },
    })
    .patch(
      '/chatbots/:id',
      async ({ user, params, body, meta }) => {
        const row = await chatbots.update(userActor(user), params.id, body)
        await audit(user, 'chatbot.update', row.id, meta)
        return presentChatbot(row)
      },
      { permission: 'chatbots:use', params: IdParams, body: UpdateChatbotBody, response: ChatbotSchema, detail: { summary: 'Change a chatbot' } },
    )
    .delete(
      '/chatbots/:id',
      async ({ user, params, meta, set }) => {
        await chatbots.delete(userActor(user), params.id)
        await audit(user, 'chatbot.delete', params.id, meta)
        set.status = 204
      },
      { permission: 'chatbots:use', params: IdParams, detail: { summary: 'Delete a chatbot and its conversations' } },
    )
    .get(
      '/chatbots/:id/conversations',
      async ({ user, params }) => {
        const bot = await chatbots.get(userActor(user), params.id)
        // The chatbot's owner (or an admin) sees every conversation with it.
        return { data: await chatbots.conversations(bot, null) }
      },
      { permission: 'chatbots:use', params: IdParams, detail: { summary: "The chatbot's conversations, newest first" } },
    )
    .get(
      '/chatbots/:id/conversations/:cid',
      async ({ user, params }) => ({ data: await chatbots.messages(await chatbots.get(userActor(user), params.id), params.cid) }),
      { permission: 'chatbots:use', params: ConversationParams, detail: { summary: 'A conversation with its messages and sources' } },
    )
    .delete(
      '/chatbots/:id/conversations/:cid',
      async ({ user, params, set }) => {
        const bot = await chatbots.get(userActor(user), params.id)
        await chatbots.messages(bot, params.cid)
        await s.sql`DELETE FROM chatbot_conversations WHERE id = ${params.cid}`
        set.status = 204
      },
      { permission: 'chatbots:use', params: ConversationParams, detail: { summary: 'Delete a conversation' } },
    )
    .post(
      '/chatbot/:id/chat',
      async ({ user, params, body, request }) =>
        chatbots.chat(
          await chatbots.get(userActor(user), params.id),
          body,
          { source: 'chatbot', userId: user.id, apiKey: null, requestId: requestIdOf(request), startedAt: startedAt(request) },
          { userId: user.id, apiKeyId: null, source: 'internal' },
          request.signal,
        ),
      { permission: 'chatbots:use', params: IdParams, body: ChatBody, response: ChatResponseSchema, detail: { summary: 'Test chat, charged to you' } },
    )

  const external = new Elysia({ prefix: '/api/v1', tags: ['public chatbots'] })
    .use(guards(s.guardDeps))
    .post(
      '/chatbot/:id/chat',
      async ({ apiKey, params, body, request }) => {
        const bot = await chatbots
          .get({ userId: apiKey.user_id, isAdmin: false, allowedChatbots: apiKey.allowed_chatbots }, params.id)
          .catch(() => {
            throw new ApiError('not_found', `Chatbot ${params.id} not found`)
          })
        return chatbots.chat(
          bot,
          body,
          { source: 'chatbot', userId: apiKey.user_id, apiKey, requestId: requestIdOf(request), startedAt: startedAt(request) },
          { userId: apiKey.user_id, apiKeyId: apiKey.id, source: 'api' },
          request.signal,
        )
      },
      {
        apiKey: 'chatbots',
        params: IdParams,
        body: ChatBody,
        response: ChatResponseSchema,
        detail: { summary: 'Talk to a chatbot: {message, conversation_id?} -> {response, conversation_id, sources}' },
      },
    )

  return new Elysia().use(internal).use(external)
}
