import { Elysia, t } from 'elysia'
import { guards } from '../auth/guards.ts'
import { verifyPassword } from '../auth/passwords.ts'
import { ApiError } from '../http/errors.ts'
import type { RequestMeta } from '../http/request-meta.ts'
import type { Services } from '../services.ts'
import type { UserRow } from '../users/service.ts'

const Counts = t.Record(t.String(), t.Number())
const RetentionStatus = t.Object({
  periods: t.Object({
    audit_days: t.Nullable(t.Integer()),
    usage_days: t.Nullable(t.Integer()),
    plugin_logs_days: t.Integer(),
    conversations_days: t.Nullable(t.Integer()),
    responses_days: t.Nullable(t.Integer()),
  }),
  running: t.Boolean(),
  last_started_at: t.Nullable(t.Date()),
  last_finished_at: t.Nullable(t.Date()),
  next_run_after: t.Nullable(t.Date()),
  last_result: t.Nullable(t.Object({ started_at: t.String(), finished_at: t.String(), deleted: Counts, cutoffs: t.Record(t.String(), t.Nullable(t.String())) })),
})

const DeleteAccountBody = t.Object(
  {
    password: t.String({ minLength: 1, maxLength: 256 }),
    /** Typed by the person: "delete my account". */
    confirm: t.String({ maxLength: 100 }),
  },
  { additionalProperties: false },
)
export const DELETE_CONFIRMATION = 'delete my account'

/**
 * Retention (`/api-internal/v1/retention`, settings:manage) and data rights: your own export and account deletion
 * (`/api-internal/v1/account/export`, `POST /api-internal/v1/account/delete`), and an administrator's export of a
 * user they manage (`/users/{id}/export`; deletion is DELETE /users/{id}, which erases everything the user owns).
 */
export function retentionRoutes(s: Services) {
  const exportResponse = async (target: UserRow, actor: UserRow, meta: RequestMeta) => {
    await s.audit.record(
      { action: 'user.data_export', outcome: 'success', actor: { userId: actor.id, label: actor.email }, resource: { type: 'user', id: target.id }, details: { self: actor.id === target.id } },
      meta,
    )
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    return new Response(s.dataRights.export(target.id), {
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'content-disposition': `attachment; filename="enclava-export-${target.username}-${stamp}.json"`,
        'cache-control': 'no-store',
      },
    })
  }

  return new Elysia({ tags: ['retention'] })
    .use(guards(s.guardDeps))
    .get('/api-internal/v1/retention', () => s.retention.status(), {
      permission: 'settings:manage',
      response: RetentionStatus,
      detail: { summary: 'The retention periods in force, and the last scheduled deletion with what it deleted' },
    })
    .post(
      '/api-internal/v1/retention/run',
      async ({ user, meta }) => {
        await s.audit.record({ action: 'retention.run_requested', outcome: 'success', actor: { userId: user.id, label: user.email } }, meta)
        await s.retention.run({ force: true })
        return s.retention.status()
      },
      { permission: 'settings:manage', response: RetentionStatus, detail: { summary: 'Run the scheduled deletion now (one replica at a time: 409 while one runs)' } },
    )
    .get('/api-internal/v1/account/export', ({ user, meta }) => exportResponse(user, user, meta), {
      permission: 'profile:read',
      detail: { summary: 'Everything you own, as one JSON document (streamed; documents included, decrypted)' },
    })
    .post(
      '/api-internal/v1/account/delete',
      async ({ user, body, meta, set }) => {
        if (body.confirm.trim().toLowerCase() !== DELETE_CONFIRMATION)
          throw new ApiError('validation_failed', `confirm: type "${DELETE_CONFIRMATION}" to delete your account and everything you own`, 'confirm')
        if (!(await verifyPassword(body.password, user.password_hash))) throw new ApiError('invalid_credentials', 'The password is wrong', 'password')
        if (user.role === 'super_admin') {
          const [others] = await s.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE role = 'super_admin' AND is_active AND id <> ${user.id}`
          if ((others?.n ?? 0) === 0) throw new ApiError('conflict', 'You are the only active super_admin: make someone else super_admin first')
        }
        await s.dataRights.erase(user.id)
        await s.users.delete(user.id)
        await s.verifier.invalidate(`user:${user.id}`)
        await s.audit.record(
          { action: 'account.delete', outcome: 'success', actor: { userId: user.id, label: user.email }, resource: { type: 'user', id: user.id } },
          meta,
        )
        set.status = 204
      },
      {
        permission: 'profile:read',
        body: DeleteAccountBody,
        detail: { summary: 'Delete your account and everything you own (your password, and confirm: "delete my account")' },
      },
    )
    .get(
      '/api-internal/v1/users/:id/export',
      async ({ user, params, meta }) => {
        const target = await s.userAdmin.get(params.id)
        if (!s.roles.canManage(user, target) && user.id !== target.id)
          throw new ApiError('permission_denied', `Your role cannot manage a ${target.role}, so it cannot export their data`)
        return exportResponse(target, user, meta)
      },
      {
        permission: 'users:manage',
        params: t.Object({ id: t.String({ format: 'uuid' }) }),
        detail: { summary: "A user's data export (a user you manage)" },
      },
    )
}
