import { Elysia, t } from 'elysia'
import { auditFor } from '../audit/service.ts'
import { guards } from '../auth/guards.ts'
import { holds } from '../auth/roles.ts'
import { ApiError } from '../http/errors.ts'
import type { Services } from '../services.ts'
import type { UserRow } from '../users/service.ts'
import { BudgetSchema, CreateBudgetBody, presentBudget, UpdateBudgetBody } from './model.ts'
import type { BudgetRow } from './service.ts'
import { changes } from '../audit/changes.ts'

const IdParams = t.Object({ id: t.String({ format: 'uuid' }) })

/**
 * Budgets on the internal API. Holders of budgets:manage (admins) manage all of them; everyone else sees the
 * budgets that concern them and manages budgets on their own API keys only.
 */
export function budgetRoutes(s: Services) {
  const isAdmin = (user: UserRow) => holds(user, 'budgets:manage')

  /** Throws 404 for a budget the user may not touch, so ids cannot be probed. */
  async function manageable(user: UserRow, budget: { scope: string; api_key_id?: string | null | undefined }): Promise<void> {
    if (isAdmin(user)) return
    if (budget.scope !== 'api_key' || !budget.api_key_id)
      throw new ApiError('permission_denied', 'Only administrators manage global and user budgets')
    await s.apiKeys.get(budget.api_key_id, { userId: user.id, isAdmin: false })
  }

  async function load(user: UserRow, id: string): Promise<BudgetRow> {
    const budget = await s.budgets.get(id)
    const visible = budget && (isAdmin(user) || (await s.budgets.list(user.id)).some((b) => b.id === id))
    if (!budget || !visible) throw new ApiError('not_found', `Budget ${id} not found`)
    return budget
  }

  const audit = auditFor(s.audit, 'budget')

  return new Elysia({ prefix: '/api-internal/v1/budgets', tags: ['budgets'] })
    .use(guards(s.guardDeps))
    .get('/', async ({ user }) => ({ data: (await s.budgets.list(isAdmin(user) ? null : user.id)).map(presentBudget) }), {
      permission: 'api_keys:read',
      response: t.Object({ data: t.Array(BudgetSchema) }),
      detail: { summary: 'Budgets (admins: all; others: those that concern them)' },
    })
    .post(
      '/',
      async ({ user, body, meta, set }) => {
        await manageable(user, body)
        const row = await s.budgets.create(body, user.id)
        await audit(user, 'budget.create', row.id, meta, { scope: row.scope, limit_usd: body.limit_usd, period: row.period })
        set.status = 201
        return presentBudget(row)
      },
      { permission: 'api_keys:write', body: CreateBudgetBody, response: { 201: BudgetSchema }, detail: { summary: 'Create a budget' } },
    )
    .get('/:id', async ({ user, params }) => presentBudget(await load(user, params.id)), {
      permission: 'api_keys:read',
      params: IdParams,
      response: BudgetSchema,
      detail: { summary: 'One budget with spent, reserved and remaining' },
    })
    .patch(
      '/:id',
      async ({ user, params, body, meta }) => {
        const before = await load(user, params.id)
        await manageable(user, before)
        const row = await s.budgets.update(params.id, body)
        if (!row) throw new ApiError('not_found', `Budget ${params.id} not found`)
        await audit(user, 'budget.update', row.id, meta, {
          fields: Object.keys(body),
          changes: changes(presentBudget(before), presentBudget(row), Object.keys(body)),
        })
        return presentBudget(row)
      },
      { permission: 'api_keys:write', params: IdParams, body: UpdateBudgetBody, response: BudgetSchema, detail: { summary: 'Change a budget' } },
    )
    .delete(
      '/:id',
      async ({ user, params, meta, set }) => {
        await manageable(user, await load(user, params.id))
        await s.budgets.delete(params.id)
        await audit(user, 'budget.delete', params.id, meta)
        set.status = 204
      },
      { permission: 'api_keys:write', params: IdParams, detail: { summary: 'Delete a budget' } },
    )
}
