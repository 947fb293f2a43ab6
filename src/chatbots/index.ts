import { Elysia, t } from 'elysia'
import { auditFor } from '../audit/service.ts'
import { guards } from '../auth/guards.ts'
import { holds } from '../auth/roles.ts'
import { ApiError } from '../http/errors.ts'
import { requestIdOf, startedAt } from '../http/request-meta.ts'
import type { Services } from '../services.ts'
import type { UserRow } from '../users/service.ts'
import { ChatCompletionBody } from '../gateway/model.ts'
import type { VerifiedKey } from '../api-keys/verifier.ts'
import { ChatBody, ChatbotSchema, ChatbotTypeSchema, ChatResponseSchema, CreateChatbotBody, InternalChatBody, UpdateChatbotBody, type ChatResponse } from './model.ts'
import { presentChatbot, type ChatbotActor, type ChatMessage, type ChatbotRow } from './service.ts'
import { DEFAULT_TEMPLATES, presentTemplate } from './templates.ts'
import { streamEvents } from '../http/event-stream.ts'
import { changes } from '../audit/changes.ts'

const IdParams = t.Object({ id: t.String({ format: 'uuid' }) })
const ConversationParams = t.Object({ id: t.String({ format: 'uuid' }), cid: t.String({ format: 'uuid' }) })
const userActor = (user: UserRow): ChatbotActor => ({ userId: user.id, isAdmin: holds(user, 'chatbots:admin') })
const ConversationHeader = t.Object({
  'x-enclava-conversation-id': t.Optional(t.String({ format: 'uuid', description: 'Continue this conversation (from an earlier answer)' })),
})
/**
 * Text with U+0000 is a 400 before a handler stores or spends anything (src/http/text.ts). Redundant once
 * httpBasics runs the same check for every route.
 */

/**
 * Chatbots on the internal API (builder, test chat, conversations) and the external chat API for API keys with the
 * `chatbots` scope (a key may be narrowed to some chatbots, and reaches only its owner's).
 */
