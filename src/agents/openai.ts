import { Elysia, t } from 'elysia'
import type { VerifiedKey } from '../api-keys/verifier.ts'
import { guards } from '../auth/guards.ts'
import { ApiError, errorBody } from '../http/errors.ts'
import { requestIdOf, startedAt } from '../http/request-meta.ts'
import type { Services } from '../services.ts'
import type { RunRow } from './service.ts'

const Message = t.Object(
  {
    role: t.Union([t.Literal('system'), t.Literal('developer'), t.Literal('user'), t.Literal('assistant'), t.Literal('tool')]),
    content: t.Optional(t.Nullable(t.Union([t.String({ maxLength: 100_000 }), t.Array(t.Object({ type: t.String(), text: t.Optional(t.String()) }, { additionalProperties: true }), { maxItems: 64 })]))),
  },
  { additionalProperties: true },
)
const ChatBody = t.Object(
  {
    model: t.Optional(t.String({ maxLength: 256 })),
    messages: t.Array(Message, { minItems: 1, maxItems: 512 }),
    stream: t.Optional(t.Nullable(t.Boolean())),
    stream_options: t.Optional(t.Nullable(t.Object({ include_usage: t.Optional(t.Boolean()) }, { additionalProperties: true }))),
  },
  { additionalProperties: true },
)

const text = (content: unknown): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.map((p: { text?: string }) => p.text ?? '').join('') : ''

/** finish_reason for a run's end: the model answered, or the run was stopped before it did. */
const finishReason = (run: RunRow) => (run.status === 'completed' ? 'stop' : 'length')

/**
 * An OpenAI-compatible base URL per agent, `/api/v1/agents/{id}/v1`, so the official clients can talk to an agent:
 * `chat/completions` runs it (the last user message is the input, earlier user and assistant messages the
 * history; the agent's own tools run server-side and are not shown) and answers with its final text.
 */
export function agentChatCompletions(s: Services) {
  const { agents, agentRunner } = s
  return new Elysia({ prefix: '/api/v1/agents/:id/v1', tags: ['agents'] })
    .use(guards(s.guardDeps))
    .get(
      '/models',
      async ({ apiKey, params }) => {
        const agent = await agents.get({ userId: apiKey.user_id, isAdmin: false }, params.id)
        return { object: 'list' as const, data: [{ id: agent.name, object: 'model' as const, created: Math.floor(agent.created_at.getTime() / 1000), owned_by: 'enclava-agent' }] }
      },
      { apiKey: 'agents', params: t.Object({ id: t.String({ format: 'uuid' }) }), detail: { summary: 'The agent, as the one model of this base URL' } },
    )
    .post(
      '/chat/completions',
      async ({ apiKey, params, body, request }) => {
        const agent = await agents.get({ userId: apiKey.user_id, isAdmin: false }, params.id)
        const messages = body.messages.filter((m) => m.role === 'user' || m.role === 'assistant' || m.role === 'system' || m.role === 'developer')
        const last = messages.at(-1)
        if (!last || last.role !== 'user') throw new ApiError('validation_failed', 'The last message must be the user\'s', 'messages')
        const history = messages.slice(0, -1).map((m) => ({ role: (m.role === 'developer' ? 'system' : m.role) as 'system' | 'user' | 'assistant', content: text(m.content) }))
        const who = { source: 'agent' as const, userId: apiKey.user_id, apiKey: apiKey as VerifiedKey, requestId: requestIdOf(request), startedAt: startedAt(request) }
        const id = `chatcmpl-${crypto.randomUUID().replaceAll('-', '')}`
        const created = Math.floor(Date.now() / 1000)
        const usageOf = (run: RunRow) => ({ prompt_tokens: run.prompt_tokens, completion_tokens: run.completion_tokens, total_tokens: run.prompt_tokens + run.completion_tokens })
        if (!body.stream) {
          const run = await agentRunner.run(agent, text(last.content), who, { history, signal: request.signal })
          if (run.status === 'budget_exceeded') throw new ApiError('budget_exceeded', run.error ?? 'A budget does not cover this run')
          if (run.status === 'error') throw new ApiError('upstream_error', run.error ?? 'The run failed')
          return {
            id,
            object: 'chat.completion' as const,
            created,
            model: agent.name,
            choices: [{ index: 0, message: { role: 'assistant' as const, content: run.output ?? '' }, finish_reason: finishReason(run) }],
            usage: usageOf(run),
            run_id: run.id,
          }
        }
        const encoder = new TextEncoder()
        const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
          `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: agent.name, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
        const stream = new ReadableStream<Uint8Array>({
          async start(controller) {
            const write = (line: string) => {
              try {
                controller.enqueue(encoder.encode(line))
              } catch {}
            }
            write(chunk({ role: 'assistant', content: '' }))
            try {
              const run = await agentRunner.run(agent, text(last.content), who, {
                history,
                signal: request.signal,
                emit: (e) => {
                  if (e.event === 'delta') write(chunk({ content: e.data.content }))
                },
              })
              if (run.status === 'budget_exceeded' || run.status === 'error') {
                const code = run.status === 'budget_exceeded' ? 'budget_exceeded' : 'upstream_error'
                write(`data: ${JSON.stringify(errorBody(run.status === 'budget_exceeded' ? 402 : 502, code, run.error ?? 'The run failed', requestIdOf(request)))}\n\n`)
              } else {
                write(chunk({}, finishReason(run)))
                if (body.stream_options?.include_usage)
                  write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: agent.name, choices: [], usage: usageOf(run) })}\n\n`)
                write('data: [DONE]\n\n')
              }
            } catch (err) {
              const e = err instanceof ApiError ? err : new ApiError('internal_error', 'The run failed')
              write(`data: ${JSON.stringify(errorBody(e.status, e.code, e.message, requestIdOf(request)))}\n\n`)
            } finally {
              try {
                controller.close()
              } catch {}
            }
          },
        })
        return new Response(stream, { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' } })
      },
      { apiKey: 'agents', params: t.Object({ id: t.String({ format: 'uuid' }) }), body: ChatBody, detail: { summary: 'Chat with the agent (OpenAI-compatible; streaming too)' } },
    )
}
