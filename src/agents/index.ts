import { Elysia, t } from 'elysia'
import { changes } from '../audit/changes.ts'
import { auditFor } from '../audit/service.ts'
import type { VerifiedKey } from '../api-keys/verifier.ts'
import { guards } from '../auth/guards.ts'
import { holds } from '../auth/roles.ts'
import { streamEvents } from '../http/event-stream.ts'
import { requestIdOf, startedAt } from '../http/request-meta.ts'
import type { Caller } from '../gateway/service.ts'
import type { Services } from '../services.ts'
import type { UserRow } from '../users/service.ts'
import { AgentSchema, CreateAgentBody, RunBody, RunSchema, UpdateAgentBody, type RunInput } from './model.ts'
import type { RunEvent } from './runner.ts'
import { presentAgent, presentRun, type AgentActor, type AgentRow } from './service.ts'
import { agentChatCompletions } from './openai.ts'

const IdParams = t.Object({ id: t.String({ format: 'uuid' }) })
const RunParams = t.Object({ id: t.String({ format: 'uuid' }), runId: t.String({ format: 'uuid' }) })

const userActor = (user: UserRow): AgentActor => ({ userId: user.id, isAdmin: holds(user, 'agents:admin') })
const keyActor = (key: VerifiedKey): AgentActor => ({ userId: key.user_id, isAdmin: false })
const caller = (request: Request, userId: string, apiKey: VerifiedKey | null): Caller => ({
  source: 'agent',
  userId,
  apiKey,
  requestId: requestIdOf(request),
  startedAt: startedAt(request),
})

/**
 * Agents: owner-scoped CRUD and runs on the internal API (the dashboard's builder and test runs), runs with an API
 * key (scope `agents`) on the public one, and an OpenAI-compatible base URL per agent for the official clients.
 */
export function agentRoutes(s: Services) {
  const { agents, agentRunner } = s
  const audit = auditFor(s.audit, 'agent')

  /** A run, answered whole or as server-sent events (step, tool_call, tool_result, delta, done). */
  async function run(request: Request, agent: AgentRow, body: RunInput, who: Caller) {
    if (!body.stream) return presentRun(await agentRunner.run(agent, body.input, who, { conversationId: body.conversation_id, signal: request.signal }))
    return streamEvents(request, s.log, async (send) => {
      await agentRunner.run(agent, body.input, who, {
        conversationId: body.conversation_id,
        signal: request.signal,
        emit: (e: RunEvent) => send(e.event, e.event === 'done' ? { run: presentRun(e.data.run) } : e.data),
      })
    })
  }

  /**
   * What an agent names must be usable by its owner now: a tool grant they lack, a model they may not use (or, for a
   * confidential-only agent, one outside a TEE) is refused when the agent is saved, not in its first run.
   */
  async function checkAgent(ownerId: string, a: { name: string; model: string; tools: AgentRow['tools']; confidential_only: boolean }) {
    const who = caller(new Request('http://agent/'), ownerId, null)
    if (a.confidential_only) who.confidentialOnly = `the agent "${a.name}"`
    await s.tools.resolve(a.tools, who)
    await s.gateway.model(who, a.model)
  }

  const internal = new Elysia({ prefix: '/api-internal/v1/agents', tags: ['agents'] })
    .use(guards(s.guardDeps))
    .get('/', async ({ user }) => ({ data: (await agents.list(userActor(user))).map(presentAgent) }), {
      permission: 'agents:use',
      response: t.Object({ data: t.Array(AgentSchema) }),
      detail: { summary: 'Your agents (admins: everyone\'s)' },
    })
    .post(
      '/',
      async ({ user, body, set, meta }) => {
        await checkAgent(user.id, { name: body.name, model: body.model, tools: body.tools ?? [], confidential_only: body.confidential_only ?? false })
        const row = await agents.create(user.id, body)
        await audit(user, 'agent.create', row.id, meta, { name: row.name, model: row.model, tools: row.tools.map((t) => t.type) })
        set.status = 201
        return presentAgent(row)
      },
      { permission: 'agents:use', body: CreateAgentBody, response: { 201: AgentSchema }, detail: { summary: 'Create an agent: a model, instructions and tools' } },
    )
    .get('/:id', async ({ user, params }) => presentAgent(await agents.get(userActor(user), params.id)), {
      permission: 'agents:use',
      params: IdParams,
      response: AgentSchema,
      detail: { summary: 'One agent' },
    })
    .patch(
      '/:id',
      async ({ user, params, body, meta }) => {
        const current = await agents.get(userActor(user), params.id)
        if (body.tools || body.model || body.confidential_only)
          await checkAgent(current.owner_id, {
            name: body.name ?? current.name,
            model: body.model ?? current.model,
            tools: body.tools ?? [],
            confidential_only: body.confidential_only ?? current.confidential_only,
          })
        const row = presentAgent(await agents.update(userActor(user), params.id, body))
        const fields = Object.keys(body)
        await audit(user, 'agent.update', row.id, meta, { fields, changes: changes(presentAgent(current), row, fields) })
        return row
      },
      { permission: 'agents:use', params: IdParams, body: UpdateAgentBody, response: AgentSchema, detail: { summary: 'Change an agent' } },
    )
    .delete(
      '/:id',
      async ({ user, params, set, meta }) => {
        await agents.delete(userActor(user), params.id)
        await audit(user, 'agent.delete', params.id, meta)
        set.status = 204
      },
      { permission: 'agents:use', params: IdParams, detail: { summary: 'Delete an agent and its runs' } },
    )
    .post('/:id/runs', async ({ user, params, body, request }) => run(request, await agents.get(userActor(user), params.id), body, caller(request, user.id, null)), {
      permission: 'agents:use',
      params: IdParams,
      body: RunBody,
      detail: { summary: 'Run the agent (a test run from the dashboard), charged to you; `stream: true` for server-sent events' },
    })
    .get('/:id/runs', async ({ user, params }) => ({ data: (await agents.runs(userActor(user), params.id)).map(presentRun) }), {
      permission: 'agents:use',
      params: IdParams,
      response: t.Object({ data: t.Array(RunSchema) }),
      detail: { summary: "The agent's latest runs with their steps" },
    })
    .get('/:id/runs/:runId', async ({ user, params }) => presentRun(await agents.run(userActor(user), params.id, params.runId)), {
      permission: 'agents:use',
      params: RunParams,
      response: RunSchema,
      detail: { summary: 'One run' },
    })

  const publicApi = new Elysia({ prefix: '/api/v1/agents', tags: ['agents'] })
    .use(guards(s.guardDeps))
    .post('/:id/runs', async ({ apiKey, params, body, request }) => run(request, await agents.get(keyActor(apiKey), params.id), body, caller(request, apiKey.user_id, apiKey)), {
      apiKey: 'agents',
      params: IdParams,
      body: RunBody,
      detail: { summary: "Run one of the key owner's agents; `stream: true` for server-sent events" },
    })
    .get('/:id/runs/:runId', async ({ apiKey, params }) => presentRun(await agents.run(keyActor(apiKey), params.id, params.runId)), {
      apiKey: 'agents',
      params: RunParams,
      response: RunSchema,
      detail: { summary: 'One run' },
    })

  return new Elysia().use(internal).use(publicApi).use(agentChatCompletions(s))
}