export function chatbotRoutes(s: Services) {
  const { chatbots } = s
  const { templates } = chatbots
  const audit = auditFor(s.audit, 'chatbot')

  const internal = new Elysia({ prefix: '/api-internal/v1', tags: ['chatbots'] })
    .use(guards(s.guardDeps))
    .get('/chatbots', async ({ user }) => ({ data: (await chatbots.list(userActor(user))).map(presentChatbot) }), {
      permission: 'chatbots:use',
      response: t.Object({ data: t.Array(ChatbotSchema) }),
      detail: { summary: 'Your chatbots (admins: all)' },
    })
    .get(
      '/chatbots/templates',
      async ({ user }) => ({ defaults: await templates.defaults(), custom: (await templates.list(user.id)).map(presentTemplate) }),
      { permission: 'chatbots:use', detail: { summary: "Each type's default system prompt, and your own templates" } },
    )
    .put(
      '/chatbots/templates/defaults/:type',
      async ({ user, params, body, meta }) => {
        await templates.setDefault(params.type, body.content)
        await audit(user, 'chatbot.template.default', params.type, meta)
        return { type: params.type, content: body.content, builtin: false }
      },
      {
        permission: 'chatbots:admin',
        params: t.Object({ type: ChatbotTypeSchema }),
        body: t.Object({ content: t.String({ minLength: 1, maxLength: 20_000 }) }, { additionalProperties: false }),
        detail: { summary: "Replace a type's default template (administrators)" },
      },
    )
    .delete(
      '/chatbots/templates/defaults/:type',
      async ({ user, params, meta }) => {
        await templates.resetDefault(params.type)
        await audit(user, 'chatbot.template.reset', params.type, meta)
        return { type: params.type, content: DEFAULT_TEMPLATES[params.type], builtin: true }
      },
      { permission: 'chatbots:admin', params: t.Object({ type: ChatbotTypeSchema }), detail: { summary: "Reset a type's default to the built-in one" } },
    )
    .post(
      '/chatbots/templates',
      async ({ user, body, set }) => {
        set.status = 201
        return presentTemplate(await templates.create(user.id, body))
      },
      {
        permission: 'chatbots:use',
        body: t.Object(
          { name: t.String({ minLength: 1, maxLength: 200 }), content: t.String({ minLength: 1, maxLength: 20_000 }), type: t.Optional(ChatbotTypeSchema) },
          { additionalProperties: false },
        ),
        detail: { summary: 'Save a template of your own' },
      },
    )
    .post(
      '/chatbots/templates/improve',
      async ({ user, body, request }) => {
        const res = await s.gateway.chat(
          { source: 'playground', userId: user.id, apiKey: null, requestId: requestIdOf(request), startedAt: startedAt(request) },
          {
            model: body.model,
            temperature: 0.3,
            max_tokens: 2000,
            messages: [
              {
                role: 'system',
                content:
                  'You improve system prompts for chatbots. Keep the intent and every {{placeholder}} unchanged; make the prompt clear, ' +
                  'specific and well structured. Answer with the improved prompt only.',
              },
              { role: 'user', content: `${body.goal ? `Goal: ${body.goal}\n\n` : ''}Prompt to improve:\n${body.prompt}` },
            ],
          } as never,
          request.signal,
        )
        const json = (await res.json()) as { choices?: { message?: { content?: string | null } }[] }
        return { improved: json.choices?.[0]?.message?.content?.trim() ?? '' }
      },
      {
        permission: 'llm:use',
        body: t.Object(
          { prompt: t.String({ minLength: 1, maxLength: 20_000 }), model: t.String({ minLength: 1, maxLength: 200 }), goal: t.Optional(t.String({ maxLength: 2000 })) },
          { additionalProperties: false },
        ),
        detail: { summary: 'Ask a model to improve a prompt (charged to you)' },
      },
    )
    .get('/chatbots/templates/:tid', async ({ user, params }) => presentTemplate(await templates.get(user.id, params.tid)), {
      permission: 'chatbots:use',
      params: t.Object({ tid: t.String({ format: 'uuid' }) }),
      detail: { summary: 'One of your templates' },
    })
    .patch(
      '/chatbots/templates/:tid',
      async ({ user, params, body }) => presentTemplate(await templates.update(user.id, params.tid, body)),
      {
        permission: 'chatbots:use',
        params: t.Object({ tid: t.String({ format: 'uuid' }) }),
        body: t.Object(
          { name: t.Optional(t.String({ minLength: 1, maxLength: 200 })), content: t.Optional(t.String({ minLength: 1, maxLength: 20_000 })) },
          { additionalProperties: false, minProperties: 1 },
        ),
        detail: { summary: 'Change one of your templates' },
      },
    )
    .delete(
      '/chatbots/templates/:tid',
      async ({ user, params, set }) => {
        await templates.delete(user.id, params.tid)
        set.status = 204
      },
      { permission: 'chatbots:use', params: t.Object({ tid: t.String({ format: 'uuid' }) }), detail: { summary: 'Delete one of your templates' } },
    )
    .post(
      '/chatbots',
      async ({ user, body, meta, set }) => {
        const model = body.model ?? s.settings.current.default_chatbot_model
        if (!model) throw new ApiError('validation_failed', 'model: required (the platform has no default chatbot model)', 'model')
        const row = await chatbots.create(userActor(user), { ...body, model })
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
        const before = presentChatbot(await chatbots.get(userActor(user), params.id))
        const row = await chatbots.update(userActor(user), params.id, body)
        const fields = Object.keys(body)
        await audit(user, 'chatbot.update', row.id, meta, { fields, changes: changes(before, presentChatbot(row), fields) })
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
        await chatbots.deleteConversation(await chatbots.get(userActor(user), params.id), params.cid)
        set.status = 204
      },
      { permission: 'chatbots:use', params: ConversationParams, detail: { summary: 'Delete a conversation' } },
    )
    .post(
      '/chatbot/:id/chat',
      async ({ user, params, body, request }) => {
        const bot = await chatbots.get(userActor(user), params.id)
        const caller = { source: 'chatbot' as const, userId: user.id, apiKey: null, requestId: requestIdOf(request), startedAt: startedAt(request) }
        const speaker = { userId: user.id, apiKeyId: null, source: 'internal' as const }
        const { stream, ...input } = body
        if (!stream) return chatbots.chat(bot, input, caller, speaker, request.signal)
        // Events: start {conversation_id, sources}, delta {content}..., done {the whole turn} or error {error}.
        return streamEvents(request, s.log, async (send) => {
          const done = await chatbots.chatStream(bot, input, caller, speaker, request.signal, {
            onStart: (t) => send('start', { conversation_id: t.conversationId, sources: t.sources }),
            onDelta: (content) => send('delta', { content }),
          })
          send('done', done)
        })
      },
      {
        permission: 'chatbots:use',
        params: IdParams,
        body: InternalChatBody,
        detail: { summary: 'Test chat, charged to you; `stream: true` for server-sent events (start, delta, done)' },
      },
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

  const keyBot = (apiKey: VerifiedKey, id: string) =>
    chatbots.get({ userId: apiKey.user_id, isAdmin: false, allowedChatbots: apiKey.allowed_chatbots }, id)

  /**
   * The chatbot as an OpenAI-compatible endpoint: base URL `/api/v1/chatbot/{id}/v1` for the official clients. The
   * request's messages are the history (the chatbot's own system prompt and retrieval apply; system messages sent by
   * the client are ignored); each exchange is kept in a conversation, continued with `X-Enclava-Conversation-Id`.
   */
  const openaiStyle = new Elysia({ prefix: '/api/v1/chatbot/:id/v1', tags: ['public chatbots'] })
    .use(guards(s.guardDeps))
    .get(
      '/models',
      async ({ apiKey, params }) => {
        const bot = await keyBot(apiKey, params.id)
        return { object: 'list' as const, data: [{ id: bot.id, object: 'model' as const, created: Math.floor(bot.created_at.getTime() / 1000), owned_by: 'enclava' }] }
      },
      { apiKey: 'chatbots', params: IdParams, detail: { summary: 'The chatbot as the one model of this base URL' } },
    )
    .post(
      '/chat/completions',
      async ({ apiKey, params, body, headers, request, set }) => {
        const bot = await keyBot(apiKey, params.id)
        const turns = body.messages
          .filter((m) => m.role === 'user' || m.role === 'assistant')
          .map((m) => ({ role: m.role, content: typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => ('text' in p ? p.text : '')).join(' ') }))
        const last = turns.at(-1)
        if (!last || last.role !== 'user' || !last.content) throw new ApiError('invalid_request', 'The last message must be a user message with text', 'messages')
        const conversation = headers['x-enclava-conversation-id']
        const input = { message: last.content, ...(conversation ? { conversation_id: conversation } : {}) }
        const caller = { source: 'chatbot' as const, userId: apiKey.user_id, apiKey, requestId: requestIdOf(request), startedAt: startedAt(request) }
        const speaker = { userId: apiKey.user_id, apiKeyId: apiKey.id, source: 'api' as const }
        const history: ChatMessage[] = turns.slice(0, -1)
        const id = `chatcmpl-${crypto.randomUUID()}`
        const created = Math.floor(Date.now() / 1000)
        if (!body.stream) {
          const done = await chatbots.chat(bot, input, caller, speaker, request.signal, history)
          set.headers['x-enclava-conversation-id'] = done.conversation_id
          return completion(id, created, bot, done)
        }
        const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) => ({
          id,
          object: 'chat.completion.chunk',
          created,
          model: bot.id,
          choices: [{ index: 0, delta, finish_reason: finish }],
          ...extra,
        })
        return streamEvents(request, s.log, async (send) => {
          const done = await chatbots.chatStream(
            bot,
            input,
            caller,
            speaker,
            request.signal,
            {
              onStart: () => send(null, chunk({ role: 'assistant', content: '' }, null)),
              onDelta: (content) => send(null, chunk({ content }, null)),
            },
            history,
          )
          send(null, chunk({}, 'stop', { sources: done.sources, conversation_id: done.conversation_id }))
          if (body.stream_options?.include_usage && done.usage)
            send(null, { id, object: 'chat.completion.chunk', created, model: bot.id, choices: [], usage: { ...done.usage, total_tokens: done.usage.prompt_tokens + done.usage.completion_tokens } })
          send(null, '[DONE]')
        })
      },
      {
        apiKey: 'chatbots',
        params: IdParams,
        headers: ConversationHeader,
        body: ChatCompletionBody,
        detail: { summary: 'OpenAI-compatible chat with the chatbot (streaming too); the answer carries `sources`' },
      },
    )

  return new Elysia().use(internal).use(external).use(openaiStyle)
}

function completion(id: string, created: number, bot: ChatbotRow, done: ChatResponse) {
  const usage = done.usage ?? { prompt_tokens: 0, completion_tokens: 0 }
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model: bot.id,
    choices: [{ index: 0, message: { role: 'assistant' as const, content: done.response }, finish_reason: 'stop' as const }],
    usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
    sources: done.sources,
    citations: done.citations,
    conversation_id: done.conversation_id,
    // Which provider answered, and whether confidentially (null: the chatbot's fallback answer).
    served: done.served,
  }
}
